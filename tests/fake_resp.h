/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Canned HTTP answers for the providers' judge() and the engine's transport rules. */
#pragma once

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "diagint/http.h"
#include "diagint/provider.h"
#include "diagint/target.h"

/* status, body (may be NULL), then header name/value pairs ending with NULL. */
static inline void fake_resp(struct dg_http_resp *r, long status, const char *body, ...)
{
	va_list ap;
	const char *name;

	dg_http_resp_clear(r);
	r->status = status;
	r->sent = true;
	if (body) {
		r->body = strdup(body);
		r->body_len = strlen(body);
	}
	snprintf(r->host, sizeof(r->host), "api.example:443");
	va_start(ap, body);
	while ((name = va_arg(ap, const char *))) {
		const char *value = va_arg(ap, const char *);
		r->headers = realloc(r->headers, (r->n_headers + 1) * sizeof(*r->headers));
		r->headers[r->n_headers].name = strdup(name);
		r->headers[r->n_headers].value = strdup(value);
		r->n_headers++;
	}
	va_end(ap);
}

static inline void judge(const struct dg_provider *p, void *ctx, const char *target, bool dry_run, unsigned index,
			 struct dg_http_resp *resp, struct dg_verdict *v)
{
	struct dg_target t;
	struct dg_step step = { .dry_run = dry_run, .index = index, .attempt = 1, .client_token = "0123456789abcdef" };

	memset(v, 0, sizeof(*v));
	v->retry_after = -1;
	if (dg_target_parse(target, &t, NULL) == 0)
		p->judge(ctx, &t, &step, resp, v);
}
