/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/encode.h"

static void hex(const void *data, size_t len, char *out, const char *digits)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}

void dg_hex(const void *data, size_t len, char *out)
{
	hex(data, len, out, "0123456789abcdef");
}

void dg_hex_upper(const void *data, size_t len, char *out)
{
	hex(data, len, out, "0123456789ABCDEF");
}

char *dg_base64(const void *data, size_t len)
{
	char *out;

	if (len > (size_t)1 << 28)
		return NULL;
	out = malloc(4 * ((len + 2) / 3) + 1);
	if (!out)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

char *dg_base64url(const void *data, size_t len)
{
	char *out = dg_base64(data, len);
	size_t n;

	if (!out)
		return NULL;
	for (char *p = out; *p; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	}
	n = strlen(out);
	while (n && out[n - 1] == '=')
		out[--n] = '\0';
	return out;
}

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
	       c == '.' || c == '~';
}

bool dg_uri_encode(struct dg_buf *b, const char *s, size_t len, bool keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c) || (keep_slash && c == '/')) {
			dg_buf_putc(b, (char)c);
		} else {
			char esc[3] = { '%', digits[c >> 4], digits[c & 15] };
			dg_buf_append(b, esc, 3);
		}
	}
	return dg_buf_ok(b);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t dg_uri_decode(char *s, size_t len)
{
	size_t r = 0, w = 0;

	while (r < len) {
		if (s[r] == '%' && r + 2 < len && hexval(s[r + 1]) >= 0 && hexval(s[r + 2]) >= 0) {
			s[w++] = (char)(hexval(s[r + 1]) * 16 + hexval(s[r + 2]));
			r += 3;
		} else {
			s[w++] = s[r++];
		}
	}
	if (w < len)
		s[w] = '\0';
	return w;
}
