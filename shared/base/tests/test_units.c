/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdint.h>

#include "diagint/units.h"
#include "tap.h"

int main(void)
{
	static const struct {
		uint64_t n;
		const char *full, *compact;
	} cases[] = {
		{ 0, "0 B", "0B" },
		{ 1023, "1023 B", "1023B" },
		{ 1024, "1.0 KiB", "1.0K" },
		{ 1536, "1.5 KiB", "1.5K" },
		{ 134485163, "128.3 MiB", "128.3M" },
		{ 1ull << 30, "1.0 GiB", "1.0G" },
		{ 5ull << 40, "5.0 TiB", "5.0T" },
		{ UINT64_MAX, "16384.0 PiB", "16384.0P" },
	};
	char buf[32], tiny[4];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		dg_format_bytes(cases[i].n, false, buf, sizeof(buf));
		CHECK_STR(buf, cases[i].full, "%llu bytes", (unsigned long long)cases[i].n);
		dg_format_bytes(cases[i].n, true, buf, sizeof(buf));
		CHECK_STR(buf, cases[i].compact, "%llu bytes, compact", (unsigned long long)cases[i].n);
	}
	dg_format_bytes(1ull << 30, false, tiny, sizeof(tiny));
	CHECK_STR(tiny, "1.0", "a short buffer is cut, terminated");
	return tap_done();
}
