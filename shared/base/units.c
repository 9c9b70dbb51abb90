/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "diagint/units.h"

void dg_format_bytes(uint64_t n, bool compact, char *buf, size_t len)
{
	static const char *const names[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	static const char *const letters[] = { "B", "K", "M", "G", "T", "P" };
	double v = (double)n;
	unsigned u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, compact ? "%.0f%s" : "%.0f %s", v, compact ? letters[u] : names[u]);
	else
		snprintf(buf, len, compact ? "%.1f%s" : "%.1f %s", v, compact ? letters[u] : names[u]);
}
