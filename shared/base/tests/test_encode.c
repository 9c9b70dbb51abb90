/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "base/encode.h"
#include "tap.h"

int main(void)
{
	struct dg_buf b = DG_BUF_INIT;
	char hex[9], *s, dec[32];

	dg_hex("\x01\xab\xff\x00", 4, hex);
	CHECK_STR(hex, "01abff00", "hex is lower case");
	dg_hex_upper("\x01\xab\xff\x00", 4, hex);
	CHECK_STR(hex, "01ABFF00", "dg_hex_upper: upper case, as Linux audit encodes a field");
	dg_hex("", 0, hex);
	CHECK_STR(hex, "", "no bytes: the empty string");
	s = dg_base64("any carnal pleas", 16);
	CHECK_STR(s, "YW55IGNhcm5hbCBwbGVhcw==", "base64 with padding (RFC 4648)");
	free(s);
	s = dg_base64("\xfb\xff", 2);
	CHECK_STR(s, "+/8=", "base64 uses + and /");
	free(s);
	s = dg_base64url("\xfb\xff", 2);
	CHECK_STR(s, "-_8", "base64url: - and _, no padding");
	free(s);
	s = dg_base64("", 0);
	CHECK_STR(s, "", "empty input");
	free(s);
	dg_uri_encode(&b, "a b/c~d%\xe1\x88\xb4", 11, false);
	CHECK_STR(dg_buf_str(&b), "a%20b%2Fc~d%25%E1%88%B4", "percent-encoding: upper-case hex, unreserved kept");
	dg_buf_reset(&b);
	dg_uri_encode(&b, "/a b/", 5, true);
	CHECK_STR(dg_buf_str(&b), "/a%20b/", "keep_slash keeps '/'");
	dg_buf_free(&b);
	snprintf(dec, sizeof(dec), "%%E1%%88%%B4+%%zz%%4");
	CHECK(dg_uri_decode(dec, strlen(dec)) == 9 && !memcmp(dec, "\xe1\x88\xb4+%zz%4", 9),
	      "decode: escapes decoded, '+' and bad escapes kept");
	return tap_done();
}
