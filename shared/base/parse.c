/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The configuration's value parsers (sizes, limits, booleans, durations): a leaf that config.c, watch_config.c
 * and the plugins' own configuration readers share, so none of them calls another for a value. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "diagint/parse.h"

int dg_config_parse_size(const char *text, uint64_t *ret)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	while (isspace((unsigned char)*text))
		text++;
	if (!isdigit((unsigned char)*text))
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno)
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K':
		mult = 1ull << 10;
		end++;
		break;
	case 'M':
		mult = 1ull << 20;
		end++;
		break;
	case 'G':
		mult = 1ull << 30;
		end++;
		break;
	case 'T':
		mult = 1ull << 40;
		end++;
		break;
	default:
		return -EINVAL;
	}
	if (*end == 'i' && mult > 1)
		end++;
	if ((*end == 'B' || *end == 'b') && mult > 1)
		end++;
	if (*end || (v && mult > UINT64_MAX / v))
		return -EINVAL;
	*ret = (uint64_t)v * mult;
	return 0;
}

int dg_config_parse_limit(const char *text, struct dg_size_limit *ret)
{
	size_t n = strlen(text);

	memset(ret, 0, sizeof(*ret));
	if (n > 1 && text[n - 1] == '%') {
		char *end;
		double v;

		errno = 0;
		v = strtod(text, &end);
		if (errno || end != text + n - 1 || !isfinite(v) || v < 0 || v > 100)
			return -EINVAL;
		ret->set = ret->is_percent = true;
		ret->percent = v;
		return 0;
	}
	if (dg_config_parse_size(text, &ret->bytes) < 0)
		return -EINVAL;
	ret->set = true;
	return 0;
}

int dg_config_parse_bool(const char *text, bool *ret)
{
	static const char *const yes[] = { "1", "yes", "true", "on", NULL };
	static const char *const no[] = { "0", "no", "false", "off", NULL };

	for (int i = 0; yes[i]; i++)
		if (!strcasecmp(text, yes[i])) {
			*ret = true;
			return 0;
		}
	for (int i = 0; no[i]; i++)
		if (!strcasecmp(text, no[i])) {
			*ret = false;
			return 0;
		}
	return -EINVAL;
}

int dg_config_parse_seconds(const char *text, double *ret)
{
	char *end;
	double v, mult = 1;

	errno = 0;
	v = strtod(text, &end);
	if (errno || end == text || !isfinite(v) || v < 0)
		return -EINVAL;
	if (!strcmp(end, "ms")) {
		if (v / 1000 > 366 * 86400.0) /* the year's bound below holds for milliseconds too */
			return -ERANGE;
		*ret = v / 1000;
		return 0;
	}
	if (*end && end[1])
		return -EINVAL;
	switch (*end) {
	case '\0':
	case 's':
		break;
	case 'm':
		mult = 60;
		break;
	case 'h':
		mult = 3600;
		break;
	case 'd':
		mult = 86400;
		break;
	default:
		return -EINVAL;
	}
	/* No duration here means more than a year; the bound keeps every later conversion (to ms, to time_t) in
	 * range, so no value can overflow at the moment of a capture. */
	if (v * mult > 366 * 86400.0)
		return -ERANGE;
	*ret = v * mult;
	return 0;
}

uint64_t dg_size_limit_bytes(const struct dg_size_limit *l, uint64_t fs_size)
{
	if (!l->set)
		return 0;
	if (l->is_percent)
		return (uint64_t)((double)fs_size * l->percent / 100.0);
	return l->bytes;
}
