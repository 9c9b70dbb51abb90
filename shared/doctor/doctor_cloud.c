/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Readiness of a cloud instance, through the send engine's dry run (send.h), which never interrupts: AWS sends
 * SendDiagnosticInterrupt with DryRun=true (DryRunOperation proves the permission), GCP reads the instance (it
 * must be RUNNING) and asks testIamPermissions for compute.instances.sendDiagnosticInterrupt, OCI reads the
 * instance (RUNNING), OpenStack reads the server with microversion 2.17 (its status must allow
 * trigger_crash_dump, and the answer proves the microversion).
 *
 * Then, for AWS, the instance state and type (doctor_aws.c), for GCP Secure Boot (doctor_gcp.c). What cannot be
 * told without interrupting is reported as a warning with the way to check it by hand. */
#include <stdio.h>
#include <string.h>

#include "doctor/doctor-internal.h"

struct manual {
	const char *provider;
	const char *name;
	const char *message;
	const char *fix;
};

/* Checks the dry-run requests do not cover (yet): said, never silently skipped. */
static const struct manual manual[] = {
	{ "aws", "guest-config",
	  "inside the guest (kdump, crashkernel=, kernel.unknown_nmi_panic=1) cannot be checked through the EC2 API",
	  "check in the guest: sysctl kernel.unknown_nmi_panic is 1 and the kdump service is active" },
	{ "gcp", "guest-config",
	  "inside the guest (kdump, crashkernel=, kernel.unknown_nmi_panic=1) cannot be checked through the Compute API",
	  "check in the guest: sysctl kernel.unknown_nmi_panic is 1 and the kdump service is active" },
	{ "oci", "policy",
	  "the IAM policy can be proven only by a real interrupt: OCI has no dry run for instance actions",
	  "make sure a policy grants the caller's group 'manage instance-family' in the instance's compartment" },
	{ "oci", "guest-config",
	  "inside the guest (kdump, crashkernel=, kernel.unknown_nmi_panic=1) cannot be checked through the OCI API",
	  "check in the guest, or use a recent Oracle Linux image, which comes prepared" },
	{ "openstack", "policy",
	  "the policy os_compute_api:servers:trigger_crash_dump can be proven only by a real trigger: Nova has no dry "
	  "run", "make sure the cloud's policy lets this project's role trigger crash dumps (admin-or-owner by default)" },
	{ "openstack", "guest-config",
	  "inside the guest (kdump, crashkernel=, kernel.unknown_nmi_panic=1) cannot be checked through Nova",
	  "check in the guest: sysctl kernel.unknown_nmi_panic is 1 and the kdump service is active" },
};

static const char *dry_run_check_name(const char *provider)
{
	if (!strcmp(provider, "aws"))
		return "dry-run-interrupt";
	if (!strcmp(provider, "gcp"))
		return "instance-and-permission";
	if (!strcmp(provider, "openstack"))
		return "server-and-microversion";
	return "instance";
}

static const char *fix_for(const char *provider, enum dg_status s)
{
	switch (s) {
	case DG_DENIED:
		if (!strcmp(provider, "aws"))
			return "grant ec2:SendDiagnosticInterrupt on the instance to the identity diagint uses";
		if (!strcmp(provider, "gcp"))
			return "grant compute.instances.sendDiagnosticInterrupt (roles/compute.instanceAdmin.v1) to the "
			       "identity diagint uses";
		if (!strcmp(provider, "oci"))
			return "allow the caller's group to 'manage instance-family' and check ~/.oci/config";
		return "check the credentials (OS_* variables) and that the project may act on the server";
	case DG_NOTFOUND:
		return "check the target's name, region and project, and that the instance is running";
	case DG_UNAVAILABLE:
		return "check the network path to the API and try again";
	case DG_USAGE:
		return "fix the endpoint, CA or credentials configuration named above";
	default:
		return "see the message; run 'diagint send --dry-run' with the same target for details";
	}
}

int dg_doctor_cloud(const struct dg_target *t, const struct dg_doctor_opts *o, dg_doctor_fn fn, void *userdata,
		    struct dg_doctor_summary *ret, struct dg_error *err)
{
	struct dg_doctor_run run = { .target = t->text, .fn = fn, .userdata = userdata };
	struct dg_send_opts so = { .retries = -1 };
	struct dg_sender *s = NULL;
	struct dg_send_result res = { 0 };
	const char *prov = t->provider->name;
	int r;

	if (o->send)
		so = *o->send;
	so.dry_run = true; /* the whole point: nothing that interrupts ever leaves */
	r = dg_sender_new(&so, &s, err);
	if (r < 0) {
		dg_doctor_emit(&run, dry_run_check_name(prov), DG_DOCTOR_FAIL, fix_for(prov, err->status), "%s",
			       err->message);
		return dg_doctor_finish(&run, r, ret, err);
	}
	dg_sender_run(s, t, 1, &res);
	dg_sender_free(s);
	if (res.sent) {
		/* Cannot happen with dry_run; if it ever did, say so loudly rather than report readiness. */
		dg_doctor_emit(&run, "no-interrupt", DG_DOCTOR_FAIL, "report this as a bug",
			       "the send engine marked a request as an interrupt during a dry run");
		return dg_doctor_finish(&run, dg_error_set(err, DG_FAILED, "internal error: dry run sent"), ret, err);
	}
	if (res.status != DG_OK) {
		char msg[DG_ERROR_MSG_MAX + 160];
		snprintf(msg, sizeof(msg), "%s%s%s%s", res.message, res.request_id[0] ? " (request id " : "",
			 res.request_id, res.request_id[0] ? ")" : "");
		dg_doctor_emit(&run, dry_run_check_name(prov), DG_DOCTOR_FAIL, fix_for(prov, res.status), "%s", msg);
		/* A target that is there but not running is "not ready" (1); missing, denied or unreachable keep
		 * their own status. A state refusal reads "is STATE" in every provider's message. */
		r = res.status == DG_FAILED ? 0 : -(int)res.status;
		if (res.status == DG_NOTFOUND && strstr(res.message, " is ") && strstr(res.message, "dry run:"))
			r = 0;
		if (r < 0)
			dg_error_set(err, res.status, "%s", res.message);
	} else {
		dg_doctor_emit(&run, dry_run_check_name(prov), DG_DOCTOR_OK, NULL, "%s%s", res.message,
			       !strcmp(prov, "openstack") ? " (read with microversion 2.17: trigger_crash_dump is available)"
			       : !strcmp(prov, "oci")     ? " (RUNNING: no start, stop or reboot in progress)"
							  : "");
		if (!strcmp(prov, "aws"))
			dg_doctor_aws_facts(&run, t, o);
		else if (!strcmp(prov, "gcp"))
			dg_doctor_gcp_facts(&run, t, o);
		for (size_t i = 0; i < sizeof(manual) / sizeof(manual[0]); i++)
			if (!strcmp(manual[i].provider, prov))
				dg_doctor_emit(&run, manual[i].name, DG_DOCTOR_WARN, manual[i].fix, "%s", manual[i].message);
	}
	return dg_doctor_finish(&run, r, ret, err);
}
