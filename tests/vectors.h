/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where the official signing vectors are: $DG_TESTVECTORS_DIR when it names a directory, else the copy in the
 * repository (tests/vectors, under $DG_SOURCE_DIR). */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static inline const char *vectors_dir(void)
{
	static char dir[4096];
	const char *env = getenv("DG_TESTVECTORS_DIR"), *src = getenv("DG_SOURCE_DIR");
	struct stat st;

	if (env && stat(env, &st) == 0 && S_ISDIR(st.st_mode))
		return env;
	snprintf(dir, sizeof(dir), "%s/tests/vectors", src ? src : "..");
	return dir;
}

/* A whole file, NUL-terminated (free() it); NULL when missing. */
static inline char *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			if (!buf)
				break;
		}
		n = fread(buf + len, 1, 4096, f);
		len += n;
	} while (n > 0);
	fclose(f);
	if (buf)
		buf[len] = '\0';
	if (ret_len)
		*ret_len = len;
	return buf;
}
