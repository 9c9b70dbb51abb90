/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The EC2 provider: the signed request it builds, and how every documented answer maps to a status. */
#include <stdlib.h>
#include <string.h>

#include "diagint/provider.h"
#include "fake_resp.h"
#include "tap.h"

extern const struct dg_provider dg_provider_aws;

#define ERR(code) "<Response><Errors><Error><Code>" code "</Code><Message>msg</Message></Error></Errors>" \
		  "<RequestID>rid-1</RequestID></Response>"

static void expect(void *ctx, long status, const char *body, bool dry, enum dg_status want, bool retry,
		   const char *words)
{
	struct dg_http_resp r = { 0 };
	struct dg_verdict v;

	fake_resp(&r, status, body, NULL);
	judge(&dg_provider_aws, ctx, "aws:us-east-1/i-0123456789abcdef0", dry, 0, &r, &v);
	CHECK(v.err.status == want && v.retry == retry && strstr(v.err.message, words),
	      "HTTP %ld %.60s -> %s%s: %s", status, body ? body : "", dg_status_name(want), retry ? " (retry)" : "",
	      v.err.message);
	dg_http_resp_clear(&r);
}

int main(void)
{
	struct dg_provider_env env = { .endpoint = "https://127.0.0.1:8443/" };
	struct dg_http_req req = { 0 };
	struct dg_step step = { .attempt = 1 };
	struct dg_target t;
	struct dg_error err = { 0 };
	bool has_auth = false, has_token = false, has_host = false;
	void *ctx = NULL;

	setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
	setenv("AWS_SESSION_TOKEN", "tok", 1);
	CHECK(dg_provider_aws.open(&env, &ctx, &err) == 0, "open");
	CHECK(dg_provider_aws.auth(ctx, &env, &err) == 0, "credentials from the environment (no network)");
	dg_target_parse("aws:eu-west-1/i-0123456789abcdef0", &t, NULL);
	CHECK(dg_provider_aws.request(ctx, &t, &step, &req, &err) == 0, "request built");
	CHECK_STR(req.method, "POST", "POST");
	CHECK_STR(req.url, "https://127.0.0.1:8443/", "to the endpoint override");
	CHECK_STR(req.body, "Action=SendDiagnosticInterrupt&InstanceId=i-0123456789abcdef0&Version=2016-11-15", "body");
	CHECK(!req.idempotent, "an interrupt is not idempotent");
	for (struct curl_slist *l = req.headers; l; l = l->next) {
		has_auth |= !strncmp(l->data, "Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/", 52) &&
			    strstr(l->data, "/eu-west-1/ec2/aws4_request") &&
			    strstr(l->data, "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token");
		has_token |= !strcmp(l->data, "X-Amz-Security-Token: tok");
		has_host |= !strcmp(l->data, "Host: 127.0.0.1:8443");
	}
	CHECK(has_auth, "SigV4 Authorization for ec2 in the target's region, token signed");
	CHECK(has_token && has_host, "session token and Host headers sent");
	dg_http_req_clear(&req);
	step.dry_run = true;
	CHECK(dg_provider_aws.request(ctx, &t, &step, &req, &err) == 0 && strstr(req.body, "&DryRun=true") &&
		      req.idempotent, "dry run: DryRun=true, safe to repeat");
	dg_http_req_clear(&req);

	expect(ctx, 200, "<SendDiagnosticInterruptResponse><requestId>r</requestId><return>true</return>"
			 "</SendDiagnosticInterruptResponse>", false, DG_OK, false, "sent");
	/* Only EC2's own yes is a yes: a proxy's page or an empty 200 may or may not have been acted on. */
	expect(ctx, 200, "<<garbage", false, DG_FAILED, false, "may or may not have reached");
	expect(ctx, 200, "", false, DG_FAILED, false, "an empty body");
	expect(ctx, 200, "<html><body>Welcome to the proxy</body></html>", false, DG_FAILED, false, "not EC2's answer");
	expect(ctx, 200, "<SendDiagnosticInterruptResponse><return>false</return></SendDiagnosticInterruptResponse>",
	       false, DG_FAILED, false, "not EC2's answer");
	expect(ctx, 412, ERR("DryRunOperation"), true, DG_OK, false, "DryRunOperation");
	expect(ctx, 403, ERR("UnauthorizedOperation"), false, DG_DENIED, false, "ec2:SendDiagnosticInterrupt");
	expect(ctx, 401, ERR("AuthFailure"), false, DG_DENIED, false, "rejected the credentials");
	expect(ctx, 400, ERR("RequestExpired"), false, DG_DENIED, false, "clock");
	expect(ctx, 400, ERR("InvalidInstanceID.NotFound"), false, DG_NOTFOUND, false, "not found");
	expect(ctx, 400, ERR("InvalidInstanceID.Malformed"), false, DG_USAGE, false, "malformed");
	expect(ctx, 400, ERR("IncorrectInstanceState"), false, DG_NOTFOUND, false, "running");
	expect(ctx, 400, ERR("UnsupportedOperation"), false, DG_NOTFOUND, false, "Nitro");
	expect(ctx, 503, ERR("RequestLimitExceeded"), false, DG_UNAVAILABLE, true, "throttled");
	expect(ctx, 400, ERR("Throttling"), false, DG_UNAVAILABLE, true, "throttled");
	expect(ctx, 500, ERR("InternalError"), false, DG_FAILED, false, "not resent");
	expect(ctx, 503, ERR("Unavailable"), false, DG_UNAVAILABLE, false, "not resent");
	expect(ctx, 502, "<html>bad gateway", false, DG_FAILED, false, "bad gateway");
	expect(ctx, 400, ERR("InvalidParameterValue"), false, DG_FAILED, false, "InvalidParameterValue");
	{
		struct dg_http_resp r = { 0 };
		struct dg_verdict v;
		fake_resp(&r, 403, ERR("UnauthorizedOperation"), NULL);
		judge(&dg_provider_aws, ctx, "aws:us-east-1/i-0123456789abcdef0", false, 0, &r, &v);
		CHECK_STR(v.err.request_id, "rid-1", "request id from the error body");
		fake_resp(&r, 403, "", "x-amzn-requestid", "hdr-id", NULL);
		judge(&dg_provider_aws, ctx, "aws:us-east-1/i-0123456789abcdef0", false, 0, &r, &v);
		CHECK_STR(v.err.request_id, "hdr-id", "else from x-amzn-requestid");
		dg_http_resp_clear(&r);
	}
	dg_provider_aws.close(ctx);
	dg_provider_aws.close(NULL);
	return tap_done();
}
