/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A fuzzed HTTP answer for a provider's judge() or a token endpoint's reader. The input is text shaped like the
 * answer:  "STATUS FLAGS\n" then "name: value\n" header lines, an empty line, and the body (any bytes, NULs
 * included, as libcurl hands them over). FLAGS: bit 0 dry run, bits 1-2 the step index. */
#pragma once

#include <ctype.h>
#include <math.h>

#include "diagint/http.h"
#include "diagint/provider.h"
#include "diagint/target.h"
#include "fuzz.h"

struct fz_reply {
	struct dg_http_resp resp;
	bool dry_run;
	unsigned index;
};

static inline void fz_reply_parse(const uint8_t *data, size_t size, struct fz_reply *out)
{
	const uint8_t *p = data, *end = data + size;
	char line[64];
	size_t n;
	long status, flags = 0;

	memset(out, 0, sizeof(*out));
	n = 0;
	while (p + n < end && p[n] != '\n' && n < sizeof(line) - 1)
		n++;
	memcpy(line, p, n);
	line[n] = '\0';
	p += n < (size_t)(end - p) ? n + 1 : n;
	status = strtol(line, NULL, 10);
	if (strchr(line, ' '))
		flags = strtol(strchr(line, ' ') + 1, NULL, 10);
	/* judge() is only called with an answer: a status from 100 to 999 */
	if (status < 100 || status > 999)
		status = 100 + (long)((unsigned long)status % 900);
	out->resp.status = status;
	out->resp.sent = true;
	out->dry_run = flags & 1;
	out->index = (unsigned)(flags >> 1) & 3;
	snprintf(out->resp.host, sizeof(out->resp.host), "api.example:443");
	/* Headers until an empty line (or the end). */
	while (p < end && *p != '\n') {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p)), *colon;
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct dg_http_header *h;

		colon = memchr(p, ':', len);
		if (colon) {
			h = realloc(out->resp.headers, (out->resp.n_headers + 1) * sizeof(*h));
			if (!h)
				abort();
			out->resp.headers = h;
			h = &h[out->resp.n_headers++];
			h->name = fz_strndup(p, (size_t)(colon - p));
			for (char *c = h->name; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			colon++;
			while (colon < p + len && *colon == ' ')
				colon++;
			h->value = fz_strndup(colon, (size_t)(p + len - colon));
		}
		p += nl ? len + 1 : len;
	}
	if (p < end)
		p++; /* the empty line */
	out->resp.body_len = (size_t)(end - p);
	out->resp.body = fz_strndup(p, out->resp.body_len);
}

/* Judge the answer as the send engine would, and check the verdict. success: the status of the provider's own
 * success shape for a real (not dry-run) interrupt. */
static inline void fz_judge(const struct dg_provider *prov, void *ctx, const char *target, long success,
			    const uint8_t *data, size_t size)
{
	struct fz_reply r;
	struct dg_target t;
	struct dg_step step = { .attempt = 1, .client_token = "0123456789abcdef0123456789abcdef" };
	struct dg_verdict v;

	if (dg_target_parse(target, &t, NULL) != 0)
		abort();
	fz_reply_parse(data, size, &r);
	step.dry_run = r.dry_run;
	step.index = r.index;
	memset(&v, 0, sizeof(v));
	v.retry_after = -1;
	prov->judge(ctx, &t, &step, &r.resp, &v);
	FZ_CHECK(v.err.status <= DG_REFUSED, "verdict status %d", v.err.status);
	FZ_CHECK(fz_terminated(v.err.message, sizeof(v.err.message)) && v.err.message[0], "no verdict message");
	FZ_CHECK(fz_terminated(v.err.request_id, sizeof(v.err.request_id)), "request id not terminated");
	FZ_CHECK(fz_one_line(v.err.message), "a control character from the answer in the message: %s", v.err.message);
	FZ_CHECK(fz_one_line(v.err.request_id), "a control character in the request id");
	FZ_CHECK(!(v.retry && v.err.status == DG_OK), "success and retry");
	FZ_CHECK(!(v.next && !step.dry_run), "a next step for a real interrupt");
	/* A far HTTP-date is allowed here: the send engine caps the wait (retry_after_max). */
	FZ_CHECK(v.retry_after == -1 || (v.retry_after >= 0 && isfinite(v.retry_after)), "Retry-After %g",
		 v.retry_after);
	/* Only the provider's own success shape means sent (issue 13, point 3). */
	if (v.err.status == DG_OK && !step.dry_run)
		FZ_CHECK(r.resp.status == success, "HTTP %ld counted as sent (only %ld is)", r.resp.status, success);
	dg_http_resp_clear(&r.resp);
}
