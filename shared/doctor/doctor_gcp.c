/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the GCP dry run does not show: Shielded VM Secure Boot, which Google says must be off before an NMI is
 * sent (seed 000, "Limitations"). One read: instances.get with fields=status,shieldedInstanceConfig. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "doctor/doctor-internal.h"
#include "diagint/buf.h"
#include "cloud/creds_gcp.h"
#include "base/encode.h"

#define READ_FIX "allow compute.instances.get to the identity diagint uses, or check by hand with 'gcloud compute " \
	"instances describe INSTANCE --format=value(shieldedInstanceConfig)'"

void dg_doctor_gcp_facts(struct dg_doctor_run *run, const struct dg_target *t, const struct dg_doctor_opts *o)
{
	struct dg_http_opts ho = { .timeout = o->send ? o->send->timeout : 0,
				   .connect_timeout = o->send ? o->send->connect_timeout : 0 };
	struct dg_gcp_auth auth = { 0 };
	struct dg_http *http = NULL;
	struct dg_error err = { 0 };
	struct dg_buf url = DG_BUF_INIT, path = DG_BUF_INIT;
	struct dg_http_req req = { 0 };
	struct dg_http_resp resp = { 0 };
	json_object *j = NULL, *sic, *v;
	const char *ep = dg_doctor_endpoint(o, "gcp"), *cacert;
	bool auth_ready = false;

	if (!ep)
		ep = dg_provider_getenv((const char *const[]){ "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE", NULL });
	if (!ep)
		ep = "https://compute.googleapis.com/compute/v1/";
	cacert = o->send && o->send->cacert
			 ? o->send->cacert
			 : dg_provider_getenv((const char *const[]){ "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE", NULL });
	if (dg_http_url_parts(ep, NULL, &path, NULL, &err) < 0)
		goto unread;
	/* As the provider reads it: a bare https://host:port is the API at its usual path. */
	dg_buf_printf(&url, "%s%s%s", ep, ep[strlen(ep) - 1] == '/' ? "" : "/",
		      !strcmp(dg_buf_str(&path), "/") ? "compute/v1/" : "");
	dg_buf_puts(&url, "projects/");
	dg_uri_encode(&url, t->part[0], strlen(t->part[0]), false);
	dg_buf_printf(&url, "/zones/%s/instances/%s?fields=status,shieldedInstanceConfig", t->part[1], t->part[2]);
	if (dg_http_new(&ho, &http, &err) < 0 || dg_gcp_auth_init(&auth, &err) < 0)
		goto unread;
	auth_ready = true;
	if (dg_gcp_auth_token(&auth, http, cacert, &err) < 0)
		goto unread;
	if (!dg_buf_ok(&url) || !dg_http_req_init(&req, "GET", dg_buf_str(&url)) ||
	    !dg_http_req_header(&req, "Authorization: Bearer %s", auth.token) ||
	    !dg_http_req_header(&req, "Accept: application/json")) {
		dg_http_req_clear(&req);
		dg_error_set(&err, DG_FAILED, "out of memory");
		goto unread;
	}
	req.idempotent = true;
	req.cacert = cacert;
	if (dg_http_do(http, &req, &resp, &err) < 0)
		goto unread;
	if (!resp.status) {
		bool retry;
		dg_http_transport_error(&resp, true, "the Compute Engine API", "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE", &err,
					&retry);
		goto unread;
	}
	if (resp.status != 200) {
		char excerpt[200];
		dg_provider_excerpt(&resp, excerpt, sizeof(excerpt));
		dg_error_set(&err, DG_FAILED, "Compute Engine answered HTTP %ld: %s", resp.status, excerpt);
		goto unread;
	}
	j = resp.body ? json_tokener_parse(resp.body) : NULL;
	if (!j) {
		dg_error_set(&err, DG_FAILED, "Compute Engine answered something that is not JSON");
		goto unread;
	}
	if (json_object_object_get_ex(j, "shieldedInstanceConfig", &sic) &&
	    json_object_object_get_ex(sic, "enableSecureBoot", &v) && json_object_get_boolean(v))
		dg_doctor_emit(run, "secure-boot", DG_DOCTOR_FAIL,
			       "stop the instance, turn Secure Boot off (gcloud compute instances update INSTANCE "
			       "--no-shielded-secure-boot) and start it",
			       "Shielded VM Secure Boot is on: Google requires it off before a diagnostic interrupt");
	else
		dg_doctor_emit(run, "secure-boot", DG_DOCTOR_OK, NULL, "Shielded VM Secure Boot is off");
	goto out;

unread:
	dg_doctor_emit(run, "secure-boot", DG_DOCTOR_WARN, READ_FIX, "Shielded VM Secure Boot could not be read: %s",
		       err.message);
out:
	json_object_put(j);
	dg_http_resp_clear(&resp);
	if (auth_ready)
		dg_gcp_auth_clear(&auth);
	dg_http_free(http);
	dg_buf_free(&url);
	dg_buf_free(&path);
}
