/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Google Compute Engine instances.sendDiagnosticInterrupt: POST with a Bearer token, empty body, HTTP 200 with
 * an empty body on success. A dry run reads the instance (it must be RUNNING) and asks testIamPermissions for
 * compute.instances.sendDiagnosticInterrupt: neither interrupts anything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "diagint/buf.h"
#include "cloud/creds_gcp.h"
#include "base/encode.h"
#include "diagint/provider.h"

#define PERMISSION "compute.instances.sendDiagnosticInterrupt"

struct gcp {
	struct dg_gcp_auth auth;
	char *base; /* ends with '/': https://compute.googleapis.com/compute/v1/ */
	const char *cacert;
};

static bool valid_project(const char *s, size_t len)
{
	/* Project IDs, and the older domain-scoped "example.com:project". */
	return len >= 1 && len <= 100 && dg_target_charset(s, len, "a-z0-9.:-");
}

static bool valid_zone(const char *s, size_t len)
{
	return len <= 63 && dg_target_charset(s, len, "a-z0-9-") && s[0] != '-';
}

static bool valid_instance(const char *s, size_t len)
{
	/* A name (RFC 1035 label) or a numeric id. */
	if (dg_target_charset(s, len, "0-9"))
		return len <= 20;
	return len <= 63 && s[0] >= 'a' && s[0] <= 'z' && s[len - 1] != '-' && dg_target_charset(s, len, "a-z0-9-");
}

static const struct dg_target_part parts[] = {
	{ "PROJECT", "a project ID: lower-case letters, digits, dashes", valid_project },
	{ "ZONE", "a zone like us-central1-a", valid_zone },
	{ "INSTANCE", "an instance name (lower-case letters, digits, dashes) or numeric id", valid_instance },
};

static int gcp_open(const struct dg_provider_env *env, void **ret, struct dg_error *err)
{
	const char *ep = env->endpoint ? env->endpoint
				       : dg_provider_getenv((const char *const[]){ "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE",
										   NULL });
	struct dg_buf path = DG_BUF_INIT;
	struct gcp *g;
	int r;

	g = calloc(1, sizeof(*g));
	if (!g)
		return dg_error_set(err, DG_FAILED, "out of memory");
	if (!ep)
		ep = "https://compute.googleapis.com/compute/v1/";
	r = dg_http_url_parts(ep, NULL, &path, NULL, err);
	if (r < 0) {
		free(g);
		return r;
	}
	/* A bare https://host:port means the API at its usual path; a URL with a path is the API root (gcloud's
	 * override form). */
	if (asprintf(&g->base, "%s%s%s", ep, ep[strlen(ep) - 1] == '/' ? "" : "/",
		     !strcmp(dg_buf_str(&path), "/") ? "compute/v1/" : "") < 0) {
		dg_buf_free(&path);
		free(g);
		return dg_error_set(err, DG_FAILED, "out of memory");
	}
	dg_buf_free(&path);
	g->cacert = env->cacert ? env->cacert
				: dg_provider_getenv((const char *const[]){ "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE", NULL });
	r = dg_gcp_auth_init(&g->auth, err);
	if (r < 0) {
		free(g->base);
		free(g);
		return r;
	}
	*ret = g;
	return 0;
}

static int gcp_auth(void *ctx, const struct dg_provider_env *env, struct dg_error *err)
{
	struct gcp *g = ctx;

	return dg_gcp_auth_token(&g->auth, env->http, g->cacert, err);
}

static void gcp_close(void *ctx)
{
	struct gcp *g = ctx;

	if (!g)
		return;
	dg_gcp_auth_clear(&g->auth);
	free(g->base);
	free(g);
}

static int gcp_request(void *ctx, const struct dg_target *t, const struct dg_step *step, struct dg_http_req *req,
		       struct dg_error *err)
{
	static const char body[] = "{\"permissions\":[\"" PERMISSION "\"]}";
	struct gcp *g = ctx;
	struct dg_buf url = DG_BUF_INIT;
	const char *method = "POST";
	int r = 0;

	dg_buf_printf(&url, "%sprojects/", g->base);
	dg_uri_encode(&url, t->part[0], strlen(t->part[0]), false);
	dg_buf_printf(&url, "/zones/%s/instances/%s", t->part[1], t->part[2]);
	if (!step->dry_run)
		dg_buf_puts(&url, "/sendDiagnosticInterrupt");
	else if (step->index == 0) {
		dg_buf_puts(&url, "?fields=id,name,status");
		method = "GET";
	} else
		dg_buf_puts(&url, "/testIamPermissions");
	if (!dg_buf_ok(&url) || !dg_http_req_init(req, method, dg_buf_str(&url)) ||
	    !dg_http_req_header(req, "Authorization: Bearer %s", g->auth.token) ||
	    !dg_http_req_header(req, "Accept: application/json") ||
	    (step->dry_run && step->index == 1 &&
	     (!dg_http_req_header(req, "Content-Type: application/json") || !dg_http_req_body(req, body, sizeof(body) - 1))) ||
	    (!step->dry_run && !dg_http_req_header(req, "Content-Type: application/json")))
		r = dg_error_set(err, DG_FAILED, "out of memory");
	req->idempotent = step->dry_run;
	req->cacert = g->cacert;
	dg_buf_free(&url);
	return r;
}

struct gerror {
	long code;
	char message[512];
	char reason[64];
	char status[64];
	char request_id[128];
};

static void parse_error(json_object *j, struct gerror *e)
{
	json_object *err, *v, *list;

	memset(e, 0, sizeof(*e));
	if (!j || !json_object_object_get_ex(j, "error", &err) || !json_object_is_type(err, json_type_object))
		return;
	if (json_object_object_get_ex(err, "code", &v))
		e->code = json_object_get_int(v);
	if (json_object_object_get_ex(err, "message", &v))
		snprintf(e->message, sizeof(e->message), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(err, "status", &v))
		snprintf(e->status, sizeof(e->status), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(err, "errors", &list) && json_object_is_type(list, json_type_array) &&
	    json_object_array_length(list) > 0 &&
	    json_object_object_get_ex(json_object_array_get_idx(list, 0), "reason", &v))
		snprintf(e->reason, sizeof(e->reason), "%s", json_object_get_string(v));
	/* google.rpc.RequestInfo carries the request id, when the API gives one. */
	if (json_object_object_get_ex(err, "details", &list) && json_object_is_type(list, json_type_array))
		for (size_t i = 0; i < json_object_array_length(list); i++)
			if (json_object_object_get_ex(json_object_array_get_idx(list, i), "requestId", &v))
				snprintf(e->request_id, sizeof(e->request_id), "%s", json_object_get_string(v));
}

/* sendDiagnosticInterrupt answers 200 with an empty body (verified; not an Operation as most instance methods
 * do). Whitespace, or a JSON object without "error" (an Operation, should Google change it), count too; an HTML
 * page or any other text does not. */
static bool answer_is_success(const struct dg_http_resp *resp, json_object *j)
{
	size_t i = 0;

	while (resp->body && i < resp->body_len && strchr(" \t\r\n", resp->body[i]))
		i++;
	if (!resp->body || i == resp->body_len)
		return true;
	return j && json_object_is_type(j, json_type_object) && !json_object_object_get_ex(j, "error", NULL);
}

static void gcp_judge(void *ctx, const struct dg_target *t, const struct dg_step *step, const struct dg_http_resp *resp,
		      struct dg_verdict *v)
{
	struct gcp *g = ctx;
	json_object *j = resp->body && resp->body_len ? json_tokener_parse(resp->body) : NULL;
	const char *perm = step->dry_run && step->index == 0 ? "compute.instances.get" : PERMISSION;
	struct gerror e;
	char detail[700];

	parse_error(j, &e);
	snprintf(detail, sizeof(detail), "%s%s%s", e.reason, e.reason[0] && e.message[0] ? ": " : "", e.message);
	if (resp->status == 200) {
		if (!step->dry_run && !answer_is_success(resp, j)) {
			dg_verdict_set(v, DG_FAILED, "HTTP 200 from %s but not Compute Engine's answer (an empty body or a "
				       "JSON object; the answer begins: %.80s): the interrupt may or may not have reached %s; "
				       "check its serial console before sending again", resp->host, resp->body, t->part[2]);
		} else if (!step->dry_run) {
			dg_verdict_set(v, DG_OK, "diagnostic interrupt sent");
		} else if (step->index == 0) {
			json_object *st;
			const char *status = j && json_object_object_get_ex(j, "status", &st) ? json_object_get_string(st)
											     : NULL;
			if (!status) /* absent or JSON null */
				status = "UNKNOWN";
			if (strcmp(status, "RUNNING"))
				dg_verdict_set(v, DG_NOTFOUND, "dry run: instance %s is %s; a diagnostic interrupt needs "
					       "it RUNNING", t->part[2], status);
			else {
				dg_verdict_set(v, DG_OK, "instance RUNNING");
				v->next = true;
			}
		} else {
			json_object *list;
			bool granted = false;
			if (j && json_object_object_get_ex(j, "permissions", &list) &&
			    json_object_is_type(list, json_type_array))
				for (size_t i = 0; i < json_object_array_length(list); i++) {
					const char *p = json_object_get_string(json_object_array_get_idx(list, i));
					granted |= p && !strcmp(p, PERMISSION);
				}
			if (granted)
				dg_verdict_set(v, DG_OK, "dry run: instance RUNNING and %s granted; nothing was sent",
					       PERMISSION);
			else
				dg_verdict_set(v, DG_DENIED, "dry run: %s lacks the permission %s on %s (grant "
					       "roles/compute.instanceAdmin.v1 or a custom role with it)", g->auth.source,
					       PERMISSION, t->text);
		}
	} else if (resp->status == 429 || (resp->status == 403 && (!strcmp(e.reason, "rateLimitExceeded") ||
								   !strcmp(e.reason, "userRateLimitExceeded")))) {
		dg_verdict_throttled(v, resp, "throttled by Compute Engine (%s)", e.reason[0] ? e.reason : "HTTP 429");
	} else if (resp->status == 401) {
		dg_verdict_set(v, DG_DENIED, "Compute Engine rejected the access token from %s (%s); renew the "
			       "credentials (gcloud auth application-default login, or a new key)", g->auth.source, detail);
	} else if (resp->status == 403) {
		dg_verdict_set(v, DG_DENIED, "not authorized: %s needs the permission %s on project %s (role "
			       "roles/compute.instanceAdmin.v1 has it)%s%s", g->auth.source, perm, t->part[0],
			       detail[0] ? "; Compute Engine said: " : "", detail);
	} else if (resp->status == 404) {
		dg_verdict_set(v, DG_NOTFOUND, "instance %s not found in project %s, zone %s (%s)", t->part[2], t->part[0],
			       t->part[1], e.message[0] ? e.message : "HTTP 404");
	} else if (resp->status == 409 || resp->status == 412 ||
		   (resp->status == 400 && (!strcmp(e.reason, "resourceNotReady") || strstr(e.message, "not running") ||
					    strstr(e.message, "migrat")))) {
		dg_verdict_set(v, DG_NOTFOUND, "instance %s cannot take a diagnostic interrupt now (%s): it must be "
			       "RUNNING and not live-migrating", t->part[2], detail[0] ? detail : "conflict");
	} else if (resp->status >= 500) {
		dg_verdict_server_error(v, resp, "Compute Engine", step, detail);
	} else {
		char excerpt[200];
		dg_provider_excerpt(resp, excerpt, sizeof(excerpt));
		dg_verdict_set(v, DG_FAILED, "Compute Engine refused the request: HTTP %ld %s", resp->status,
			       detail[0] ? detail : excerpt);
	}
	if (e.request_id[0]) {
		snprintf(v->err.request_id, sizeof(v->err.request_id), "%s", e.request_id);
		dg_error_one_line(v->err.request_id);
	} else
		dg_verdict_request_id_header(v, resp, (const char *const[]){ "x-goog-request-id", "x-request-id", NULL });
	json_object_put(j);
}

const struct dg_provider dg_provider_gcp = {
	.name = "gcp",
	.title = "Google Compute Engine sendDiagnosticInterrupt",
	.example = "gcp:my-project/us-central1-a/web-1",
	.parts = parts,
	.n_parts = 3,
	.api = "the Compute Engine API",
	.cacert_env = "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE",
	.open = gcp_open,
	.auth = gcp_auth,
	.close = gcp_close,
	.request = gcp_request,
	.judge = gcp_judge,
};
