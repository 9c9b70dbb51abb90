/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer harness for the --since/--until grammar (dg_time_parse): under sudo the operator types it while the
 * command runs as root. Beyond "no crash, no leak": 0 or -DG_USAGE only; a result inside the years 1970-9999
 * with a normalized tv_nsec, the same on a second parse, and read back unchanged from its @EPOCH form; a refusal
 * is one printable line. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagint/time_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 2026-12-06 12:00:00 UTC: relative forms count from a fixed now, so a failure reproduces. */
#define NOW ((time_t)1796644800)
#define YEAR_10000 ((time_t)253402300800)

static void broken(const char *what, const char *input)
{
	fprintf(stderr, "time grammar invariant broken: %s (input '%s')\n", what, input);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_error err = { 0 }, err2 = { 0 };
	struct timespec ts = { 0 }, again = { 0 };
	char *s, back[64];
	int r;

	if (size > 256)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	r = dg_time_parse(s, NOW, &ts, &err);
	if (r < 0) {
		if (r != -DG_USAGE)
			broken("a status other than DG_USAGE", s);
		if (!err.message[0])
			broken("a refusal without a message", s);
		for (const char *p = err.message; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				broken("a control character in the message", s);
		goto out;
	}
	if (r != 0)
		broken("a status other than 0 on success", s);
	if (ts.tv_sec < 0 || ts.tv_sec >= YEAR_10000 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000L)
		broken("a result outside 1970-9999 or tv_nsec not normalized", s);
	if (dg_time_parse(s, NOW, &again, &err2) != 0 || again.tv_sec != ts.tv_sec || again.tv_nsec != ts.tv_nsec)
		broken("a second parse differs", s);
	snprintf(back, sizeof(back), "@%lld.%09ld", (long long)ts.tv_sec, ts.tv_nsec);
	if (dg_time_parse(back, NOW, &again, &err2) != 0 || again.tv_sec != ts.tv_sec || again.tv_nsec != ts.tv_nsec)
		broken("its @EPOCH form reads back differently", s);
out:
	free(s);
	return 0;
}
