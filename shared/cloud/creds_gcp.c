/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "diagint/buf.h"
#include "cloud/creds_gcp.h"
#include "base/encode.h"
#include "cloud/jsonsecret.h"
#include "cloud/jwt.h"
#include "base/keyfile.h"

#define DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"

static void wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void dg_gcp_auth_clear(struct dg_gcp_auth *a)
{
	if (!a)
		return;
	free(a->token_uri);
	free(a->client_email);
	free(a->private_key_id);
	EVP_PKEY_free(a->key);
	free(a->client_id);
	wipe_free(a->client_secret);
	wipe_free(a->refresh_token);
	free(a->metadata_host);
	wipe_free(a->token);
	memset(a, 0, sizeof(*a));
}

bool dg_token_fresh(const char *token, time_t expires, time_t now)
{
	return token && expires - now > DG_TOKEN_REFRESH_MARGIN;
}

static const char *jstr(json_object *j, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(j, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int dup_field(json_object *j, const char *key, const char *path, char **out, struct dg_error *err)
{
	const char *v = jstr(j, key);

	if (!v || !*v)
		return dg_error_set(err, DG_USAGE, "Google credentials file %s has no \"%s\": use the file as Google "
				    "issued it (gcloud iam service-accounts keys create)", path, key);
	*out = strdup(v);
	return *out ? 0 : dg_error_set(err, DG_FAILED, "out of memory");
}

static int load_file(struct dg_gcp_auth *a, const char *path, const char *how, struct dg_error *err)
{
	char *text = NULL;
	size_t len = 0;
	json_object *j = NULL;
	const char *type, *uri, *pem;
	int r;

	r = dg_keyfile_read(path, "the Google credentials file", &text, &len, err);
	if (r < 0)
		return r;
	j = dg_json_parse_secret(text);
	if (!j || !json_object_is_type(j, json_type_object)) {
		r = dg_error_set(err, DG_USAGE, "Google credentials file %s (%s) is not JSON: use the file as Google "
				 "issued it (gcloud iam service-accounts keys create)", path, how);
		goto out;
	}
	type = jstr(j, "type");
	uri = jstr(j, "token_uri");
	if (!(a->token_uri = strdup(uri && *uri ? uri : DEFAULT_TOKEN_URI))) {
		r = dg_error_set(err, DG_FAILED, "out of memory");
		goto out;
	}
	if (type && !strcmp(type, "service_account")) {
		a->kind = DG_GCP_SERVICE_ACCOUNT;
		if ((r = dup_field(j, "client_email", path, &a->client_email, err)) < 0)
			goto out;
		pem = jstr(j, "private_key");
		if (!pem || !*pem) {
			r = dg_error_set(err, DG_USAGE, "Google credentials file %s has no \"private_key\": use the file as "
					 "Google issued it (gcloud iam service-accounts keys create)", path);
			goto out;
		}
		if (jstr(j, "private_key_id") && !(a->private_key_id = strdup(jstr(j, "private_key_id")))) {
			r = dg_error_set(err, DG_FAILED, "out of memory");
			goto out;
		}
		r = dg_key_load_pem(pem, strlen(pem), NULL, "the service account's private_key", "(none: service "
				    "account keys are not encrypted)", &a->key, err);
		if (r < 0)
			goto out;
		snprintf(a->source, sizeof(a->source), "service account %s (%s %s)", a->client_email, how, path);
	} else if (type && !strcmp(type, "authorized_user")) {
		a->kind = DG_GCP_AUTHORIZED_USER;
		if ((r = dup_field(j, "client_id", path, &a->client_id, err)) < 0 ||
		    (r = dup_field(j, "client_secret", path, &a->client_secret, err)) < 0 ||
		    (r = dup_field(j, "refresh_token", path, &a->refresh_token, err)) < 0)
			goto out;
		snprintf(a->source, sizeof(a->source), "user credentials (%s %s)", how, path);
	} else {
		r = dg_error_set(err, DG_USAGE, "Google credentials file %s has type \"%s\"; diagint supports "
				 "service_account and authorized_user", path, type ? type : "(none)");
	}
out:
	dg_json_put_secret(j);
	dg_secret_free(text, len);
	return r;
}

int dg_gcp_auth_init(struct dg_gcp_auth *a, struct dg_error *err)
{
	const char *gac = getenv("GOOGLE_APPLICATION_CREDENTIALS"), *cfg = getenv("CLOUDSDK_CONFIG");
	const char *host = getenv("GCE_METADATA_HOST");
	struct dg_error e = { 0 };
	char *adc = NULL;
	int r;

	memset(a, 0, sizeof(*a));
	if (gac && *gac) {
		r = load_file(a, gac, "GOOGLE_APPLICATION_CREDENTIALS", err);
		goto out;
	}
	if (cfg && *cfg)
		r = asprintf(&adc, "%s/application_default_credentials.json", cfg) < 0 ? -DG_FAILED : 0;
	else
		r = dg_path_expand("~/.config/gcloud/application_default_credentials.json", &adc, err);
	if (r < 0) {
		adc = NULL;
		/* No HOME: no ADC file; the metadata server remains. */
	} else {
		r = load_file(a, adc, "gcloud's application default credentials", &e);
		if (r == 0 || e.sys_errno != ENOENT) {
			if (r < 0 && err)
				*err = e;
			goto out;
		}
	}
	dg_gcp_auth_clear(a);
	a->kind = DG_GCP_METADATA;
	if (!(a->metadata_host = strdup(host && *host ? host : "metadata.google.internal"))) {
		r = dg_error_set(err, DG_FAILED, "out of memory");
		goto out;
	}
	snprintf(a->source, sizeof(a->source), "the metadata server %s (no GOOGLE_APPLICATION_CREDENTIALS, no gcloud "
		 "application default credentials)", a->metadata_host);
	r = 0;
out:
	free(adc);
	if (r < 0)
		dg_gcp_auth_clear(a);
	return r;
}

static int form_field(struct dg_buf *b, const char *name, const char *value)
{
	dg_buf_printf(b, "%s%s=", b->len ? "&" : "", name);
	dg_uri_encode(b, value, strlen(value), false);
	return dg_buf_ok(b) ? 0 : -1;
}

static int token_request(struct dg_gcp_auth *a, const char *cacert, struct dg_http_req *req, struct dg_error *err)
{
	struct dg_buf body = DG_BUF_INIT, url = DG_BUF_INIT;
	char *jwt = NULL;
	int r = 0;

	if (a->kind == DG_GCP_METADATA) {
		dg_buf_printf(&url, "http://%s/computeMetadata/v1/instance/service-accounts/default/token", a->metadata_host);
		if (!dg_buf_ok(&url) || !dg_http_req_init(req, "GET", dg_buf_str(&url)) ||
		    !dg_http_req_header(req, "Metadata-Flavor: Google")) {
			r = dg_error_set(err, DG_FAILED, "out of memory");
			goto out;
		}
		req->idempotent = true;
		req->plain_http_ok = true; /* the metadata server is link-local http by design */
		req->connect_timeout_ms = 1000;
		req->timeout_ms = 5000;
		goto out;
	}
	if (a->kind == DG_GCP_SERVICE_ACCOUNT) {
		json_object *claims = json_object_new_object();
		time_t now = time(NULL);

		json_object_object_add(claims, "iss", json_object_new_string(a->client_email));
		json_object_object_add(claims, "scope", json_object_new_string(DG_GCP_SCOPE));
		json_object_object_add(claims, "aud", json_object_new_string(a->token_uri));
		json_object_object_add(claims, "iat", json_object_new_int64(now));
		json_object_object_add(claims, "exp", json_object_new_int64(now + 3600));
		r = dg_jwt_rs256(a->key, a->private_key_id, claims, &jwt, err);
		json_object_put(claims);
		if (r < 0)
			goto out;
		if (form_field(&body, "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer") < 0 ||
		    form_field(&body, "assertion", jwt) < 0)
			goto oom;
	} else {
		if (form_field(&body, "grant_type", "refresh_token") < 0 || form_field(&body, "client_id", a->client_id) < 0 ||
		    form_field(&body, "client_secret", a->client_secret) < 0 ||
		    form_field(&body, "refresh_token", a->refresh_token) < 0)
			goto oom;
	}
	if (!dg_http_req_init(req, "POST", a->token_uri) ||
	    !dg_http_req_header(req, "Content-Type: application/x-www-form-urlencoded") ||
	    !dg_http_req_body(req, body.data, body.len))
		goto oom;
	/* A token request changes nothing: safe to repeat. */
	req->idempotent = true;
	req->secret_body = true;
	req->cacert = cacert;
	goto out;
oom:
	r = dg_error_set(err, DG_FAILED, "out of memory");
out:
	if (jwt)
		dg_secret_free(jwt, strlen(jwt));
	dg_buf_free_secret(&body);
	dg_buf_free(&url);
	return r;
}

int dg_gcp_token_answer(struct dg_gcp_auth *a, const struct dg_http_resp *resp, time_t now, struct dg_error *err)
{
	json_object *j = NULL, *v;
	const char *tok, *e1, *e2;
	int64_t expires_in = 3600;
	int r = 0;

	j = dg_json_parse_secret(resp->body);
	if (resp->status != 200) {
		e1 = j ? jstr(j, "error") : NULL;
		e2 = j ? jstr(j, "error_description") : NULL;
		r = dg_error_set(err, resp->status >= 500 ? DG_UNAVAILABLE : DG_DENIED,
				 "cannot get a Google access token for %s: HTTP %ld %s%s%s", a->source, resp->status,
				 e1 ? e1 : "", e2 ? ": " : "", e2 ? e2 : "");
		goto out;
	}
	if (a->kind == DG_GCP_METADATA) {
		const char *flavor = dg_http_resp_header(resp, "metadata-flavor");
		if (!flavor || strcmp(flavor, "Google")) {
			r = dg_error_set(err, DG_DENIED, "%s answered without Metadata-Flavor: Google: not a GCE metadata "
					 "server", a->metadata_host);
			goto out;
		}
	}
	tok = j ? jstr(j, "access_token") : NULL;
	if (!tok || !*tok) {
		r = dg_error_set(err, DG_DENIED, "the token answer for %s has no access_token", a->source);
		goto out;
	}
	if (!dg_http_token_valid(tok)) {
		r = dg_error_set(err, DG_FAILED, "the token answer for %s holds an access_token that is not a token "
				 "(control characters or spaces, or longer than 8192): refusing to send it on", a->source);
		goto out;
	}
	if (j && json_object_object_get_ex(j, "expires_in", &v))
		expires_in = json_object_get_int64(v);
	/* Google says 3599: anything past a day (INT64_MAX overflowed now + expires_in) is held to a day. */
	if (expires_in < 0)
		expires_in = 0;
	if (expires_in > 86400)
		expires_in = 86400;
	if (a->token)
		dg_secret_free(a->token, strlen(a->token));
	a->token = strdup(tok);
	if (!a->token) {
		r = dg_error_set(err, DG_FAILED, "out of memory");
		goto out;
	}
	a->expires = now + expires_in;
	a->fetches++;
out:
	dg_json_put_secret(j);
	return r;
}

int dg_gcp_auth_token(struct dg_gcp_auth *a, struct dg_http *http, const char *cacert, struct dg_error *err)
{
	struct dg_http_req req = { 0 };
	struct dg_http_resp resp = { 0 };
	time_t now = time(NULL);
	int r;

	if (dg_token_fresh(a->token, a->expires, now))
		return 0;
	r = token_request(a, cacert, &req, err);
	if (r < 0) {
		dg_http_req_clear(&req);
		return r;
	}
	r = dg_http_do(http, &req, &resp, err);
	if (r < 0)
		return r;
	if (resp.status == 0) {
		if (a->kind == DG_GCP_METADATA)
			r = dg_error_set(err, DG_DENIED,
					 "no Google credentials: GOOGLE_APPLICATION_CREDENTIALS is not set, gcloud's "
					 "application default credentials do not exist (gcloud auth application-default "
					 "login), and the metadata server %s did not answer (%s)",
					 a->metadata_host, resp.error);
		else {
			bool retry;
			r = dg_http_transport_error(&resp, true, "the Google token endpoint",
						    "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE", err, &retry);
		}
	} else {
		r = dg_gcp_token_answer(a, &resp, now, err);
	}
	dg_http_resp_clear(&resp);
	return r;
}
