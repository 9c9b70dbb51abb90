/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "diagint/dumpname.h"

static bool safe_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '+' || c == '-';
}

int dg_dumpname_prefix(const char *domain, char *out, size_t outlen)
{
	size_t i, n = 0, limit = outlen - 1;
	int changed = 0;
	bool leading = true;

	if (!outlen)
		return -EINVAL;
	if (limit > DG_DUMPNAME_PREFIX_MAX)
		limit = DG_DUMPNAME_PREFIX_MAX;
	if (!domain || !*domain) {
		snprintf(out, outlen, "%s", DG_DUMPNAME_DEFAULT_PREFIX);
		return 1;
	}
	for (i = 0; domain[i] && n < limit; i++) {
		unsigned char c = (unsigned char)domain[i];
		if (!safe_byte(c) || (leading && c == '.')) {
			c = '_';
			changed++;
		}
		if (domain[i] != '.')
			leading = false;
		out[n++] = (char)c;
	}
	changed += (int)strlen(domain + i);
	out[n] = '\0';
	return changed;
}

int dg_dumpname_format(const char *prefix, time_t when, int n, const char *ext, char *out, size_t outlen)
{
	struct tm tm;
	char stamp[32];
	int len;

	if (n < 0 || n > DG_DUMPNAME_SUFFIXES)
		return -EINVAL;
	if (!localtime_r(&when, &tm))
		return -EINVAL;
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	if (n == 0)
		len = snprintf(out, outlen, "%s-%s%s", prefix, stamp, ext);
	else
		len = snprintf(out, outlen, "%s-%s-%d%s", prefix, stamp, n, ext);
	if (len < 0 || (size_t)len >= outlen)
		return -ENAMETOOLONG;
	return 0;
}
