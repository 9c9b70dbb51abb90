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

const char *dg_dumpname_ext(const char *format)
{
	if (!format || !strcmp(format, "elf"))
		return ".gcore";
	if (!strncmp(format, "kdump-", 6))
		return ".kdump";
	if (!strcmp(format, "win-dmp"))
		return ".dmp";
	return NULL;
}

static const char *const known_exts[] = { ".gcore", ".kdump", ".dmp", NULL };

/* Is name[0..stem) PREFIX-YYYYMMDD-hhmmss with a non-empty PREFIX? Fills tm. */
static bool parse_stamp(const char *name, size_t stem, struct tm *tm)
{
	const char *p;

	if (stem < 17)
		return false;
	p = name + stem - 16;
	if (p[0] != '-' || p[9] != '-')
		return false;
	for (int i = 1; i < 16; i++)
		if (i != 9 && (p[i] < '0' || p[i] > '9'))
			return false;
	memset(tm, 0, sizeof(*tm));
	if (sscanf(p, "-%4d%2d%2d-%2d%2d%2d", &tm->tm_year, &tm->tm_mon, &tm->tm_mday, &tm->tm_hour, &tm->tm_min,
		   &tm->tm_sec) != 6)
		return false;
	if (tm->tm_mon < 1 || tm->tm_mon > 12 || tm->tm_mday < 1 || tm->tm_mday > 31 || tm->tm_hour > 23 ||
	    tm->tm_min > 59 || tm->tm_sec > 60)
		return false;
	tm->tm_year -= 1900;
	tm->tm_mon -= 1;
	tm->tm_isdst = -1;
	return true;
}

bool dg_dumpname_parse(const char *name, char *prefix, size_t prefix_len, time_t *when, int *n, const char **ext)
{
	size_t len = strlen(name), elen = 0, stem;
	const char *e = NULL;
	int suffix = 0;
	struct tm tm;

	for (int i = 0; known_exts[i]; i++) {
		size_t l = strlen(known_exts[i]);
		if (len > l && !strcmp(name + len - l, known_exts[i])) {
			e = known_exts[i];
			elen = l;
		}
	}
	if (!e || name[0] == '.')
		return false;
	stem = len - elen;
	if (stem > 2 && name[stem - 2] == '-' && name[stem - 1] >= '1' && name[stem - 1] <= '9' &&
	    parse_stamp(name, stem - 2, &tm)) {
		suffix = name[stem - 1] - '0';
		stem -= 2;
	} else if (!parse_stamp(name, stem, &tm)) {
		return false;
	}
	if (when)
		*when = mktime(&tm);
	if (prefix && prefix_len) {
		size_t pl = stem - 16;
		if (pl >= prefix_len)
			pl = prefix_len - 1;
		memcpy(prefix, name, pl);
		prefix[pl] = '\0';
	}
	if (n)
		*n = suffix;
	if (ext)
		*ext = e;
	return true;
}
