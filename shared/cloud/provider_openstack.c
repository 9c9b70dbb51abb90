/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* OpenStack Nova trigger_crash_dump (microversion 2.17): POST /servers/ID/action, 202 on success. The cloud
 * comes from the OS_* environment; a dry run reads the server (GET /servers/ID): it must be in a state Nova
 * accepts and not locked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "diagint/buf.h"
#include "cloud/creds_openstack.h"
#include "diagint/provider.h"

#define MICROVERSION "2.17"
#define POLICY "os_compute_api:servers:trigger_crash_dump"

struct os {
	struct dg_os_auth auth;
	const char *endpoint;
	const char *cacert;
};

static bool valid_server(const char *s, size_t len)
{
	/* Nova server IDs are UUIDs: 8-4-4-4-12 hex digits. */
	if (len != 36)
		return false;
	for (size_t i = 0; i < len; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !dg_target_charset(s + i, 1, "0-9a-fA-F"))
			return false;
	}
	return true;
}

static const struct dg_target_part parts[] = {
	{ "SERVER_ID", "a server UUID (openstack server show NAME -f value -c id)", valid_server },
};

static int os_open(const struct dg_provider_env *env, void **ret, struct dg_error *err)
{
	struct os *o = calloc(1, sizeof(*o));
	int r;

	if (!o)
		return dg_error_set(err, DG_FAILED, "out of memory");
	o->endpoint = env->endpoint;
	o->cacert = env->cacert ? env->cacert : dg_provider_getenv((const char *const[]){ "OS_CACERT", NULL });
	r = dg_os_auth_init(&o->auth, err);
	if (r < 0) {
		free(o);
		return r;
	}
	*ret = o;
	return 0;
}

static int os_auth(void *ctx, const struct dg_provider_env *env, struct dg_error *err)
{
	struct os *o = ctx;
	int r = dg_os_auth_token(&o->auth, env->http, o->cacert, err);

	if (r == 0 && !o->endpoint && !o->auth.compute_url)
		return dg_error_set(err, DG_USAGE, "Keystone's catalog for %s has no %s compute endpoint%s%s: check "
				    "OS_REGION_NAME and OS_INTERFACE, or give it with --endpoint openstack=URL",
				    o->auth.source, o->auth.interface, o->auth.region ? " in region " : "",
				    o->auth.region ? o->auth.region : "");
	return r;
}

static void os_close(void *ctx)
{
	struct os *o = ctx;

	if (!o)
		return;
	dg_os_auth_clear(&o->auth);
	free(o);
}

static int os_request(void *ctx, const struct dg_target *t, const struct dg_step *step, struct dg_http_req *req,
		      struct dg_error *err)
{
	static const char body[] = "{\"trigger_crash_dump\": null}";
	struct os *o = ctx;
	const char *base = o->endpoint ? o->endpoint : o->auth.compute_url;
	size_t blen = strlen(base);
	struct dg_buf url = DG_BUF_INIT;
	int r = 0;

	dg_buf_printf(&url, "%.*s/servers/%s%s", (int)(blen && base[blen - 1] == '/' ? blen - 1 : blen), base, t->part[0],
		      step->dry_run ? "" : "/action");
	if (!dg_buf_ok(&url) || !dg_http_req_init(req, step->dry_run ? "GET" : "POST", dg_buf_str(&url)) ||
	    !dg_http_req_header(req, "X-Auth-Token: %s", o->auth.token) ||
	    !dg_http_req_header(req, "OpenStack-API-Version: compute " MICROVERSION) ||
	    !dg_http_req_header(req, "X-OpenStack-Nova-API-Version: " MICROVERSION) ||
	    !dg_http_req_header(req, "Accept: application/json") ||
	    (!step->dry_run && (!dg_http_req_header(req, "Content-Type: application/json") ||
				!dg_http_req_body(req, body, sizeof(body) - 1))))
		r = dg_error_set(err, DG_FAILED, "out of memory");
	req->idempotent = step->dry_run;
	req->cacert = o->cacert;
	dg_buf_free(&url);
	return r;
}

/* Nova's faults: {"conflictingRequest": {"message": "...", "code": 409}} and the like. */
static void fault_message(json_object *j, char *out, size_t len)
{
	out[0] = '\0';
	if (!j || !json_object_is_type(j, json_type_object))
		return;
	json_object_object_foreach(j, key, val)
	{
		json_object *m;
		if (json_object_is_type(val, json_type_object) && json_object_object_get_ex(val, "message", &m)) {
			snprintf(out, len, "%s: %s", key, json_object_get_string(m));
			return;
		}
	}
}

static void os_judge(void *ctx, const struct dg_target *t, const struct dg_step *step, const struct dg_http_resp *resp,
		     struct dg_verdict *v)
{
	struct os *o = ctx;
	json_object *j = resp->body && resp->body_len ? json_tokener_parse(resp->body) : NULL;
	char detail[700];

	fault_message(j, detail, sizeof(detail));
	if (resp->status == 202 && !step->dry_run) {
		dg_verdict_set(v, DG_OK, "diagnostic interrupt sent (trigger_crash_dump accepted)");
	} else if (resp->status == 200 && step->dry_run) {
		json_object *srv, *x;
		const char *status = "UNKNOWN";
		bool locked = false;
		if (j && json_object_object_get_ex(j, "server", &srv)) {
			if (json_object_object_get_ex(srv, "status", &x) && json_object_get_string(x))
				status = json_object_get_string(x);
			if (json_object_object_get_ex(srv, "locked", &x))
				locked = json_object_get_boolean(x);
		}
		if (locked)
			dg_verdict_set(v, DG_NOTFOUND, "dry run: server %s is locked; Nova would refuse (409)", t->part[0]);
		else if (strcmp(status, "ACTIVE") && strcmp(status, "PAUSED") && strcmp(status, "RESCUE") &&
			 strcmp(status, "VERIFY_RESIZE") && strcmp(status, "ERROR"))
			dg_verdict_set(v, DG_NOTFOUND, "dry run: server %s is %s; trigger_crash_dump needs ACTIVE, PAUSED, "
				       "RESCUE, VERIFY_RESIZE or ERROR", t->part[0], status);
		else
			dg_verdict_set(v, DG_OK, "dry run: server %s and readable with %s; nothing was sent", status,
				       o->auth.source);
	} else if (resp->status == 413 || resp->status == 429) {
		dg_verdict_throttled(v, resp, "throttled by Nova (HTTP %ld)", resp->status);
	} else if (resp->status == 401) {
		dg_verdict_set(v, DG_DENIED, "Nova rejected the token of %s (HTTP 401): check the OS_* credentials",
			       o->auth.source);
	} else if (resp->status == 403) {
		dg_verdict_set(v, DG_DENIED, "not authorized: %s needs the Nova policy %s (by default the server's "
			       "project members and admins)%s%s", o->auth.source, POLICY, detail[0] ? "; Nova said: " : "",
			       detail);
	} else if (resp->status == 404) {
		dg_verdict_set(v, DG_NOTFOUND, "server %s not found (%s); check the ID and the project (OS_PROJECT_NAME)",
			       t->part[0], detail[0] ? detail : "HTTP 404");
	} else if (resp->status == 409) {
		dg_verdict_set(v, DG_NOTFOUND, "server %s cannot take a crash dump trigger now (%s): it must be ACTIVE, "
			       "PAUSED, RESCUE, VERIFY_RESIZE or ERROR, and not locked", t->part[0],
			       detail[0] ? detail : "HTTP 409");
	} else if (resp->status == 400 && strstr(detail, "not supported")) {
		dg_verdict_set(v, DG_NOTFOUND, "server %s cannot take a crash dump trigger (%s)", t->part[0], detail);
	} else if (resp->status == 406) {
		dg_verdict_set(v, DG_FAILED, "the compute API does not offer microversion " MICROVERSION
			       " (trigger_crash_dump needs Nova from Mitaka on): %s", detail);
	} else if (resp->status >= 500) {
		dg_verdict_server_error(v, resp, "Nova", step, detail);
	} else {
		char excerpt[200];
		dg_provider_excerpt(resp, excerpt, sizeof(excerpt));
		dg_verdict_set(v, DG_FAILED, "Nova refused the request: HTTP %ld %s", resp->status,
			       detail[0] ? detail : excerpt);
	}
	dg_verdict_request_id_header(v, resp,
				     (const char *const[]){ "x-openstack-request-id", "x-compute-request-id", NULL });
	json_object_put(j);
}

const struct dg_provider dg_provider_openstack = {
	.name = "openstack",
	.title = "OpenStack Nova trigger_crash_dump",
	.example = "openstack:4f2a6c1e-5b7d-4e21-9a0b-3c8d2e1f0a9b",
	.parts = parts,
	.n_parts = 1,
	.api = "the Nova API",
	.cacert_env = "OS_CACERT",
	.open = os_open,
	.auth = os_auth,
	.close = os_close,
	.request = os_request,
	.judge = os_judge,
};
