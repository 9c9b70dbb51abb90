/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diagint/provider.h"
#include "diagint/target.h"

/* What every provider shares: verdicts, environment look-ups, response excerpts, part checks. A leaf: the
 * registry (providers.c) sits above the providers, and the target grammar (target.c) above the registry. */

int dg_verdict_set(struct dg_verdict *v, enum dg_status status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dg_error_setv(&v->err, status, fmt, ap);
	va_end(ap);
	return -(int)status;
}

void dg_verdict_throttled(struct dg_verdict *v, const struct dg_http_resp *resp, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dg_error_setv(&v->err, DG_UNAVAILABLE, fmt, ap);
	va_end(ap);
	v->retry = true;
	v->retry_after = dg_http_retry_after(resp, time(NULL));
}

void dg_verdict_request_id_header(struct dg_verdict *v, const struct dg_http_resp *resp, const char *const *names)
{
	for (; *names; names++) {
		const char *id = dg_http_resp_header(resp, *names);
		if (id && *id) {
			snprintf(v->err.request_id, sizeof(v->err.request_id), "%s", id);
			dg_error_one_line(v->err.request_id);
			return;
		}
	}
}

const char *dg_provider_getenv(const char *const *names)
{
	for (; *names; names++) {
		const char *v = getenv(*names);
		if (v && *v)
			return v;
	}
	return NULL;
}

void dg_provider_excerpt(const struct dg_http_resp *resp, char *out, size_t len)
{
	size_t w = 0;

	if (!len)
		return;
	for (size_t i = 0; resp->body && i < resp->body_len && w + 4 < len; i++) {
		unsigned char c = (unsigned char)resp->body[i];
		if (isspace(c)) {
			if (w && out[w - 1] != ' ')
				out[w++] = ' ';
		} else if (c >= 0x20 && c < 0x7f) {
			out[w++] = (char)c;
		} else {
			out[w++] = '?';
		}
	}
	if (resp->body && w + 4 >= len && resp->body_len > w) {
		memcpy(out + w, "...", 3);
		w += 3;
	}
	out[w] = '\0';
	if (!w)
		snprintf(out, len, "(empty body)");
}

void dg_verdict_server_error(struct dg_verdict *v, const struct dg_http_resp *resp, const char *api,
			     const struct dg_step *step, const char *detail)
{
	const char *ra = dg_http_resp_header(resp, "retry-after");
	char excerpt[200];

	if (!detail || !*detail) {
		dg_provider_excerpt(resp, excerpt, sizeof(excerpt));
		detail = excerpt;
	}
	if (resp->status == 503 && ra) {
		dg_verdict_throttled(v, resp, "%s is unavailable (HTTP 503, Retry-After %s): %s", api, ra, detail);
		return;
	}
	dg_verdict_set(v, resp->status == 503 || step->dry_run ? DG_UNAVAILABLE : DG_FAILED,
		       "%s answered HTTP %ld: %s%s", api, resp->status, detail,
		       step->dry_run ? "" : "; the interrupt may or may not have been delivered, so it was not resent");
	v->retry = step->dry_run;
}

bool dg_target_charset(const char *s, size_t len, const char *set)
{
	size_t n = strlen(set);

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool ok = false;

		for (size_t j = 0; j < n && !ok; j++) {
			if (j + 2 < n && set[j + 1] == '-') {
				ok = c >= (unsigned char)set[j] && c <= (unsigned char)set[j + 2];
				j += 2;
			} else {
				ok = c == (unsigned char)set[j];
			}
		}
		if (!ok)
			return false;
	}
	return true;
}
