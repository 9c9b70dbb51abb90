/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Text from records, dumps and guests shown on a reviewer's terminal: control characters (C0, DEL, and C1 as
 * UTF-8 encodes them) become \xNN, so a --reason with CR or ESC cannot redraw the screen or forge a row. */
#include <stdio.h>

#include "cli.h"

const char *dg_cli_termsafe(const char *s, char *buf, size_t len)
{
	size_t w = 0;

	if (!s || !len)
		return s ? "" : NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p && w + 1 < len; p++) {
		unsigned c = *p;
		bool c1 = c == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;

		if (c1)
			c = *++p;
		if (c < 0x20 || c == 0x7f || c1) {
			if (w + 5 > len)
				break;
			w += (size_t)snprintf(buf + w, len - w, "\\x%02x", c);
		} else {
			buf[w++] = (char)c;
		}
	}
	buf[w] = '\0';
	return buf;
}
