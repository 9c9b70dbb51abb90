/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <openssl/evp.h>

#include <json-c/json.h>

#include "diagint/error.h"

/* A compact JWS with RS256 (RFC 7515/7518): base64url(header).base64url(claims).base64url(signature), the
 * header {"alg":"RS256","typ":"JWT"} plus "kid" when given. Used for Google's service-account JWT bearer
 * grant. ret: a new string (free() it). */
int dg_jwt_rs256(EVP_PKEY *key, const char *kid, json_object *claims, char **ret, struct dg_error *err);
