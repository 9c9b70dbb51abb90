/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* AWS EC2 SendDiagnosticInterrupt: a SigV4-signed Query API POST. DryRun checks permission and instance
 * without interrupting: HTTP 412 DryRunOperation means the real call would have succeeded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "diagint/buf.h"
#include "cloud/creds_aws.h"
#include "base/encode.h"
#include "diagint/provider.h"
#include "cloud/sigv4.h"

struct aws {
	struct dg_aws_creds creds;
	const char *endpoint; /* NULL: https://ec2.REGION.amazonaws.com/ */
	const char *cacert;
};

static bool valid_region(const char *s, size_t len)
{
	return len <= 32 && dg_target_charset(s, len, "a-z0-9-") && s[0] != '-' && s[len - 1] != '-';
}

static bool valid_instance(const char *s, size_t len)
{
	return (len == 10 || len == 19) && !strncmp(s, "i-", 2) && dg_target_charset(s + 2, len - 2, "0-9a-f");
}

static const struct dg_target_part parts[] = {
	{ "REGION", "lower-case letters, digits and dashes, like us-east-1", valid_region },
	{ "INSTANCE_ID", "i- and 8 or 17 lower-case hex digits", valid_instance },
};

static int aws_open(const struct dg_provider_env *env, void **ret, struct dg_error *err)
{
	struct aws *a = calloc(1, sizeof(*a));

	if (!a)
		return dg_error_set(err, DG_FAILED, "out of memory");
	a->endpoint = env->endpoint ? env->endpoint
				    : dg_provider_getenv((const char *const[]){ "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL",
										 NULL });
	a->cacert = env->cacert ? env->cacert : dg_provider_getenv((const char *const[]){ "AWS_CA_BUNDLE", NULL });
	*ret = a;
	return 0;
}

static int aws_auth(void *ctx, const struct dg_provider_env *env, struct dg_error *err)
{
	struct aws *a = ctx;

	if (dg_aws_creds_fresh(&a->creds, time(NULL)))
		return 0;
	dg_aws_creds_clear(&a->creds);
	if (dg_aws_creds_resolve(env->http, a->cacert, &a->creds, err) < 0)
		return -(int)err->status;
	if (!a->cacert && a->creds.ca_bundle)
		a->cacert = a->creds.ca_bundle;
	return 0;
}

static void aws_close(void *ctx)
{
	struct aws *a = ctx;

	if (!a)
		return;
	dg_aws_creds_clear(&a->creds);
	free(a);
}

static int aws_request(void *ctx, const struct dg_target *t, const struct dg_step *step, struct dg_http_req *req,
		       struct dg_error *err)
{
	struct aws *a = ctx;
	struct dg_buf url = DG_BUF_INIT, host = DG_BUF_INIT, path = DG_BUF_INIT, query = DG_BUF_INIT,
		      body = DG_BUF_INIT;
	const char *ctype = "application/x-www-form-urlencoded; charset=utf-8";
	struct dg_sigv4 sig = { 0 };
	int r;

	if (a->endpoint)
		dg_buf_puts(&url, a->endpoint);
	else
		dg_buf_printf(&url, "https://ec2.%s.amazonaws.com/", t->part[0]);
	r = dg_http_url_parts(dg_buf_str(&url), &host, &path, &query, err);
	if (r < 0)
		goto out;
	dg_buf_puts(&body, "Action=SendDiagnosticInterrupt&InstanceId=");
	dg_uri_encode(&body, t->part[1], strlen(t->part[1]), false);
	if (step->dry_run)
		dg_buf_puts(&body, "&DryRun=true");
	dg_buf_puts(&body, "&Version=2016-11-15");
	if (!dg_buf_ok(&body) || !dg_buf_ok(&url)) {
		r = dg_error_set(err, DG_FAILED, "out of memory");
		goto out;
	}
	{
		const struct dg_sigv4_header hs[] = { { "content-type", ctype }, { "host", dg_buf_str(&host) } };
		const struct dg_sigv4_request sr = { .method = "POST", .path = dg_buf_str(&path),
						     .query = dg_buf_str(&query), .headers = hs, .n_headers = 2,
						     .body = body.data, .body_len = body.len };
		const struct dg_sigv4_key key = { a->creds.access_key_id, a->creds.secret_access_key,
						  a->creds.session_token };
		const struct dg_sigv4_opts o = { .region = t->part[0], .service = "ec2", .when = time(NULL),
						 .normalize_path = true };
		r = dg_sigv4_sign(&sr, &key, &o, &sig, err);
		if (r < 0)
			goto out;
	}
	if (!dg_http_req_init(req, "POST", dg_buf_str(&url)) || !dg_http_req_header(req, "Host: %s", dg_buf_str(&host)) ||
	    !dg_http_req_header(req, "Content-Type: %s", ctype) ||
	    !dg_http_req_header(req, "X-Amz-Date: %s", sig.amz_date) ||
	    (a->creds.session_token && !dg_http_req_header(req, "X-Amz-Security-Token: %s", a->creds.session_token)) ||
	    !dg_http_req_header(req, "Authorization: %s", sig.authorization) || !dg_http_req_body(req, body.data, body.len)) {
		r = dg_error_set(err, DG_FAILED, "out of memory");
		goto out;
	}
	req->idempotent = step->dry_run; /* DryRun never interrupts */
	req->cacert = a->cacert;
out:
	dg_sigv4_clear(&sig);
	dg_buf_free(&url);
	dg_buf_free(&host);
	dg_buf_free(&path);
	dg_buf_free(&query);
	dg_buf_free(&body);
	return r;
}

/* The text of the first element named `name` (any namespace), or "". */
static void xml_find(xmlNode *n, const char *name, char *out, size_t len)
{
	for (; n && !out[0]; n = n->next) {
		if (n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name)) {
			xmlChar *c = xmlNodeGetContent(n);
			snprintf(out, len, "%s", c ? (const char *)c : "");
			xmlFree(c);
			return;
		}
		xml_find(n->children, name, out, len);
	}
}

struct ec2_answer {
	bool parsed;
	char code[128];
	char message[512];
	char request_id[128];
	char ret[16];  /* <return>: "true" in SendDiagnosticInterruptResponse */
};

static void parse_answer(const struct dg_http_resp *resp, struct ec2_answer *a)
{
	xmlDoc *doc;

	memset(a, 0, sizeof(*a));
	if (!resp->body || !resp->body_len)
		return;
	doc = xmlReadMemory(resp->body, (int)resp->body_len, "ec2.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc)
		return;
	a->parsed = true;
	xml_find(xmlDocGetRootElement(doc), "Code", a->code, sizeof(a->code));
	xml_find(xmlDocGetRootElement(doc), "Message", a->message, sizeof(a->message));
	xml_find(xmlDocGetRootElement(doc), "RequestID", a->request_id, sizeof(a->request_id));
	xml_find(xmlDocGetRootElement(doc), "return", a->ret, sizeof(a->ret));
	if (!a->request_id[0])
		xml_find(xmlDocGetRootElement(doc), "RequestId", a->request_id, sizeof(a->request_id));
	if (!a->request_id[0])
		xml_find(xmlDocGetRootElement(doc), "requestId", a->request_id, sizeof(a->request_id));
	xmlFreeDoc(doc);
}

static bool is(const char *code, const char *name)
{
	return !strcmp(code, name);
}

static void aws_judge(void *ctx, const struct dg_target *t, const struct dg_step *step, const struct dg_http_resp *resp,
		      struct dg_verdict *v)
{
	struct aws *a = ctx;
	struct ec2_answer ans;
	const char *id = t->part[1], *region = t->part[0];
	const char *c;
	char excerpt[200];

	parse_answer(resp, &ans);
	c = ans.code;
	if (resp->status == 200) {
		if (step->dry_run)
			dg_verdict_set(v, DG_OK, "dry run: EC2 answered 200 to DryRun (it would have succeeded)");
		else if (!strcmp(ans.ret, "true"))
			dg_verdict_set(v, DG_OK, "diagnostic interrupt sent");
		else
			/* A proxy's page, a captive portal, an empty body: not EC2 saying yes. The request did go out,
			 * so it is not sent again either. */
			dg_verdict_set(v, DG_FAILED, "HTTP 200 from %s but not EC2's answer (no <return>true</return>%s%.80s): "
				       "the interrupt may or may not have reached %s; check its console before sending again",
				       resp->host, resp->body_len ? "; the answer begins: " : ", an empty body",
				       resp->body_len ? resp->body : "", id);
	} else if (is(c, "DryRunOperation")) {
		dg_verdict_set(v, step->dry_run ? DG_OK : DG_FAILED,
			       "dry run: permission and instance check out (DryRunOperation), nothing was sent");
	} else if (is(c, "UnauthorizedOperation") || (resp->status == 403 && !c[0])) {
		dg_verdict_set(v, DG_DENIED,
			       "not authorized: the identity from %s needs ec2:SendDiagnosticInterrupt on "
			       "arn:aws:ec2:%s:ACCOUNT:instance/%s (add it to its IAM policy)%s%s",
			       a->creds.source, region, id, ans.message[0] ? "; EC2 said: " : "", ans.message);
	} else if (is(c, "AuthFailure") || is(c, "InvalidClientTokenId") || is(c, "SignatureDoesNotMatch") ||
		   is(c, "IncompleteSignature") || is(c, "MissingAuthenticationToken") || resp->status == 401) {
		dg_verdict_set(v, DG_DENIED,
			       "EC2 rejected the credentials from %s (%s: %s); check the access key and secret, and that "
			       "this host's clock is right",
			       a->creds.source, c[0] ? c : "HTTP 401", ans.message);
	} else if (is(c, "ExpiredToken") || is(c, "RequestExpired")) {
		dg_verdict_set(v, DG_DENIED, "EC2: %s (%s); renew the session token from %s, or fix this host's clock",
			       c, ans.message, a->creds.source);
	} else if (is(c, "InvalidInstanceID.NotFound")) {
		dg_verdict_set(v, DG_NOTFOUND, "instance %s not found in %s (InvalidInstanceID.NotFound); check the ID "
			       "and the region", id, region);
	} else if (is(c, "InvalidInstanceID.Malformed")) {
		dg_verdict_set(v, DG_USAGE, "EC2 says instance ID %s is malformed: %s", id, ans.message);
	} else if (is(c, "IncorrectInstanceState") || is(c, "IncorrectState")) {
		dg_verdict_set(v, DG_NOTFOUND, "instance %s is not in a state that accepts a diagnostic interrupt "
			       "(%s: %s); it must be running", id, c, ans.message);
	} else if (is(c, "UnsupportedOperation")) {
		dg_verdict_set(v, DG_NOTFOUND, "instance %s does not support diagnostic interrupts (%s): they need a "
			       "Nitro-based instance type other than A1", id, ans.message);
	} else if (is(c, "RequestLimitExceeded") || is(c, "Throttling") || is(c, "ThrottlingException") ||
		   resp->status == 429) {
		dg_verdict_throttled(v, resp, "throttled by EC2 (%s)", c[0] ? c : "HTTP 429");
	} else if (resp->status >= 500) {
		char detail[700];
		snprintf(detail, sizeof(detail), "%s%s%s", c, c[0] ? ": " : "", ans.message);
		dg_verdict_server_error(v, resp, "EC2", step, ans.parsed ? detail : "");
	} else {
		dg_provider_excerpt(resp, excerpt, sizeof(excerpt));
		dg_verdict_set(v, DG_FAILED, "EC2 refused the request: HTTP %ld %s%s%s", resp->status,
			       c[0] ? c : (ans.parsed ? "" : excerpt), ans.message[0] ? ": " : "", ans.message);
	}
	if (ans.request_id[0]) {
		snprintf(v->err.request_id, sizeof(v->err.request_id), "%s", ans.request_id);
		dg_error_one_line(v->err.request_id);
	} else
		dg_verdict_request_id_header(v, resp, (const char *const[]){ "x-amzn-requestid", "x-amz-request-id", NULL });
}

const struct dg_provider dg_provider_aws = {
	.name = "aws",
	.title = "AWS EC2 SendDiagnosticInterrupt",
	.example = "aws:us-east-1/i-0123456789abcdef0",
	.parts = parts,
	.n_parts = 2,
	.api = "the EC2 API",
	.cacert_env = "AWS_CA_BUNDLE",
	.open = aws_open,
	.auth = aws_auth,
	.close = aws_close,
	.request = aws_request,
	.judge = aws_judge,
};
