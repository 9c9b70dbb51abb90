/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The provider registry and the helpers every provider uses: the interface is complete for each registered
 * provider, 5xx and throttling rules, request ids, excerpts. */
#include <stdlib.h>
#include <string.h>

#include "diagint/provider.h"
#include "fake_resp.h"
#include "tap.h"

int main(void)
{
	struct dg_http_resp r = { 0 };
	struct dg_verdict v;
	struct dg_step interrupt = { .attempt = 1 }, dry = { .dry_run = true, .attempt = 1 };
	char ex[32];
	unsigned n = 0;

	for (const struct dg_provider *p; (p = dg_provider_at(n)); n++) {
		struct dg_target t;
		CHECK(p->name && p->title && p->example && p->api && p->parts && p->n_parts >= 1 &&
			      p->n_parts <= DG_TARGET_PARTS_MAX && p->open && p->close,
		      "%s: names, parts, open and close", p->name);
		CHECK((p->request && p->judge && !p->direct) || (!p->request && !p->judge && p->direct),
		      "%s: either HTTP (request+judge) or direct", p->name);
		CHECK(dg_target_parse(p->example, &t, NULL) == 0 && t.provider == p, "%s: its example parses", p->name);
		CHECK(dg_provider_find(p->name, strlen(p->name)) == p, "%s: found by name", p->name);
	}
	CHECK(n == 5, "five providers registered (%u)", n);

	fake_resp(&r, 503, "busy", "Retry-After", "2", NULL);
	memset(&v, 0, sizeof(v));
	dg_verdict_server_error(&v, &r, "X", &interrupt, "");
	CHECK(v.retry && v.retry_after == 2 && v.err.status == DG_UNAVAILABLE, "503 with Retry-After: throttled");
	fake_resp(&r, 503, "busy", NULL);
	memset(&v, 0, sizeof(v));
	dg_verdict_server_error(&v, &r, "X", &interrupt, "");
	CHECK(!v.retry && v.err.status == DG_UNAVAILABLE && strstr(v.err.message, "not resent"),
	      "bare 503: unavailable, not resent");
	fake_resp(&r, 500, "oops", NULL);
	memset(&v, 0, sizeof(v));
	dg_verdict_server_error(&v, &r, "X", &interrupt, "");
	CHECK(!v.retry && v.err.status == DG_FAILED, "500 on an interrupt: failed, not resent");
	memset(&v, 0, sizeof(v));
	dg_verdict_server_error(&v, &r, "X", &dry, "");
	CHECK(v.retry && v.err.status == DG_UNAVAILABLE, "500 on a dry run: retried (nothing interrupts)");

	fake_resp(&r, 200, NULL, "x-compute-request-id", "req-2", "opc-request-id", "OPC1", NULL);
	memset(&v, 0, sizeof(v));
	dg_verdict_request_id_header(&v, &r, (const char *const[]){ "opc-request-id", "x-compute-request-id", NULL });
	CHECK_STR(v.err.request_id, "OPC1", "request id: first listed header present");

	fake_resp(&r, 400, "line1\n\tline2 \x01 end", NULL);
	dg_provider_excerpt(&r, ex, sizeof(ex));
	CHECK_STR(ex, "line1 line2 ? end", "excerpt: one line, printable");
	fake_resp(&r, 400, NULL, NULL);
	dg_provider_excerpt(&r, ex, sizeof(ex));
	CHECK_STR(ex, "(empty body)", "excerpt of nothing");

	setenv("DG_T_B", "b", 1);
	unsetenv("DG_T_A");
	CHECK_STR(dg_provider_getenv((const char *const[]){ "DG_T_A", "DG_T_B", NULL }), "b", "first set variable");
	dg_http_resp_clear(&r);
	return tap_done();
}
