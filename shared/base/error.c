/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <string.h>

#include "diagint/error.h"

void dg_error_one_line(char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = *s == '\t' || *s == '\n' || *s == '\r' ? ' ' : '?';
}

int dg_error_setv(struct dg_error *err, enum dg_status status, const char *fmt, va_list ap)
{
	if (err) {
		err->status = status;
		err->sys_errno = 0;
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		dg_error_one_line(err->message);
	}
	return -(int)status;
}

int dg_error_set(struct dg_error *err, enum dg_status status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dg_error_setv(err, status, fmt, ap);
	va_end(ap);
	return -(int)status;
}

int dg_error_set_errno(struct dg_error *err, enum dg_status status, int errno_value, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dg_error_setv(err, status, fmt, ap);
	va_end(ap);
	if (err) {
		size_t len = strlen(err->message);
		err->sys_errno = errno_value;
		snprintf(err->message + len, sizeof(err->message) - len, ": %s", strerror(errno_value));
	}
	return -(int)status;
}

void dg_error_clear(struct dg_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

static const struct {
	const char *name;
	const char *text;
} statuses[] = {
	[DG_OK] = { "ok", "done" },
	[DG_FAILED] = { "failed", "failed: the action was tried and did not work" },
	[DG_USAGE] = { "usage", "usage or configuration error" },
	[DG_DENIED] = { "denied", "not authorized (credentials, permission, PAM)" },
	[DG_NOTFOUND] = { "not-found", "target not found or not in a state that allows it" },
	[DG_UNAVAILABLE] = { "unavailable", "temporarily unavailable (throttled, unreachable) after the allowed retries" },
	[DG_REFUSED] = { "refused", "refused by a safety rule (cooldown, storm brake, flood limit, no free dump name)" },
};

const char *dg_status_name(enum dg_status status)
{
	if ((unsigned)status >= sizeof(statuses) / sizeof(statuses[0]))
		return "unknown";
	return statuses[status].name;
}

const char *dg_status_describe(enum dg_status status)
{
	if ((unsigned)status >= sizeof(statuses) / sizeof(statuses[0]))
		return "unknown status";
	return statuses[status].text;
}
