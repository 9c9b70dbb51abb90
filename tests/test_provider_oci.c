/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The OCI provider: the signed InstanceAction request (signature verified with the public key here), the
 * retry token, answers to statuses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>

#include "diagint/encode.h"
#include "diagint/provider.h"
#include "fake_resp.h"
#include "tap.h"

extern const struct dg_provider dg_provider_oci;

#define OCID "ocid1.instance.oc1.iad.abcd"
#define T "oci:us-ashburn-1/" OCID

static char dir[] = "/tmp/dg-ocip-XXXXXX";

static void expect(void *ctx, long status, const char *body, bool dry, enum dg_status want, bool retry,
		   const char *words)
{
	struct dg_http_resp r = { 0 };
	struct dg_verdict v;

	fake_resp(&r, status, body, "opc-request-id", "OPC-1", NULL);
	judge(&dg_provider_oci, ctx, T, dry, 0, &r, &v);
	CHECK(v.err.status == want && v.retry == retry && strstr(v.err.message, words) &&
		      !strcmp(v.err.request_id, "OPC-1"),
	      "HTTP %ld %.50s -> %s: %s", status, body ? body : "", dg_status_name(want), v.err.message);
	dg_http_resp_clear(&r);
}

static const char *header(const struct dg_http_req *req, const char *prefix)
{
	for (struct curl_slist *l = req->headers; l; l = l->next)
		if (!strncmp(l->data, prefix, strlen(prefix)))
			return l->data + strlen(prefix);
	return NULL;
}

int main(void)
{
	struct dg_provider_env env = { .endpoint = "https://127.0.0.1:8443" };
	EVP_PKEY *key = EVP_RSA_gen(2048);
	struct dg_http_req req = { 0 };
	struct dg_step step = { .attempt = 1, .client_token = "0123456789abcdef0123456789abcdef" };
	struct dg_target t;
	struct dg_error err = { 0 };
	char path[300], conf[1024], sstr[2048];
	const char *auth, *sig;
	unsigned char raw[512];
	void *ctx = NULL;
	FILE *f;
	int n;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	f = fopen(path, "w");
	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(path, 0600);
	snprintf(conf, sizeof(conf), "[DEFAULT]\nuser=ocid1.user.oc1..u\nfingerprint=aa:bb\ntenancy=ocid1.tenancy.oc1..t\n"
		 "key_file=%s\n", path);
	snprintf(path, sizeof(path), "%s/config", dir);
	f = fopen(path, "w");
	fputs(conf, f);
	fclose(f);
	setenv("OCI_CLI_CONFIG_FILE", path, 1);
	unsetenv("OCI_CLI_PROFILE");

	CHECK(dg_provider_oci.open(&env, &ctx, &err) == 0, "open (%s)", err.message);
	dg_target_parse(T, &t, NULL);
	CHECK(dg_provider_oci.request(ctx, &t, &step, &req, &err) == 0, "request (%s)", err.message);
	CHECK_STR(req.url, "https://127.0.0.1:8443/20160918/instances/" OCID "?action=SENDDIAGNOSTICINTERRUPT", "URL");
	CHECK(!strcmp(req.method, "POST") && !req.idempotent, "POST, not idempotent");
	CHECK_STR(header(&req, "opc-retry-token: "), step.client_token, "opc-retry-token is the target's token");
	CHECK_STR(header(&req, "x-content-sha256: "), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "empty-body hash");
	auth = header(&req, "Authorization: ");
	CHECK(auth && strstr(auth, "headers=\"date (request-target) host content-length content-type x-content-sha256\"") &&
		      strstr(auth, "keyId=\"ocid1.tenancy.oc1..t/ocid1.user.oc1..u/aa:bb\""),
	      "POST signs the six headers with keyId tenancy/user/fingerprint");
	/* Verify the signature independently with the public key. */
	snprintf(sstr, sizeof(sstr), "date: %s\n(request-target): post /20160918/instances/" OCID
		 "?action=SENDDIAGNOSTICINTERRUPT\nhost: 127.0.0.1:8443\ncontent-length: 0\ncontent-type: application/json\n"
		 "x-content-sha256: 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", header(&req, "Date: "));
	sig = auth ? strstr(auth, "signature=\"") : NULL;
	n = sig ? EVP_DecodeBlock(raw, (const unsigned char *)sig + 11, (int)strcspn(sig + 11, "\"")) : -1;
	{
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		CHECK(n > 0 && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
			      EVP_DigestVerify(md, raw, 256, (unsigned char *)sstr, strlen(sstr)) == 1,
		      "signature verifies with the public key");
		EVP_MD_CTX_free(md);
	}
	dg_http_req_clear(&req);
	step.dry_run = true;
	dg_provider_oci.request(ctx, &t, &step, &req, &err);
	CHECK(!strcmp(req.method, "GET") && req.idempotent && !strstr(req.url, "action=") &&
		      strstr(header(&req, "Authorization: "), "headers=\"date (request-target) host\"") &&
		      !header(&req, "opc-retry-token: "), "dry run: a signed GET of the instance");
	dg_http_req_clear(&req);

	expect(ctx, 200, "{\"id\":\"ocid1.instance.oc1.iad.abcd\",\"lifecycleState\":\"RUNNING\"}", false, DG_OK, false,
	       "sent");
	/* OCI answers the action with the instance itself; anything else is not OCI saying yes. */
	expect(ctx, 200, "{\"lifecycleState\":\"RUNNING\"}", false, DG_FAILED, false, "may or may not have reached");
	expect(ctx, 200, "<html>portal</html>", false, DG_FAILED, false, "not OCI's answer");
	expect(ctx, 200, "{\"lifecycleState\":\"RUNNING\"}", true, DG_OK, false, "RUNNING");
	expect(ctx, 200, "{\"lifecycleState\":\"STOPPED\"}", true, DG_NOTFOUND, false, "STOPPED");
	expect(ctx, 401, "{\"code\":\"NotAuthenticated\",\"message\":\"m\"}", false, DG_DENIED, false, "clock");
	expect(ctx, 404, "{\"code\":\"NotAuthorizedOrNotFound\",\"message\":\"m\"}", false, DG_NOTFOUND, false,
	       "manage instance-family");
	expect(ctx, 409, "{\"code\":\"IncorrectState\",\"message\":\"m\"}", false, DG_NOTFOUND, false, "RUNNING");
	expect(ctx, 429, "{\"code\":\"TooManyRequests\",\"message\":\"m\"}", false, DG_UNAVAILABLE, true, "throttled");
	expect(ctx, 500, "{\"code\":\"InternalServerError\",\"message\":\"m\"}", false, DG_FAILED, false, "not resent");
	expect(ctx, 400, "{\"code\":\"InvalidParameter\",\"message\":\"m\"}", false, DG_FAILED, false, "InvalidParameter");
	dg_provider_oci.close(ctx);
	EVP_PKEY_free(key);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		return 1;
	return tap_done();
}
