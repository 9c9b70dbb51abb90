/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "diagint/buf.h"
#include "base/encode.h"
#include "cloud/jwt.h"

int dg_jwt_rs256(EVP_PKEY *key, const char *kid, json_object *claims, char **ret, struct dg_error *err)
{
	json_object *hdr = json_object_new_object();
	char *h64 = NULL, *c64 = NULL, *s64 = NULL;
	struct dg_buf out = DG_BUF_INIT;
	unsigned char *sig = NULL;
	EVP_MD_CTX *md = NULL;
	const char *hs, *cs;
	size_t siglen = 0;
	int r = 0;

	if (!hdr)
		return dg_error_set(err, DG_FAILED, "JWT: out of memory");
	json_object_object_add(hdr, "alg", json_object_new_string("RS256"));
	json_object_object_add(hdr, "typ", json_object_new_string("JWT"));
	if (kid && *kid)
		json_object_object_add(hdr, "kid", json_object_new_string(kid));
	hs = json_object_to_json_string_ext(hdr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	cs = json_object_to_json_string_ext(claims, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	h64 = dg_base64url(hs, strlen(hs));
	c64 = dg_base64url(cs, strlen(cs));
	if (!h64 || !c64)
		goto oom;
	dg_buf_printf(&out, "%s.%s", h64, c64);
	if (!dg_buf_ok(&out))
		goto oom;
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)out.data, out.len) != 1 ||
	    !(sig = malloc(siglen)) ||
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)out.data, out.len) != 1) {
		r = dg_error_set(err, DG_FAILED, "JWT: cannot sign with the service account's private key (is it "
				 "an RSA key?)");
		goto out;
	}
	s64 = dg_base64url(sig, siglen);
	if (!s64)
		goto oom;
	dg_buf_printf(&out, ".%s", s64);
	*ret = dg_buf_steal(&out);
	if (!*ret)
		goto oom;
	goto out;
oom:
	r = dg_error_set(err, DG_FAILED, "JWT: out of memory");
out:
	json_object_put(hdr);
	EVP_MD_CTX_free(md);
	free(sig);
	free(h64);
	free(c64);
	free(s64);
	dg_buf_free(&out);
	return r;
}
