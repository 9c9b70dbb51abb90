/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Compute Engine provider: URLs for the interrupt and the dry-run steps, answers to statuses. */
#include <stdlib.h>
#include <string.h>

#include "diagint/creds_gcp.h"
#include "diagint/provider.h"
#include "fake_resp.h"
#include "tap.h"

extern const struct dg_provider dg_provider_gcp;

#define T "gcp:my-project/us-central1-a/web-1"
#define GERR(code, reason) "{\"error\":{\"code\":" #code ",\"message\":\"m\",\"errors\":[{\"reason\":\"" reason \
			   "\"}],\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.RequestInfo\"," \
			   "\"requestId\":\"g-1\"}]}}"

static void expect(void *ctx, long status, const char *body, bool dry, unsigned index, enum dg_status want,
		   bool retry, bool next, const char *words)
{
	struct dg_http_resp r = { 0 };
	struct dg_verdict v;

	fake_resp(&r, status, body, NULL);
	judge(&dg_provider_gcp, ctx, T, dry, index, &r, &v);
	CHECK(v.err.status == want && v.retry == retry && v.next == next && strstr(v.err.message, words),
	      "HTTP %ld %.50s (dry %d step %u) -> %s: %s", status, body ? body : "", dry, index, dg_status_name(want),
	      v.err.message);
	dg_http_resp_clear(&r);
}

int main(void)
{
	struct dg_provider_env env = { 0 };
	struct dg_http_req req = { 0 };
	struct dg_step step = { .attempt = 1 };
	struct dg_target t;
	struct dg_error err = { 0 };
	void *ctx = NULL;

	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	setenv("HOME", "/nonexistent", 1);
	setenv("GCE_METADATA_HOST", "127.0.0.1:9", 1);
	setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE", "https://127.0.0.1:8443", 1);
	CHECK(dg_provider_gcp.open(&env, &ctx, &err) == 0, "open (%s)", err.message);
	((struct dg_gcp_auth *)ctx)->token = strdup("ya29.test"); /* the auth struct is the context's first member */
	dg_target_parse(T, &t, NULL);
	CHECK(dg_provider_gcp.request(ctx, &t, &step, &req, &err) == 0, "request");
	CHECK_STR(req.url, "https://127.0.0.1:8443/compute/v1/projects/my-project/zones/us-central1-a/instances/web-1/"
			   "sendDiagnosticInterrupt", "bare endpoint gets /compute/v1/");
	CHECK(!strcmp(req.method, "POST") && !req.idempotent, "POST, not idempotent");
	CHECK(req.headers && !strcmp(req.headers->data, "Authorization: Bearer ya29.test"), "bearer token");
	dg_http_req_clear(&req);
	step.dry_run = true;
	dg_provider_gcp.request(ctx, &t, &step, &req, &err);
	CHECK(!strcmp(req.method, "GET") && strstr(req.url, "/instances/web-1?fields=") && req.idempotent,
	      "dry run step 0: GET the instance");
	dg_http_req_clear(&req);
	step.index = 1;
	dg_provider_gcp.request(ctx, &t, &step, &req, &err);
	CHECK(strstr(req.url, "/testIamPermissions") && strstr(req.body, "compute.instances.sendDiagnosticInterrupt") &&
		      req.idempotent, "dry run step 1: testIamPermissions for the permission");
	dg_http_req_clear(&req);

	expect(ctx, 200, "", false, 0, DG_OK, false, false, "sent");
	/* The documented answer is an empty body; a JSON object without "error" is accepted too, a page is not. */
	expect(ctx, 200, "{\"kind\":\"compute#operation\",\"name\":\"op-1\"}", false, 0, DG_OK, false, false, "sent");
	expect(ctx, 200, "<html><body>Sign in to the Wi-Fi</body></html>", false, 0, DG_FAILED, false, false,
	       "may or may not have reached");
	expect(ctx, 403, GERR(403, "forbidden"), false, 0, DG_DENIED, false, false,
	       "compute.instances.sendDiagnosticInterrupt");
	expect(ctx, 403, GERR(403, "forbidden"), true, 0, DG_DENIED, false, false, "compute.instances.get");
	expect(ctx, 403, GERR(403, "rateLimitExceeded"), false, 0, DG_UNAVAILABLE, true, false, "throttled");
	expect(ctx, 429, GERR(429, "rateLimitExceeded"), false, 0, DG_UNAVAILABLE, true, false, "throttled");
	expect(ctx, 401, GERR(401, "authError"), false, 0, DG_DENIED, false, false, "access token");
	expect(ctx, 404, GERR(404, "notFound"), false, 0, DG_NOTFOUND, false, false, "not found");
	expect(ctx, 409, GERR(409, "conflict"), false, 0, DG_NOTFOUND, false, false, "RUNNING");
	expect(ctx, 400, GERR(400, "resourceNotReady"), false, 0, DG_NOTFOUND, false, false, "RUNNING");
	expect(ctx, 400, GERR(400, "invalid"), false, 0, DG_FAILED, false, false, "invalid");
	expect(ctx, 500, GERR(500, "backendError"), false, 0, DG_FAILED, false, false, "not resent");
	expect(ctx, 500, "{not json", false, 0, DG_FAILED, false, false, "{not json");
	expect(ctx, 200, "{\"status\":\"RUNNING\"}", true, 0, DG_OK, false, true, "RUNNING");
	expect(ctx, 200, "{\"status\":\"TERMINATED\"}", true, 0, DG_NOTFOUND, false, false, "TERMINATED");
	expect(ctx, 200, "{\"permissions\":[\"compute.instances.sendDiagnosticInterrupt\"]}", true, 1, DG_OK, false,
	       false, "granted");
	expect(ctx, 200, "{}", true, 1, DG_DENIED, false, false, "lacks the permission");
	{
		struct dg_http_resp r = { 0 };
		struct dg_verdict v;
		fake_resp(&r, 404, GERR(404, "notFound"), NULL);
		judge(&dg_provider_gcp, ctx, T, false, 0, &r, &v);
		CHECK_STR(v.err.request_id, "g-1", "request id from google.rpc.RequestInfo");
		dg_http_resp_clear(&r);
	}
	dg_provider_gcp.close(ctx);
	return tap_done();
}
