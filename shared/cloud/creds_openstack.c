/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "cloud/creds_gcp.h"
#include "cloud/creds_aws.h"
#include "cloud/creds_openstack.h"
#include "cloud/jsonsecret.h"
#include "diagint/provider.h"

static void wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void dg_os_auth_clear(struct dg_os_auth *a)
{
	if (!a)
		return;
	free(a->auth_url);
	wipe_free(a->body);
	free(a->region);
	free(a->interface);
	wipe_free(a->token);
	free(a->compute_url);
	memset(a, 0, sizeof(*a));
}

static const char *env1(const char *a, const char *b)
{
	return dg_provider_getenv((const char *const[]){ a, b, NULL });
}

/* {"name": N, "domain": {"name"|"id": D}} or {"id": I} */
static json_object *named(const char *id, const char *name, const char *domain_id, const char *domain_name)
{
	json_object *o = json_object_new_object(), *d;

	if (id) {
		json_object_object_add(o, "id", json_object_new_string(id));
		return o;
	}
	json_object_object_add(o, "name", json_object_new_string(name));
	d = json_object_new_object();
	if (domain_id)
		json_object_object_add(d, "id", json_object_new_string(domain_id));
	else
		json_object_object_add(d, "name", json_object_new_string(domain_name ? domain_name : "Default"));
	json_object_object_add(o, "domain", d);
	return o;
}

int dg_os_auth_init(struct dg_os_auth *a, struct dg_error *err)
{
	const char *url = getenv("OS_AUTH_URL"), *type = getenv("OS_AUTH_TYPE");
	const char *user = getenv("OS_USERNAME"), *user_id = getenv("OS_USER_ID"), *pw = getenv("OS_PASSWORD");
	const char *udom_id = getenv("OS_USER_DOMAIN_ID"), *udom = getenv("OS_USER_DOMAIN_NAME");
	const char *proj = env1("OS_PROJECT_NAME", "OS_TENANT_NAME"), *proj_id = env1("OS_PROJECT_ID", "OS_TENANT_ID");
	const char *pdom_id = getenv("OS_PROJECT_DOMAIN_ID"), *pdom = getenv("OS_PROJECT_DOMAIN_NAME");
	const char *ac_id = getenv("OS_APPLICATION_CREDENTIAL_ID"), *ac_name = getenv("OS_APPLICATION_CREDENTIAL_NAME");
	const char *ac_secret = getenv("OS_APPLICATION_CREDENTIAL_SECRET");
	const char *iface = getenv("OS_INTERFACE"), *region = getenv("OS_REGION_NAME");
	json_object *root = NULL, *auth, *ident, *methods;
	size_t ulen;
	bool appcred;
	int r = 0;

	memset(a, 0, sizeof(*a));
	if (!url || !*url)
		return dg_error_set(err, DG_USAGE, "openstack targets need the cloud's OS_* environment: OS_AUTH_URL is "
				    "not set (source the project's openrc file)");
	appcred = (type && strstr(type, "applicationcredential")) || (!type && ac_secret && *ac_secret);
	root = json_object_new_object();
	auth = json_object_new_object();
	ident = json_object_new_object();
	methods = json_object_new_array();
	json_object_object_add(root, "auth", auth);
	json_object_object_add(auth, "identity", ident);
	json_object_object_add(ident, "methods", methods);
	if (appcred) {
		json_object *ac;
		if (!ac_secret || !*ac_secret || (!(ac_id && *ac_id) && !(ac_name && *ac_name && (user || user_id)))) {
			r = dg_error_set(err, DG_USAGE, "application credential auth needs OS_APPLICATION_CREDENTIAL_SECRET "
					 "and OS_APPLICATION_CREDENTIAL_ID (or _NAME with OS_USERNAME)");
			goto out;
		}
		json_object_array_add(methods, json_object_new_string("application_credential"));
		ac = json_object_new_object();
		if (ac_id && *ac_id) {
			json_object_object_add(ac, "id", json_object_new_string(ac_id));
		} else {
			json_object_object_add(ac, "name", json_object_new_string(ac_name));
			json_object_object_add(ac, "user", named(user_id, user, udom_id, udom));
		}
		json_object_object_add(ac, "secret", json_object_new_string(ac_secret));
		json_object_object_add(ident, "application_credential", ac);
		snprintf(a->source, sizeof(a->source), "application credential %s at %s", ac_id && *ac_id ? ac_id : ac_name,
			 url);
	} else {
		json_object *pwo, *scope;
		if (type && *type && strcasecmp(type, "password") && strcasecmp(type, "v3password")) {
			r = dg_error_set(err, DG_USAGE, "OS_AUTH_TYPE=%s is not supported: use password or "
					 "v3applicationcredential", type);
			goto out;
		}
		if (!(user && *user) && !(user_id && *user_id)) {
			r = dg_error_set(err, DG_USAGE, "password auth needs OS_USERNAME (or OS_USER_ID) and OS_PASSWORD");
			goto out;
		}
		if (!pw || !*pw) {
			r = dg_error_set(err, DG_USAGE, "OS_PASSWORD is not set (or use an application credential)");
			goto out;
		}
		json_object_array_add(methods, json_object_new_string("password"));
		pwo = named(user_id && *user_id ? user_id : NULL, user, udom_id, udom);
		json_object_object_add(pwo, "password", json_object_new_string(pw));
		{
			json_object *p = json_object_new_object();
			json_object_object_add(p, "user", pwo);
			json_object_object_add(ident, "password", p);
		}
		if ((proj && *proj) || (proj_id && *proj_id)) {
			scope = json_object_new_object();
			json_object_object_add(scope, "project", named(proj_id && *proj_id ? proj_id : NULL, proj, pdom_id, pdom));
			json_object_object_add(auth, "scope", scope);
		}
		snprintf(a->source, sizeof(a->source), "user %s at %s", user && *user ? user : user_id, url);
	}
	ulen = strlen(url);
	while (ulen && url[ulen - 1] == '/')
		ulen--;
	if (asprintf(&a->auth_url, "%.*s%s", (int)ulen, url,
		     ulen >= 3 && !strncmp(url + ulen - 3, "/v3", 3) ? "" : "/v3") < 0)
		a->auth_url = NULL;
	a->body = dg_json_print_secret(root, JSON_C_TO_STRING_PLAIN);
	root = NULL;
	a->interface = strdup(iface && *iface ? iface : "public");
	a->region = region && *region ? strdup(region) : NULL;
	if (!a->auth_url || !a->body || !a->interface || (region && *region && !a->region))
		r = dg_error_set(err, DG_FAILED, "out of memory");
out:
	dg_json_put_secret(root);
	if (r < 0)
		dg_os_auth_clear(a);
	return r;
}

/* A member's text, "" when absent or JSON null (json_object_get_string(NULL) is NULL). */
static const char *jtext(json_object *o, const char *key)
{
	json_object *v;
	const char *s = json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;

	return s ? s : "";
}

static char *find_compute(json_object *token, const char *iface, const char *region)
{
	json_object *cat, *svc, *eps, *ep;

	if (!json_object_object_get_ex(token, "catalog", &cat) || !json_object_is_type(cat, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(cat); i++) {
		svc = json_object_array_get_idx(cat, i);
		if (strcmp(jtext(svc, "type"), "compute") || !json_object_object_get_ex(svc, "endpoints", &eps) ||
		    !json_object_is_type(eps, json_type_array))
			continue;
		for (size_t k = 0; k < json_object_array_length(eps); k++) {
			ep = json_object_array_get_idx(eps, k);
			if (strcmp(jtext(ep, "interface"), iface) || (region && strcmp(jtext(ep, "region"), region)))
				continue;
			if (jtext(ep, "url")[0])
				return strdup(jtext(ep, "url"));
		}
	}
	return NULL;
}

int dg_os_token_answer(struct dg_os_auth *a, const struct dg_http_resp *resp, time_t now, struct dg_error *err)
{
	json_object *j = NULL, *tok, *v;
	const char *subject;
	int r = 0;

	subject = dg_http_resp_header(resp, "x-subject-token");
	if (resp->status == 401 || resp->status == 403) {
		r = dg_error_set(err, DG_DENIED, "Keystone refused %s (HTTP %ld): check the OS_* credentials",
				 a->source, resp->status);
		goto out;
	}
	if (resp->status != 201 && resp->status != 200) {
		r = dg_error_set(err, resp->status >= 500 ? DG_UNAVAILABLE : DG_FAILED, "Keystone answered HTTP %ld to "
				 "the token request for %s", resp->status, a->source);
		goto out;
	}
	j = dg_json_parse_secret(resp->body);
	if (!subject || !*subject || !j || !json_object_object_get_ex(j, "token", &tok)) {
		r = dg_error_set(err, DG_FAILED, "Keystone's answer has no token (X-Subject-Token and a token body)");
		goto out;
	}
	if (!dg_http_token_valid(subject)) {
		r = dg_error_set(err, DG_FAILED, "Keystone's X-Subject-Token is not a token (control characters or "
				 "spaces, or longer than 8192): refusing to send it on");
		goto out;
	}
	wipe_free(a->token);
	free(a->compute_url);
	a->token = strdup(subject);
	a->compute_url = find_compute(tok, a->interface, a->region);
	a->expires = now + 3600;
	if (json_object_object_get_ex(tok, "expires_at", &v)) {
		time_t t = json_object_get_string(v) ? dg_parse_iso8601(json_object_get_string(v)) : -1;
		if (t > 0)
			a->expires = t;
	}
	if (!a->token) {
		r = dg_error_set(err, DG_FAILED, "out of memory");
		goto out;
	}
	a->fetches++;
out:
	dg_json_put_secret(j);
	return r;
}

int dg_os_auth_token(struct dg_os_auth *a, struct dg_http *http, const char *cacert, struct dg_error *err)
{
	struct dg_http_req req;
	struct dg_http_resp resp;
	char url[1024];
	time_t now = time(NULL);
	int r = 0;

	if (dg_token_fresh(a->token, a->expires, now))
		return 0;
	snprintf(url, sizeof(url), "%s/auth/tokens", a->auth_url);
	if (!dg_http_req_init(&req, "POST", url) || !dg_http_req_header(&req, "Content-Type: application/json") ||
	    !dg_http_req_header(&req, "Accept: application/json") || !dg_http_req_body(&req, a->body, strlen(a->body))) {
		dg_http_req_clear(&req);
		return dg_error_set(err, DG_FAILED, "out of memory");
	}
	req.idempotent = true; /* a token request changes nothing */
	req.secret_body = true;
	req.cacert = cacert;
	r = dg_http_do(http, &req, &resp, err);
	if (r < 0)
		return r;
	if (resp.status == 0) {
		bool retry;
		r = dg_http_transport_error(&resp, true, "Keystone (OS_AUTH_URL)", "OS_CACERT", err, &retry);
		goto out;
	}
	r = dg_os_token_answer(a, &resp, now, err);
out:
	dg_http_resp_clear(&resp);
	return r;
}
