/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>

/* One status vocabulary for the whole suite. The values are also the exit statuses of every diagint command,
 * so a script can branch on them without parsing text. Never renumber. */
enum dg_status {
	DG_OK = 0,
	DG_FAILED = 1,      /* the action was tried and did not work */
	DG_USAGE = 2,       /* bad arguments or configuration: the user must change something */
	DG_DENIED = 3,      /* not authorized: credentials, permission, PAM */
	DG_NOTFOUND = 4,    /* target does not exist or is not in a state that allows the action */
	DG_UNAVAILABLE = 5, /* temporarily unavailable (throttled, unreachable) after the allowed retries */
	DG_REFUSED = 6,     /* refused by a safety rule: cooldown, storm brake, flood limit, no free dump name */
};

#define DG_ERROR_MSG_MAX 1024

/* Errors travel from the core to the edge as this struct; each host tool shows them its own way. Core functions
 * return 0 or -status and fill the struct when it is not NULL. */
struct dg_error {
	enum dg_status status;
	int sys_errno;                     /* the errno behind it, 0 when none */
	char message[DG_ERROR_MSG_MAX];    /* one line: the problem and the fix */
	char request_id[128];              /* provider request id, when a remote API answered */
};

/* Make text one safe line in place: tab, CR and LF become spaces, other control characters and DEL '?'. Every
 * message and request id passes through it, since they quote remote answers and files (a terminal shows them). */
void dg_error_one_line(char *s);

/* Fill err (may be NULL) and return -status, so callers can write `return dg_error_set(err, ...)`. */
int dg_error_set(struct dg_error *err, enum dg_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int dg_error_setv(struct dg_error *err, enum dg_status status, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* Same, recording errno_value and appending its strerror text. */
int dg_error_set_errno(struct dg_error *err, enum dg_status status, int errno_value, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void dg_error_clear(struct dg_error *err);

/* Stable lower-case name of a status for JSON and logs: "ok", "failed", "usage", ... */
const char *dg_status_name(enum dg_status status);
/* One-line description used by --help and the man page. */
const char *dg_status_describe(enum dg_status status);
