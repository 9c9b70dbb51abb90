/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "diagint/error.h"
#include "diagint/lv.h"
#include "diagint/send.h"
#include "diagint/target.h"

/* Readiness: would an interrupt sent to this target produce a dump? `diagint doctor`, the collectd plugin and the
 * watcher run the same checks (once at start for each configured target) and show them their own way.
 *
 * Nothing here interrupts, pauses, restarts or reconfigures anything: libvirt targets are read (domain XML, state,
 * the guest agent's ping, file reads and read-only commands inside the guest), the dump destination is looked at
 * without writing, and clouds are asked only what their dry runs ask (send.h with dry_run: AWS DryRun, GCP
 * instance read and testIamPermissions, OCI and OpenStack instance reads) plus reads (EC2 DescribeInstances and
 * DescribeInstanceTypes, GCP instances.get for Shielded VM settings).
 *
 * For host tools that run the checks once at start for each configured target (the collectd plugin, the
 * watcher): dg_doctor_check() for any target, or dg_doctor_check_libvirt() on a connection already open; each
 * check arrives through the callback (log the warn/fail ones with their fix). Blocking: up to agent_timeout per
 * agent command and the send options' timeouts per cloud request, so call it from a worker, not an event loop. */

enum dg_doctor_level {
	DG_DOCTOR_OK = 0,
	DG_DOCTOR_WARN = 1, /* a dump will probably still come, or this could not be checked */
	DG_DOCTOR_FAIL = 2, /* an interrupt would not produce a dump (or not keep it) */
};

struct dg_doctor_check {
	const char *target;  /* the target's text */
	const char *name;    /* stable identifier: "panic-device", "on-crash", "guest-agent", ... */
	enum dg_doctor_level level;
	char message[DG_ERROR_MSG_MAX]; /* what was found, one line */
	char fix[512];                  /* the fix in one sentence; "" when ok */
};

/* Called once per check, in order, from the calling thread. */
typedef void (*dg_doctor_fn)(void *userdata, const struct dg_doctor_check *check);

struct dg_config;

struct dg_doctor_opts {
	/* libvirt targets */
	const char *libvirt_uri;         /* NULL: libvirt's default */
	const struct dg_config *config;  /* Destination, MaxUse/KeepFree; NULL: built-in defaults */
	const char *dest;                /* overrides the configuration's Destination (a directory or |COMMAND) */
	double agent_timeout;            /* seconds per guest agent command; 0: DG_DOCTOR_AGENT_TIMEOUT */
	/* cloud targets: the dry-run engine's options (endpoints, cacert, timeouts); dry_run is forced on */
	const struct dg_send_opts *send;
};

#define DG_DOCTOR_AGENT_TIMEOUT 3.0

struct dg_doctor_summary {
	unsigned n_ok, n_warn, n_fail;
};

/* Run every check for one target. Returns 0 when ready (no check failed), -DG_FAILED when some check failed (not
 * ready), or -status when the target could not be examined (DG_USAGE, DG_DENIED, DG_NOTFOUND, DG_UNAVAILABLE);
 * that failure is also reported as a failed check, and err says it. ret may be NULL. */
int dg_doctor_check(const struct dg_target *t, const struct dg_doctor_opts *opts, dg_doctor_fn fn, void *userdata,
		    struct dg_doctor_summary *ret, struct dg_error *err);

/* The libvirt checks on a connection the caller already holds (the collectd plugin, the watcher). domain is a
 * name, UUID or id; target_text names it in the checks (NULL: "libvirt:DOMAIN"). */
int dg_doctor_check_libvirt(struct dg_lv *lv, const char *domain, const char *target_text,
			    const struct dg_doctor_opts *opts, dg_doctor_fn fn, void *userdata,
			    struct dg_doctor_summary *ret, struct dg_error *err);

/* "ok", "warn", "fail". */
const char *dg_doctor_level_name(enum dg_doctor_level level);
/* {"check": NAME, "level": "ok", "message": ..., "fix": ...} (fix only when not ok). */
json_object *dg_doctor_check_to_json(const struct dg_doctor_check *c);

/* ---- the pure parts, exposed for tests and for plugins that read the same facts their own way ---- */

/* What <on_crash> does to the evidence. value NULL or "" is libvirt's default (destroy). */
enum dg_doctor_level dg_doctor_on_crash_level(const char *value, char *why, size_t why_len);
/* The facts read from a domain's XML. */
struct dg_doctor_domxml {
	bool panic;                 /* a <panic> device */
	char panic_model[32];
	char on_crash[32];          /* "" when absent (libvirt: destroy) */
	bool agent_channel;         /* a virtio channel named org.qemu.guest_agent.0 */
	char agent_state[32];       /* its target's state attribute in live XML: "connected", "disconnected", "" */
	char os_cmdline[1024];      /* <os><cmdline> of direct kernel boot, "" when none */
	char serial_log[1024];      /* the file the serial port (or a file console) writes to, "" when none */
	bool vmcoreinfo;            /* <features><vmcoreinfo/> (not state='off'): dumps carry VMCOREINFO */
};
int dg_doctor_parse_domxml(const char *xml, struct dg_doctor_domxml *ret, struct dg_error *err);
/* Value of crashkernel= on a kernel command line into ret (may be NULL); false when absent. */
bool dg_doctor_cmdline_crashkernel(const char *cmdline, char *ret, size_t len);
/* AWS: "Diagnostic interrupt is supported on all Nitro-based instance types, except A1". hypervisor and
 * bare_metal as DescribeInstanceTypes gives them ("nitro", "xen", "" for metal). */
enum dg_doctor_level dg_doctor_aws_type_level(const char *type, const char *hypervisor, bool bare_metal, char *why,
					      size_t why_len);
/* Contents of /proc/sys/kernel/unknown_nmi_panic: 1 set, 0 not, -1 unreadable. */
int dg_doctor_parse_sysctl_bool(const char *text);
