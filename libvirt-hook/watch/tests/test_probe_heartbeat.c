/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The console heartbeat probe on a real file: old output ignored, a pattern split across two checks, silence
 * is a miss, truncation and replacement of the log, a missing file, a flood larger than one read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "watch/probe.h"
#include "tap.h"

static char scratch[] = "/tmp/dg-test-hb-XXXXXX";
static char logp[300];

static void append(const char *text, const char *mode)
{
	FILE *f = fopen(logp, mode);
	fputs(text, f);
	fclose(f);
}

static int check(struct dg_probe *p)
{
	struct dg_error err = { 0 };
	int r = dg_probe_check(p, &err);
	if (r < 0)
		printf("# check: %s\n", err.message);
	return r;
}

int main(void)
{
	struct dg_probe p = { 0 };
	struct dg_error err = { 0 };
	char tmp[310];

	if (!mkdtemp(scratch)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(logp, sizeof(logp), "%s/console.log", scratch);
	CHECK(dg_probe_heartbeat_new(logp, "", &p, &err) == -DG_USAGE, "empty pattern refused");

	CHECK(dg_probe_heartbeat_new(logp, "diagint-heartbeat", &p, &err) == 0, "probe created");
	CHECK_STR(p.ops->name, "heartbeat", "probe name");
	CHECK(check(&p) < 0, "missing log file: cannot look (a miss)");
	append("boot\ndiagint-heartbeat 1\n", "w");
	CHECK(check(&p) == 1, "first look: a start, not a verdict");
	CHECK(check(&p) == 0, "nothing new: miss (old heartbeats do not count)");
	append("diagint-heartbeat 2\n", "a");
	CHECK(check(&p) == 1, "new heartbeat seen");
	append("noise\ndiagint-heart", "a");
	CHECK(check(&p) == 0, "half a heartbeat: miss");
	append("beat 3\n", "a");
	CHECK(check(&p) == 1, "the other half completes it: seen");
	append("just noise\n", "a");
	CHECK(check(&p) == 0, "output without the pattern is a miss");
	append("diagint-heartbeat 1\n", "w");
	CHECK(check(&p) == 1, "truncated log (guest restarted): read from the start");
	snprintf(tmp, sizeof(tmp), "%s.new", logp);
	{
		FILE *f = fopen(tmp, "w");
		fputs("diagint-heartbeat 1 in a bigger new file\n", f);
		fclose(f);
		rename(tmp, logp);
	}
	CHECK(check(&p) == 1, "replaced log (rotation): read the new file");
	{
		/* 3 MiB of noise and then a heartbeat: found without reading it all. */
		FILE *f = fopen(logp, "a");
		for (int i = 0; i < 3 * 16384; i++)
			fputs("0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456\n", f);
		fputs("diagint-heartbeat 9\n", f);
		fclose(f);
	}
	CHECK(check(&p) == 1, "flood then heartbeat: seen");
	CHECK(check(&p) == 0, "then silence: miss");
	dg_probe_free(&p);
	dg_probe_free(&p);
	CHECK(p.ops == NULL, "free is idempotent");
	unlink(logp);
	rmdir(scratch);
	return tap_done();
}
