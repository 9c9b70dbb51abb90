/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* RS256 JWT: the three parts decode to what was signed, and the signature verifies with the public key. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "base/encode.h"
#include "cloud/jwt.h"
#include "tap.h"

static size_t b64url_decode(const char *in, size_t len, unsigned char *out)
{
	char buf[4096] = "";
	size_t n = 0;
	int r;

	for (size_t i = 0; i < len && n < sizeof(buf) - 4; i++)
		buf[n++] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
	while (n % 4)
		buf[n++] = '=';
	r = EVP_DecodeBlock(out, (unsigned char *)buf, (int)n);
	return r < 0 ? 0 : (size_t)r - (len % 4 == 2 ? 2 : len % 4 == 3 ? 1 : 0);
}

int main(void)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	json_object *claims = json_object_new_object();
	struct dg_error err = { 0 };
	unsigned char part[4096];
	char *jwt = NULL, *dot1, *dot2;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t n;

	json_object_object_add(claims, "iss", json_object_new_string("sa@p.iam.gserviceaccount.com"));
	json_object_object_add(claims, "aud", json_object_new_string("https://oauth2.googleapis.com/token"));
	CHECK(dg_jwt_rs256(key, "kid1", claims, &jwt, &err) == 0, "signs (%s)", err.message);
	dot1 = strchr(jwt, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	CHECK(dot1 && dot2 && !strchr(dot2 + 1, '.'), "three parts");
	CHECK(!strpbrk(jwt, "+/="), "base64url without padding");
	n = b64url_decode(jwt, (size_t)(dot1 - jwt), part);
	part[n] = '\0';
	CHECK_STR((char *)part, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"kid1\"}", "header");
	n = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), part);
	part[n] = '\0';
	CHECK(strstr((char *)part, "\"aud\":\"https://oauth2.googleapis.com/token\"") != NULL,
	      "claims as given, slashes not escaped: %s", part);
	n = b64url_decode(dot2 + 1, strlen(dot2 + 1), part);
	CHECK(n == 256, "RS256 signature of a 2048-bit key is 256 bytes (%zu)", n);
	CHECK(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
		      EVP_DigestVerify(md, part, n, (unsigned char *)jwt, (size_t)(dot2 - jwt)) == 1,
	      "signature verifies over header.claims");
	EVP_MD_CTX_free(md);
	free(jwt);
	json_object_put(claims);
	EVP_PKEY_free(key);
	return tap_done();
}
