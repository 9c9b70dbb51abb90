/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "diagint/buf.h"
#include "tap.h"

int main(void)
{
	struct dg_buf b = DG_BUF_INIT;
	char *s;

	CHECK_STR(dg_buf_str(&b), "", "empty buffer reads as \"\"");
	for (int i = 0; i < 1000; i++)
		dg_buf_printf(&b, "%d,", i);
	CHECK(dg_buf_ok(&b) && b.len == strlen(b.data), "grows through many appends, stays NUL-terminated");
	CHECK(!strncmp(b.data, "0,1,2,", 6) && strstr(b.data, "999,"), "contents in order");
	dg_buf_reset(&b);
	dg_buf_append(&b, "a\0b", 3);
	CHECK(b.len == 3 && b.data[1] == '\0', "binary appends keep their length");
	dg_buf_reset(&b);
	dg_buf_puts(&b, "secret");
	s = dg_buf_steal(&b);
	CHECK_STR(s, "secret", "steal hands the string over");
	CHECK(b.data == NULL && b.len == 0, "buffer empty after steal");
	free(s);
	b.oom = true;
	CHECK(!dg_buf_puts(&b, "x") && dg_buf_steal(&b) == NULL, "out of memory is sticky and steal gives NULL");
	dg_buf_puts(&b, "x");
	dg_buf_free_secret(&b);
	dg_buf_free(NULL);
	CHECK(b.data == NULL, "free_secret clears; free(NULL) is fine");
	return tap_done();
}
