/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Nova provider: trigger_crash_dump with microversion 2.17, answers to statuses. */
#include <stdlib.h>
#include <string.h>

#include "cloud/creds_openstack.h"
#include "diagint/provider.h"
#include "fake_resp.h"
#include "tap.h"

extern const struct dg_provider dg_provider_openstack;

#define SID "4f2a6c1e-5b7d-4e21-9a0b-3c8d2e1f0a9b"

static void expect(void *ctx, long status, const char *body, bool dry, enum dg_status want, bool retry,
		   const char *words)
{
	struct dg_http_resp r = { 0 };
	struct dg_verdict v;

	fake_resp(&r, status, body, "x-openstack-request-id", "req-1", NULL);
	judge(&dg_provider_openstack, ctx, "openstack:" SID, dry, 0, &r, &v);
	CHECK(v.err.status == want && v.retry == retry && strstr(v.err.message, words) &&
		      !strcmp(v.err.request_id, "req-1"),
	      "HTTP %ld %.50s -> %s: %s", status, body ? body : "", dg_status_name(want), v.err.message);
	dg_http_resp_clear(&r);
}

int main(void)
{
	struct dg_provider_env env = { .endpoint = "https://nova:8774/v2.1/" };
	struct dg_http_req req = { 0 };
	struct dg_step step = { .attempt = 1 };
	struct dg_target t;
	struct dg_error err = { 0 };
	bool mv = false, tok = false;
	void *ctx = NULL;

	setenv("OS_AUTH_URL", "https://keystone:5000", 1);
	setenv("OS_USERNAME", "u", 1);
	setenv("OS_PASSWORD", "p", 1);
	CHECK(dg_provider_openstack.open(&env, &ctx, &err) == 0, "open");
	((struct dg_os_auth *)ctx)->token = strdup("gAAAAtok");
	dg_target_parse("openstack:" SID, &t, NULL);
	CHECK(dg_provider_openstack.request(ctx, &t, &step, &req, &err) == 0, "request");
	CHECK_STR(req.url, "https://nova:8774/v2.1/servers/" SID "/action", "URL (one slash)");
	CHECK_STR(req.body, "{\"trigger_crash_dump\": null}", "body");
	for (struct curl_slist *l = req.headers; l; l = l->next) {
		mv |= !strcmp(l->data, "OpenStack-API-Version: compute 2.17");
		tok |= !strcmp(l->data, "X-Auth-Token: gAAAAtok");
	}
	CHECK(mv && tok && !req.idempotent, "microversion 2.17 and the token; not idempotent");
	dg_http_req_clear(&req);
	step.dry_run = true;
	dg_provider_openstack.request(ctx, &t, &step, &req, &err);
	CHECK(!strcmp(req.method, "GET") && req.idempotent && !req.body, "dry run: GET the server");
	dg_http_req_clear(&req);

	expect(ctx, 202, "", false, DG_OK, false, "sent");
	expect(ctx, 200, "{\"server\":{\"status\":\"ACTIVE\",\"locked\":false}}", true, DG_OK, false, "ACTIVE");
	expect(ctx, 200, "{\"server\":{\"status\":\"SHUTOFF\",\"locked\":false}}", true, DG_NOTFOUND, false, "SHUTOFF");
	expect(ctx, 200, "{\"server\":{\"status\":\"ACTIVE\",\"locked\":true}}", true, DG_NOTFOUND, false, "locked");
	expect(ctx, 409, "{\"conflictingRequest\":{\"message\":\"locked\",\"code\":409}}", false, DG_NOTFOUND, false,
	       "locked");
	expect(ctx, 403, "{\"forbidden\":{\"message\":\"Policy\",\"code\":403}}", false, DG_DENIED, false,
	       "os_compute_api:servers:trigger_crash_dump");
	expect(ctx, 404, "{\"itemNotFound\":{\"message\":\"gone\",\"code\":404}}", false, DG_NOTFOUND, false, "gone");
	expect(ctx, 400, "{\"badRequest\":{\"message\":\"Trigger crash dump is not supported\",\"code\":400}}", false,
	       DG_NOTFOUND, false, "not supported");
	expect(ctx, 406, "{\"computeFault\":{\"message\":\"Version 2.17 is not supported\",\"code\":406}}", false,
	       DG_FAILED, false, "2.17");
	expect(ctx, 429, "", false, DG_UNAVAILABLE, true, "throttled");
	expect(ctx, 413, "", false, DG_UNAVAILABLE, true, "throttled");
	expect(ctx, 401, "", false, DG_DENIED, false, "token");
	expect(ctx, 500, "{\"computeFault\":{\"message\":\"boom\",\"code\":500}}", false, DG_FAILED, false, "boom");
	dg_provider_openstack.close(ctx);
	return tap_done();
}
