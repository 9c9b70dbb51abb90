/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include <openssl/evp.h>

#include "diagint/error.h"

/* HTTP message signatures as Oracle Cloud Infrastructure uses them: draft-cavage-http-signatures-08, version
 * "1", rsa-sha256 (RSASSA-PKCS1-v1_5 over SHA-256). The signing string is "name: value" lines joined by "\n",
 * in the order given; the pseudo-header "(request-target)" is "METHOD-in-lower-case PATH?QUERY". */

struct dg_httpsig_header {
	const char *name;  /* lower case; "(request-target)" gets its value from method and target */
	const char *value;
};

/* ret_authorization: the Authorization header's value ("Signature version=\"1\",headers=...").
 * ret_signing_string may be NULL (tests compare it with the official vectors). */
int dg_httpsig_sign(EVP_PKEY *key, const char *key_id, const char *method, const char *target,
		    const struct dg_httpsig_header *headers, size_t n, char **ret_authorization,
		    char **ret_signing_string, struct dg_error *err);
