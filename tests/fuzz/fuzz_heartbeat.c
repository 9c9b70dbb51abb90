/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The console heartbeat probe (dg_probe_heartbeat_new, probe_heartbeat.c) reading the serial log, which the
 * guest writes. Input: what the console gains after the baseline check before the first check, then "\n%%\n" and
 * what it gains before the second. The pattern is "login:". Invariants: each check is 0 or 1; a check sees the pattern when it is in
 * what the console gained since the previous one, and only then (or straddling the two). */
#include "fuzz.h"
#include "watch/probe.h"

#define PATTERN "login:"

static bool has(const uint8_t *p, size_t n)
{
	return n >= sizeof(PATTERN) - 1 && memmem(p, n, PATTERN, sizeof(PATTERN) - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_probe probe;
	struct dg_error err = { 0 };
	const uint8_t *a, *b;
	size_t alen, blen;
	const char *path;
	int r, fd;

	fz_split(data, size, &a, &alen, &b, &blen);
	path = fz_write_file("console.log", "boot noise login: before the probe\n", 35);
	if (dg_probe_heartbeat_new(path, PATTERN, &probe, &err) < 0)
		abort();
	r = dg_probe_check(&probe, &err); /* the baseline: what came before proves nothing */
	FZ_CHECK(r == 1, "baseline check %d", r);
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0 || (alen && write(fd, a, alen) != (ssize_t)alen))
		abort();
	r = dg_probe_check(&probe, &err);
	FZ_CHECK(r == 0 || r == 1, "first check %d (%s)", r, err.message);
	FZ_CHECK(r == has(a, alen), "first check %d, pattern %s in what the console gained", r,
		 has(a, alen) ? "present" : "absent");
	if (blen && write(fd, b, blen) != (ssize_t)blen)
		abort();
	close(fd);
	r = dg_probe_check(&probe, &err);
	FZ_CHECK(r == 0 || r == 1, "second check %d (%s)", r, err.message);
	if (has(b, blen))
		FZ_CHECK(r == 1, "the pattern in the new output, not seen");
	if (r == 1) {
		size_t keep = alen < sizeof(PATTERN) ? alen : sizeof(PATTERN) - 2, n = keep + blen;
		uint8_t *joined = malloc(n ? n : 1);
		memcpy(joined, a + alen - keep, keep);
		memcpy(joined + keep, b, blen);
		FZ_CHECK(has(joined, n), "seen without the pattern in the new output");
		free(joined);
	}
	dg_probe_free(&probe);
	return 0;
}
