/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "diagint/audit.h"
#include "diagint/error.h"

/* The audit log's head announced outside the file, so that removing records from its end (or the whole file)
 * shows: each append sends "op=diagint-audit-head log=PATH seq=N sha256=H" to syslog (LOG_AUTHPRIV) and, where
 * the process may (CAP_AUDIT_WRITE), to Linux audit as a TRUSTED_APP record. Neither is required: a kernel
 * without audit, an unprivileged writer or a machine without a syslog daemon simply gets no copy there. */

#define DG_AUDIT_ANCHOR_OP "op=diagint-audit-head"

struct dg_audit_anchor_state {
	int kaudit_fd; /* -1: not opened yet; -2: Linux audit unavailable to this process */
	int kaudit_errno; /* why, for --verbose callers and tests */
	long kaudit_sent;
};

#define DG_AUDIT_ANCHOR_STATE_INIT { -1, 0, 0 }

/* The announcement text for a log (its absolute path) and head. */
int dg_audit_anchor_message(const char *log_path, const struct dg_audit_head *head, char *buf, size_t len);
/* Send it where configured (flags: DG_AUDIT_NO_SYSLOG, DG_AUDIT_NO_KAUDIT). Never fails the caller. */
void dg_audit_anchor_announce(struct dg_audit_anchor_state *st, const char *log_path,
			      const struct dg_audit_head *head, unsigned flags);
void dg_audit_anchor_close(struct dg_audit_anchor_state *st);

struct dg_audit_anchor_point {
	uint64_t seq;
	char sha256[DG_SHA256_HEX_LEN + 1];
};

/* Collect the announcements for log_path from a text log (syslog file, auditd's audit.log, ausearch output),
 * sorted by seq. *ret is malloc'ed (NULL when none). */
int dg_audit_anchor_scan(const char *file, const char *log_path, struct dg_audit_anchor_point **ret,
			 size_t *ret_n, struct dg_error *err);
