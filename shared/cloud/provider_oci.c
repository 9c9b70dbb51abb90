/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Oracle Cloud Infrastructure InstanceAction SENDDIAGNOSTICINTERRUPT, signed with the API key (draft-cavage,
 * rsa-sha256). Each target carries an opc-retry-token that stays the same on every retry, so even a retry OCI
 * received twice acts once. A dry run reads the instance (GetInstance): it must be RUNNING. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "diagint/buf.h"
#include "cloud/creds_oci.h"
#include "base/encode.h"
#include "cloud/httpsig.h"
#include "diagint/provider.h"

#define EMPTY_SHA256_B64 "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="

struct oci {
	struct dg_oci_creds creds;
	const char *endpoint;
	const char *cacert;
};

static bool valid_region(const char *s, size_t len)
{
	return len <= 40 && dg_target_charset(s, len, "a-z0-9-") && s[0] != '-';
}

static bool valid_ocid(const char *s, size_t len)
{
	return len <= 255 && len > 15 && !strncmp(s, "ocid1.instance.", 15) && dg_target_charset(s, len, "a-z0-9._-");
}

static const struct dg_target_part parts[] = {
	{ "REGION", "a region identifier like us-ashburn-1", valid_region },
	{ "INSTANCE_OCID", "an instance OCID: ocid1.instance.REALM.REGION..UNIQUE (lower case)", valid_ocid },
};

static int oci_open(const struct dg_provider_env *env, void **ret, struct dg_error *err)
{
	struct oci *o = calloc(1, sizeof(*o));
	int r;

	if (!o)
		return dg_error_set(err, DG_FAILED, "out of memory");
	o->endpoint = env->endpoint;
	o->cacert = env->cacert ? env->cacert
				: dg_provider_getenv((const char *const[]){ "OCI_CLI_CERT_BUNDLE", "REQUESTS_CA_BUNDLE", NULL });
	r = dg_oci_creds_load(&o->creds, err);
	if (r < 0) {
		free(o);
		return r;
	}
	*ret = o;
	return 0;
}

static void oci_close(void *ctx)
{
	struct oci *o = ctx;

	if (!o)
		return;
	dg_oci_creds_clear(&o->creds);
	free(o);
}

static int oci_request(void *ctx, const struct dg_target *t, const struct dg_step *step, struct dg_http_req *req,
		       struct dg_error *err)
{
	struct oci *o = ctx;
	struct dg_buf url = DG_BUF_INIT, host = DG_BUF_INIT, path = DG_BUF_INIT, query = DG_BUF_INIT,
		      target = DG_BUF_INIT;
	char date[64], *auth = NULL;
	const char *method = step->dry_run ? "GET" : "POST";
	time_t now = time(NULL);
	struct tm tm;
	int r;

	if (o->endpoint)
		dg_buf_printf(&url, "%s%s", o->endpoint, o->endpoint[strlen(o->endpoint) - 1] == '/' ? "" : "/");
	else
		dg_buf_printf(&url, "https://iaas.%s.oraclecloud.com/", t->part[0]);
	dg_buf_puts(&url, "20160918/instances/");
	dg_uri_encode(&url, t->part[1], strlen(t->part[1]), false);
	if (!step->dry_run)
		dg_buf_puts(&url, "?action=SENDDIAGNOSTICINTERRUPT");
	if (!dg_buf_ok(&url)) {
		r = dg_error_set(err, DG_FAILED, "out of memory");
		goto out;
	}
	r = dg_http_url_parts(dg_buf_str(&url), &host, &path, &query, err);
	if (r < 0)
		goto out;
	dg_buf_printf(&target, "%s%s%s", dg_buf_str(&path), query.len ? "?" : "", dg_buf_str(&query));
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	{
		const struct dg_httpsig_header hs[] = {
			{ "date", date },
			{ "(request-target)", NULL },
			{ "host", dg_buf_str(&host) },
			{ "content-length", "0" },
			{ "content-type", "application/json" },
			{ "x-content-sha256", EMPTY_SHA256_B64 },
		};
		r = dg_httpsig_sign(o->creds.key, o->creds.key_id, method, dg_buf_str(&target), hs, step->dry_run ? 3 : 6,
				    &auth, NULL, err);
		if (r < 0)
			goto out;
	}
	if (!dg_http_req_init(req, method, dg_buf_str(&url)) || !dg_http_req_header(req, "Date: %s", date) ||
	    !dg_http_req_header(req, "Host: %s", dg_buf_str(&host)) || !dg_http_req_header(req, "Accept: application/json") ||
	    !dg_http_req_header(req, "Authorization: %s", auth) ||
	    !dg_http_req_header(req, "opc-request-id: diagint-%.16s", step->client_token) ||
	    (!step->dry_run &&
	     (!dg_http_req_header(req, "Content-Type: application/json") ||
	      !dg_http_req_header(req, "x-content-sha256: %s", EMPTY_SHA256_B64) ||
	      !dg_http_req_header(req, "opc-retry-token: %s", step->client_token)))) {
		r = dg_error_set(err, DG_FAILED, "out of memory");
		goto out;
	}
	req->idempotent = step->dry_run;
	req->cacert = o->cacert;
out:
	free(auth);
	dg_buf_free(&url);
	dg_buf_free(&host);
	dg_buf_free(&path);
	dg_buf_free(&query);
	dg_buf_free(&target);
	return r;
}

/* A member's text, "" when absent or JSON null (json_object_get_string(NULL) is NULL). */
static const char *jtext(json_object *j, const char *key)
{
	json_object *x;
	const char *s = j && json_object_object_get_ex(j, key, &x) ? json_object_get_string(x) : NULL;

	return s ? s : "";
}

static void oci_judge(void *ctx, const struct dg_target *t, const struct dg_step *step, const struct dg_http_resp *resp,
		      struct dg_verdict *v)
{
	struct oci *o = ctx;
	json_object *j = resp->body && resp->body_len ? json_tokener_parse(resp->body) : NULL;
	const char *code = jtext(j, "code"), *msg = jtext(j, "message");
	char detail[700];

	snprintf(detail, sizeof(detail), "%s%s%s", code, code[0] && msg[0] ? ": " : "", msg);
	if (resp->status == 200) {
		const char *state = jtext(j, "lifecycleState"), *id = jtext(j, "id");

		if (!step->dry_run && strcmp(id, t->part[1]))
			/* OCI answers the action with the instance itself: anything else is not OCI saying yes. */
			dg_verdict_set(v, DG_FAILED, "HTTP 200 from %s but not OCI's answer (the instance %s as JSON; the "
				       "answer begins: %.80s): the interrupt may or may not have reached it; check its console "
				       "before sending again", resp->host, t->part[1], resp->body ? resp->body : "");
		else if (!step->dry_run)
			dg_verdict_set(v, DG_OK, "diagnostic interrupt sent");
		else if (strcmp(state, "RUNNING"))
			dg_verdict_set(v, DG_NOTFOUND, "dry run: instance is %s; a diagnostic interrupt needs it RUNNING",
				       state[0] ? state : "in an unknown state");
		else
			dg_verdict_set(v, DG_OK, "dry run: instance RUNNING and readable with %s; nothing was sent "
				       "(OCI has no dry-run for the action itself)", o->creds.source);
	} else if (resp->status == 429) {
		dg_verdict_throttled(v, resp, "throttled by OCI (%s)", detail[0] ? detail : "HTTP 429");
	} else if (resp->status == 401) {
		dg_verdict_set(v, DG_DENIED, "OCI rejected the signature of %s (%s): check user, tenancy, fingerprint "
			       "and key_file, and this host's clock (OCI allows 5 minutes of skew)", o->creds.source,
			       detail[0] ? detail : "NotAuthenticated");
	} else if (resp->status == 403) {
		dg_verdict_set(v, DG_DENIED, "not authorized (%s): the user of %s needs a policy like 'Allow group "
			       "GROUP to manage instance-family in compartment COMPARTMENT'", detail, o->creds.source);
	} else if (resp->status == 404) {
		dg_verdict_set(v, DG_NOTFOUND, "instance %s not found in %s, or not authorized (%s): check the OCID and "
			       "region, and that a policy grants 'manage instance-family' in its compartment", t->part[1],
			       t->part[0], detail[0] ? detail : "NotAuthorizedOrNotFound");
	} else if (resp->status == 409) {
		dg_verdict_set(v, DG_NOTFOUND, "instance %s cannot take a diagnostic interrupt now (%s): it must be "
			       "RUNNING with no attach or detach in progress", t->part[1], detail[0] ? detail : "Conflict");
	} else if (resp->status >= 500) {
		dg_verdict_server_error(v, resp, "OCI", step, detail);
	} else {
		char excerpt[200];
		dg_provider_excerpt(resp, excerpt, sizeof(excerpt));
		dg_verdict_set(v, DG_FAILED, "OCI refused the request: HTTP %ld %s", resp->status,
			       detail[0] ? detail : excerpt);
	}
	dg_verdict_request_id_header(v, resp, (const char *const[]){ "opc-request-id", NULL });
	json_object_put(j);
}

const struct dg_provider dg_provider_oci = {
	.name = "oci",
	.title = "Oracle Cloud InstanceAction SENDDIAGNOSTICINTERRUPT",
	.example = "oci:us-ashburn-1/ocid1.instance.oc1.iad.abcd1234",
	.parts = parts,
	.n_parts = 2,
	.api = "the OCI Compute API",
	.cacert_env = "OCI_CLI_CERT_BUNDLE",
	.open = oci_open,
	.close = oci_close,
	.request = oci_request,
	.judge = oci_judge,
};
