/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <limits.h>
#include <stdbool.h>

#include <security/pam_appl.h>

#include "diagint/audit.h"
#include "diagint/error.h"
#include "diagint/record.h"

/* Who may, who did, for every interrupting command (inject, capture, send): one call before the action, one
 * after.
 *
 *   struct dg_authz az;
 *   r = dg_authz_begin(&az, "inject", "libvirt:web-1", false, &err);   // PAM as the person behind the command,
 *   if (r < 0) return dg_cli_fail(&err);                         // decision recorded; denied: status 3
 *   r = do_the_action(...);
 *   dg_authz_end(&az, r, &err, dump_path, dump_sha256);          // outcome recorded, PAM session closed
 *
 * The person is SUDO_USER under sudo, the login uid's user under su, else the user running the command. PAM
 * service "diagint" decides (pam_diagint(8)); when it is not installed, root acting directly is allowed and
 * everyone else is denied. A decision that cannot be written to the audit log refuses the action. */

struct dg_authz {
	char action[32];
	char target[512];
	struct dg_audit_event ev;   /* actor and target, shared by the decision and the outcome records */
	struct dg_audit_log *log;
	pam_handle_t *pamh;
	bool session_open;
	bool done;
	bool pending;               /* allowed; the outcome record is owed (the log is reopened for it) */
	bool dry_run;
};

/* dry_run: the same decision (PAM, the audit log), for an action that will not happen; its outcome is recorded
 * with result dry-run. */
int dg_authz_begin(struct dg_authz *az, const char *action, const char *target, bool dry_run, struct dg_error *err);
/* r: the action's result (0 or -status); err: its error when r < 0; dump_path/sha256 may be NULL. Also
 * provider request ids (err->request_id) and attempts (0: not counted) go into the record. */
void dg_authz_end(struct dg_authz *az, int r, const struct dg_error *err, const char *dump_path,
		  const char *dump_sha256, int attempts);
/* The same for the libvirt path: dump path and hash, and what happened to the guest, from its record. */
void dg_authz_end_dump(struct dg_authz *az, int r, const struct dg_error *err, const struct dg_dump_record *rec);

/* `--audit-log FILE` / `--audit-log=FILE` anywhere before "--" in argv applies to every command: taken out
 * of argv here and passed on as $DIAGINT_AUDIT_LOG. Returns false (after a message) when FILE is missing. */
bool dg_authz_take_audit_log(int *argc, char **argv);
