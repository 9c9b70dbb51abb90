/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "diagint/buf.h"

/* Byte encodings the request signers share. Base64 comes from OpenSSL; the rest is RFC 3986 percent-encoding,
 * which each signing scheme specifies exactly (upper-case hex, only A-Z a-z 0-9 - _ . ~ left as they are). */

/* Lower-case hex of len bytes into out (2 * len + 1 bytes). */
void dg_hex(const void *data, size_t len, char *out);
/* Upper-case hex, as Linux audit encodes an untrusted field. */
void dg_hex_upper(const void *data, size_t len, char *out);

/* Standard base64 with padding, as a new string (free() it); NULL when out of memory. */
char *dg_base64(const void *data, size_t len);
/* base64url without padding (RFC 7515, for JWT). */
char *dg_base64url(const void *data, size_t len);

/* Append s[0..len) percent-encoded; keep_slash leaves '/' as it is (for paths). */
bool dg_uri_encode(struct dg_buf *b, const char *s, size_t len, bool keep_slash);
/* Decode %XX in place (invalid escapes stay as they are); returns the new length. '+' is not a space. */
size_t dg_uri_decode(char *s, size_t len);
