/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* OCI request signing (draft-cavage, rsa-sha256) against Oracle's official GET and POST vectors: signing string,
 * signature and the whole Authorization header, byte for byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/encode.h"
#include "cloud/httpsig.h"
#include "base/keyfile.h"
#include "tap.h"
#include "vectors.h"

/* The text between the n-th "<<<" line and the following ">>>" line. */
static char *block(const char *text, int n)
{
	const char *s = text;

	for (int i = 0; i <= n; i++) {
		s = strstr(s, "\n<<<\n");
		if (!s)
			return NULL;
		s += 5;
	}
	return strndup(s, (size_t)(strstr(s, "\n>>>") - s));
}

/* The line after the n-th line that starts with `label`. */
static char *after(const char *text, const char *label, int n)
{
	const char *s = text;

	for (int i = 0; i <= n; i++) {
		s = strstr(s, label);
		if (!s)
			return NULL;
		s += strlen(label);
	}
	s = strchr(s, '\n') + 1;
	return strndup(s, strcspn(s, "\n"));
}

static char *between(const char *text, const char *from, const char *to)
{
	const char *s = strstr(text, from), *e;

	if (!s)
		return NULL;
	e = strstr(s, to);
	return strndup(s, (size_t)(e - s) + strlen(to));
}

static void check_vector(EVP_PKEY *key, const char *key_id, const char *text, int n, const char *method,
			 const char *target, const struct dg_httpsig_header *hs, size_t nh)
{
	char *want_sstr = block(text, n == 0 ? 0 : 2), *want_sig = after(text, "Signature (base64):", n);
	char *want_auth = after(text, n == 0 ? "TestOCIRequestSigner_Sign (one line):" : "TestOCIRequestSigner_Sign2 (one line):", 0);
	char *auth = NULL, *sstr = NULL, *sig;
	struct dg_error err = { 0 };
	int r;

	r = dg_httpsig_sign(key, key_id, method, target, hs, nh, &auth, &sstr, &err);
	CHECK(r == 0, "vector %d: signs (%s)", n + 1, err.message);
	CHECK_STR(sstr, want_sstr, "vector %d: signing string", n + 1);
	sig = auth ? strstr(auth, "signature=\"") : NULL;
	CHECK(sig && want_sig && !strncmp(sig + 11, want_sig, strlen(want_sig)), "vector %d: signature", n + 1);
	CHECK_STR(auth, want_auth, "vector %d: Authorization header exactly as oci-go-sdk asserts it", n + 1);
	free(want_sstr);
	free(want_sig);
	free(want_auth);
	free(auth);
	free(sstr);
}

int main(void)
{
	char path[4200];
	char *text, *pem, *key_id_line, *body;
	EVP_PKEY *key = NULL;
	struct dg_error err = { 0 };

	snprintf(path, sizeof(path), "%s/oci-request-signing.txt", vectors_dir());
	text = slurp(path, NULL);
	if (!text)
		SKIP_ALL("no OCI vectors at %s", path);
	pem = between(text, "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----");
	CHECK(pem && dg_key_load_pem(pem, strlen(pem), NULL, "the sample key", "-", &key, &err) == 0,
	      "sample key loads (%s)", err.message);
	key_id_line = strstr(text, "keyId       = ");
	CHECK(key_id_line != NULL, "keyId in the vectors");
	{
		char key_id[512];
		snprintf(key_id, sizeof(key_id), "%.*s", (int)strcspn(key_id_line + 14, "\n"), key_id_line + 14);
		const struct dg_httpsig_header get[] = {
			{ "date", "Thu, 05 Jan 2014 21:31:40 GMT" },
			{ "(request-target)", NULL },
			{ "host", "iaas.us-phoenix-1.oraclecloud.com" },
		};
		const char *target = "/20160918/instances?availabilityDomain=Pjwf%3A%20PHX-AD-1&compartmentId=ocid1."
				     "compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa&"
				     "displayName=TeamXInstances&volumeId=ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfau"
				     "x7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q";
		check_vector(key, key_id, text, 0, "GET", target, get, 3);

		body = block(text, 1);
		CHECK(body && strlen(body) == 316, "POST body is the vector's 316 bytes");
		if (body) {
			unsigned char md[32];
			unsigned mdlen = 0;
			char *b64;
			EVP_Digest(body, strlen(body), md, &mdlen, EVP_sha256(), NULL);
			b64 = dg_base64(md, mdlen);
			CHECK_STR(b64, "V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0=", "x-content-sha256 of the body");
			free(b64);
		}
		const struct dg_httpsig_header post[] = {
			{ "date", "Thu, 05 Jan 2014 21:31:40 GMT" },
			{ "(request-target)", NULL },
			{ "host", "iaas.us-phoenix-1.oraclecloud.com" },
			{ "content-length", "316" },
			{ "content-type", "application/json" },
			{ "x-content-sha256", "V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0=" },
		};
		check_vector(key, key_id, text, 1, "POST", "/20160918/volumeAttachments", post, 6);
		free(body);
	}
	EVP_PKEY_free(key);
	free(pem);
	free(text);
	return tap_done();
}
