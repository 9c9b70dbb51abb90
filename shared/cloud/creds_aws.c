/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "diagint/buf.h"
#include "cloud/creds_aws.h"
#include "cloud/jsonsecret.h"
#include "base/ini.h"
#include "base/keyfile.h"
#include "diagint/provider.h"

#define IMDS_DEFAULT "http://169.254.169.254"

static void wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void dg_aws_creds_clear(struct dg_aws_creds *c)
{
	if (!c)
		return;
	wipe_free(c->access_key_id);
	wipe_free(c->secret_access_key);
	wipe_free(c->session_token);
	free(c->ca_bundle);
	memset(c, 0, sizeof(*c));
}

bool dg_aws_creds_fresh(const struct dg_aws_creds *c, time_t now)
{
	return c->access_key_id && (!c->expiration || c->expiration - now > 300);
}

time_t dg_parse_iso8601(const char *s)
{
	struct tm tm = { 0 };
	const char *end;

	if (!s)
		return -1;
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return -1;
	if (*end == '.')
		while (*++end >= '0' && *end <= '9')
			;
	if (*end != 'Z' && strcmp(end, "+00:00"))
		return -1;
	return timegm(&tm);
}

static int set_keys(struct dg_aws_creds *c, const char *id, const char *secret, const char *token)
{
	c->access_key_id = strdup(id);
	c->secret_access_key = strdup(secret);
	c->session_token = token && *token ? strdup(token) : NULL;
	if (!c->access_key_id || !c->secret_access_key || (token && *token && !c->session_token)) {
		dg_aws_creds_clear(c);
		return -DG_FAILED;
	}
	return 0;
}

static bool truthy(const char *v)
{
	return v && !strcasecmp(v, "true");
}

/* Profiles that get their keys some other way than keys in the file. */
static const char *unsupported_key(const struct dg_ini *ini, const char *section)
{
	static const char *const keys[] = { "role_arn", "credential_process", "sso_session", "sso_start_url",
					    "web_identity_token_file", "credential_source", NULL };
	for (const char *const *k = keys; *k; k++)
		if (dg_ini_get(ini, section, *k))
			return *k;
	return NULL;
}

static int from_ini(const struct dg_ini *ini, const char *section, const char *path, const char *profile,
		    const char *kind, struct dg_aws_creds *ret, bool *found, struct dg_error *err)
{
	const char *id = dg_ini_get(ini, section, "aws_access_key_id");
	const char *secret = dg_ini_get(ini, section, "aws_secret_access_key");
	const char *token = dg_ini_get(ini, section, "aws_session_token");
	const char *other;

	if (!token)
		token = dg_ini_get(ini, section, "aws_security_token");
	*found = false;
	if (id && secret && *id && *secret) {
		if (set_keys(ret, id, secret, token) < 0)
			return dg_error_set(err, DG_FAILED, "out of memory");
		snprintf(ret->source, sizeof(ret->source), "%s %s, profile '%s'", kind, path, profile);
		*found = true;
		return 0;
	}
	if ((id && *id) != (secret && *secret))
		return dg_error_set(err, DG_USAGE, "profile '%s' in %s has %s but not %s: set both", profile, path,
				    id && *id ? "aws_access_key_id" : "aws_secret_access_key",
				    id && *id ? "aws_secret_access_key" : "aws_access_key_id");
	other = unsupported_key(ini, section);
	if (other)
		return dg_error_set(err, DG_USAGE,
				    "profile '%s' in %s gets its credentials through %s, which diagint does not support; "
				    "export them first, e.g. eval \"$(aws configure export-credentials --profile %s "
				    "--format env)\"",
				    profile, path, other, profile);
	return 0;
}

/* Read an INI file that may be absent. *ret_present false when it does not exist. */
static int load_optional(const char *env, const char *fallback, bool secret, const char *what, char **ret_path,
			 struct dg_ini *ini, bool *ret_present, struct dg_error *err)
{
	const char *p = getenv(env);
	char *text = NULL;
	size_t len = 0;
	struct dg_error e = { 0 };
	int r;

	*ret_present = false;
	r = dg_path_expand(p && *p ? p : fallback, ret_path, err);
	if (r < 0)
		return r;
	r = secret ? dg_keyfile_read(*ret_path, what, &text, &len, &e) : dg_file_read(*ret_path, what, &text, &len, &e);
	/* botocore takes keys from ~/.aws/config too: a config file that holds one is a secret like credentials
	 * and gets the same mode check (read again through the checking reader). */
	if (r == 0 && !secret && (strstr(text, "aws_secret_access_key") || strstr(text, "aws_session_token"))) {
		dg_secret_free(text, len);
		text = NULL;
		r = dg_keyfile_read(*ret_path, what, &text, &len, &e);
	}
	if (r < 0) {
		if (e.sys_errno == ENOENT && !(p && *p))
			return 0;
		if (err)
			*err = e;
		return r;
	}
	r = dg_ini_load(text, *ret_path, ini, err);
	dg_secret_free(text, len);
	if (r == 0)
		*ret_present = true;
	return r;
}

static int from_files(struct dg_aws_creds *ret, bool *found, struct dg_error *err)
{
	const char *env_profile = dg_provider_getenv((const char *const[]){ "AWS_PROFILE", "AWS_DEFAULT_PROFILE", NULL });
	const char *profile = env_profile ? env_profile : "default";
	struct dg_ini cred = { 0 }, conf = { 0 };
	char *cred_path = NULL, *conf_path = NULL, section[300];
	bool have_cred = false, have_conf = false, in_conf = false;
	const char *ca;
	int r;

	*found = false;
	r = load_optional("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials", true, "the AWS shared credentials file",
			  &cred_path, &cred, &have_cred, err);
	if (r < 0)
		goto out;
	r = load_optional("AWS_CONFIG_FILE", "~/.aws/config", false, "the AWS config file", &conf_path, &conf,
			  &have_conf, err);
	if (r < 0)
		goto out;
	/* The config file names sections "profile NAME"; botocore also accepts "default" plainly. */
	snprintf(section, sizeof(section), "profile %s", profile);
	in_conf = have_conf && dg_ini_has_section(&conf, section);
	if (!in_conf && !strcmp(profile, "default") && have_conf && dg_ini_has_section(&conf, "default")) {
		snprintf(section, sizeof(section), "default");
		in_conf = true;
	}
	if (in_conf && (ca = dg_ini_get(&conf, section, "ca_bundle")) && *ca && !(ret->ca_bundle = strdup(ca))) {
		r = dg_error_set(err, DG_FAILED, "out of memory");
		goto out;
	}
	if (have_cred) {
		r = from_ini(&cred, profile, cred_path, profile, "shared credentials file", ret, found, err);
		if (r < 0 || *found)
			goto out;
	}
	if (in_conf) {
		r = from_ini(&conf, section, conf_path, profile, "config file", ret, found, err);
		if (r < 0 || *found)
			goto out;
	}
	if (env_profile && !(have_cred && dg_ini_has_section(&cred, profile)) && !in_conf)
		r = dg_error_set(err, DG_USAGE, "AWS profile '%s' (AWS_PROFILE) is in neither %s nor %s: check the "
				 "name, or unset AWS_PROFILE", profile, cred_path, conf_path);
out:
	dg_ini_free(&cred);
	dg_ini_free(&conf);
	free(cred_path);
	free(conf_path);
	return r;
}

/* One IMDS request; the body (NUL-terminated) is moved to *ret_body on HTTP 200. */
static int imds_call(struct dg_http *http, const char *cacert, const char *method, const char *base, const char *path,
		     const char *token, char **ret_body, char *why, size_t why_len)
{
	struct dg_http_req req;
	struct dg_http_resp resp;
	struct dg_buf url = DG_BUF_INIT;
	size_t blen = strlen(base);
	int r = -1;

	dg_buf_printf(&url, "%.*s%s", (int)(blen && base[blen - 1] == '/' ? blen - 1 : blen), base, path);
	if (!dg_buf_ok(&url) || !dg_http_req_init(&req, method, dg_buf_str(&url))) {
		dg_buf_free(&url);
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	dg_buf_free(&url);
	req.idempotent = true;
	req.plain_http_ok = true; /* IMDS is link-local http by design */
	req.cacert = cacert;
	/* Off EC2 nothing answers: give up quickly, as botocore does (1 s). */
	req.connect_timeout_ms = 1000;
	req.timeout_ms = 2000;
	if (token)
		dg_http_req_header(&req, "X-aws-ec2-metadata-token: %s", token);
	else
		dg_http_req_header(&req, "X-aws-ec2-metadata-token-ttl-seconds: 21600");
	if (dg_http_do(http, &req, &resp, NULL) < 0) {
		snprintf(why, why_len, "cannot start the request");
		return -1;
	}
	if (resp.status == 200 && resp.body) {
		*ret_body = resp.body;
		resp.body = NULL;
		resp.body_len = 0;
		r = 0;
	} else if (resp.status) {
		snprintf(why, why_len, "%s %s answered HTTP %ld", method, path, resp.status);
	} else {
		snprintf(why, why_len, "%s", resp.error);
	}
	dg_http_resp_clear(&resp);
	return r;
}

int dg_aws_imds_document(const char *doc, struct dg_aws_creds *ret, char *why, size_t why_len)
{
	json_object *j = dg_json_parse_secret(doc), *v;
	const char *code, *id, *secret, *tok, *exp;
	int r = 0;

	code = j && json_object_object_get_ex(j, "Code", &v) ? json_object_get_string(v) : NULL;
	id = j && json_object_object_get_ex(j, "AccessKeyId", &v) ? json_object_get_string(v) : NULL;
	secret = j && json_object_object_get_ex(j, "SecretAccessKey", &v) ? json_object_get_string(v) : NULL;
	tok = j && json_object_object_get_ex(j, "Token", &v) ? json_object_get_string(v) : NULL;
	exp = j && json_object_object_get_ex(j, "Expiration", &v) ? json_object_get_string(v) : NULL;
	if (!id || !secret || (code && strcmp(code, "Success"))) {
		snprintf(why, why_len, "credentials document is unusable (Code %.40s)", code ? code : "missing");
		goto out;
	}
	if (set_keys(ret, id, secret, tok) < 0) {
		r = -DG_FAILED;
		goto out;
	}
	ret->expiration = exp ? dg_parse_iso8601(exp) : 0;
	if (ret->expiration < 0)
		ret->expiration = 0;
	r = 1;
out:
	dg_json_put_secret(j);
	return r;
}

static int from_imds(struct dg_http *http, const char *cacert, struct dg_aws_creds *ret, bool *found, char *why,
		     size_t why_len, struct dg_error *err)
{
	const char *base = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	char *token = NULL, *roles = NULL, *doc = NULL, path[512], role[200], doc_why[200];
	int r = 0;

	*found = false;
	if (!base || !*base)
		base = IMDS_DEFAULT;
	if (imds_call(http, cacert, "PUT", base, "/latest/api/token", NULL, &token, why, why_len) < 0)
		goto out;
	if (imds_call(http, cacert, "GET", base, "/latest/meta-data/iam/security-credentials/", token, &roles, why,
		      why_len) < 0)
		goto out;
	snprintf(role, sizeof(role), "%.*s", (int)strcspn(roles, "\r\n"), roles);
	if (!role[0]) {
		snprintf(why, why_len, "the instance has no IAM role attached");
		goto out;
	}
	snprintf(path, sizeof(path), "/latest/meta-data/iam/security-credentials/%s", role);
	if (imds_call(http, cacert, "GET", base, path, token, &doc, why, why_len) < 0)
		goto out;
	r = dg_aws_imds_document(doc, ret, doc_why, sizeof(doc_why));
	if (r < 0) {
		r = dg_error_set(err, DG_FAILED, "out of memory");
		goto out;
	}
	if (r == 0) {
		snprintf(why, why_len, "the role %.100s %s", role, doc_why);
		goto out;
	}
	r = 0;
	snprintf(ret->source, sizeof(ret->source), "instance metadata (IMDSv2) at %.40s, role %.160s", base, role);
	*found = true;
out:
	if (token)
		dg_secret_free(token, strlen(token));
	free(roles);
	if (doc)
		dg_secret_free(doc, strlen(doc));
	return r;
}

int dg_aws_creds_resolve(struct dg_http *http, const char *cacert, struct dg_aws_creds *ret, struct dg_error *err)
{
	const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
	char why[512] = "";
	bool found = false;
	int r;

	memset(ret, 0, sizeof(*ret));
	if ((id && *id) || (secret && *secret)) {
		if (!(id && *id) || !(secret && *secret))
			return dg_error_set(err, DG_USAGE, "%s is set but %s is not: set both (or neither, to use "
					    "~/.aws/credentials or the instance role)",
					    id && *id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
					    id && *id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		if (set_keys(ret, id, secret,
			     dg_provider_getenv((const char *const[]){ "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", NULL })) < 0)
			return dg_error_set(err, DG_FAILED, "out of memory");
		snprintf(ret->source, sizeof(ret->source), "the environment (AWS_ACCESS_KEY_ID)");
		return 0;
	}
	r = from_files(ret, &found, err);
	if (r < 0 || found)
		return r;
	if (truthy(getenv("AWS_EC2_METADATA_DISABLED")))
		snprintf(why, sizeof(why), "the instance metadata service is off (AWS_EC2_METADATA_DISABLED=true)");
	else if (!http)
		snprintf(why, sizeof(why), "the instance metadata service was not asked");
	else {
		r = from_imds(http, cacert, ret, &found, why, sizeof(why), err);
		if (r < 0 || found)
			return r;
	}
	return dg_error_set(err, DG_DENIED,
			    "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
			    "AWS_SESSION_TOKEN), or put keys in ~/.aws/credentials (AWS_PROFILE picks the profile), or run "
			    "on EC2 with an instance role (instance metadata: %s)", why);
}
