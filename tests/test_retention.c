/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Retention: MaxUse and KeepFree evict the oldest dumps first and refuse what cannot fit; the flood limit counts one
 * domain's recent dumps. Space is measured on a real tmpfs of known size, so the numbers are exact. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "diagint/config.h"
#include "diagint/dumpdir.h"
#include "diagint/dumpname.h"
#include "diagint/retention.h"
#include "tap.h"

/* 2023-11-14 22:13:20 UTC */
#define T0 ((time_t)1700000000)
#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define FS_SIZE (64 * MiB)

static char scratch[] = "/tmp/dg-test-retention-XXXXXX";
static char mnt[128];
static bool have_tmpfs;

struct logs {
	int n;
	enum dg_log_level level[32];
	char msg[32][1024];
};

static void collect(void *ud, enum dg_log_level level, const char *message)
{
	struct logs *l = ud;

	if (l->n < 32) {
		l->level[l->n] = level;
		snprintf(l->msg[l->n], sizeof(l->msg[0]), "%s", message);
	}
	l->n++;
}

static bool exists(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return lstat(p, &st) == 0;
}

static uint64_t blocks_of(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) == 0 ? (uint64_t)st.st_blocks * 512 : UINT64_MAX;
}

static uint64_t fs_free(const char *dir)
{
	struct statvfs st;

	return statvfs(dir, &st) == 0 ? (uint64_t)st.f_bavail * st.f_frsize : 0;
}

/* A file of `size` bytes of real (non-zero) content. */
static int put(const char *dir, const char *name, uint64_t size)
{
	static unsigned char buf[256 * 1024];
	char p[PATH_MAX];
	int fd;

	if (!buf[0])
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (unsigned char)(i * 131 + 7) | 1;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	while (size > 0) {
		size_t n = size < sizeof(buf) ? (size_t)size : sizeof(buf);
		if (write(fd, buf, n) != (ssize_t)n) {
			close(fd);
			return -1;
		}
		size -= n;
	}
	return close(fd);
}

/* A dump PREFIX-stamp.gcore of `size` bytes, and a sidecar of `sidecar` bytes unless 0. Name into out. */
static void make_dump(const char *dir, const char *prefix, time_t when, int n, uint64_t size, size_t sidecar,
		      char *out)
{
	char name[DG_DUMPNAME_MAX], json[DG_DUMPNAME_MAX + 8];
	int r;

	dg_dumpname_format(prefix, when, n, ".gcore", name, sizeof(name));
	r = put(dir, name, size);
	if (sidecar) {
		snprintf(json, sizeof(json), "%.*s.json", DG_DUMPNAME_MAX - 1, name);
		r |= put(dir, json, sidecar);
	}
	CHECK(r == 0, "created %s (%llu bytes%s)", name, (unsigned long long)size, sidecar ? " + sidecar" : "");
	if (out)
		snprintf(out, DG_DUMPNAME_MAX, "%s", name);
}

static bool has_sidecar(const char *dir, const char *name)
{
	char json[DG_DUMPNAME_MAX + 8];

	snprintf(json, sizeof(json), "%.*s.json", DG_DUMPNAME_MAX - 1, name);
	return exists(dir, json);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static struct dg_dumpdir *open_dir(const char *path)
{
	struct dg_dumpdir *dir = NULL;
	struct dg_error err;
	int r;

	memset(&err, 0, sizeof(err));
	r = dg_dumpdir_open(path, true, &dir, &err);
	CHECK(r == 0 && dir, "opened %s (%d: %s)", path, r, err.message);
	return r == 0 ? dir : NULL;
}

static void close_dir(struct dg_dumpdir *dir, const char *path)
{
	dg_dumpdir_free(dir);
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Policy with no limits at all; each test sets the one it exercises. */
static void no_limits(struct dg_capture_policy *p)
{
	dg_config_capture_policy(NULL, NULL, p);
	memset(&p->keep_free, 0, sizeof(p->keep_free));
	memset(&p->max_use, 0, sizeof(p->max_use));
}

static void set_bytes(struct dg_size_limit *l, uint64_t bytes)
{
	memset(l, 0, sizeof(*l));
	l->set = true;
	l->bytes = bytes;
}

static void set_percent(struct dg_size_limit *l, double percent)
{
	memset(l, 0, sizeof(*l));
	l->set = l->is_percent = true;
	l->percent = percent;
}

static void human(uint64_t n, char *buf, size_t len)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static void check_removed_log(const struct logs *l, int i, const char *dir, const char *name)
{
	char want[PATH_MAX + 64];

	snprintf(want, sizeof(want), "retention: removed %s/%s to make room", dir, name);
	CHECK(i < l->n && l->level[i] == DG_LOG_INFO && strcmp(l->msg[i], want) == 0, "log %d: '%s' (got '%s')", i,
	      want, i < l->n ? l->msg[i] : "(none)");
}

static void test_max_use_bytes(void)
{
	char d[256], n[5][DG_DUMPNAME_MAX], tmp[DG_DUMPNAME_MAX];
	struct dg_capture_policy p;
	struct dg_retention_result res;
	struct dg_dumpdir *dir;
	struct dg_error err;
	struct logs logs;
	uint64_t D, SC, cap;
	int r;

	snprintf(d, sizeof(d), "%s/maxuse", mnt);
	dir = open_dir(d);
	if (!dir)
		return;
	/* Oldest first whatever the domain: db's dump sits between vm's. */
	make_dump(d, "vm", T0, 0, MiB, 100, n[0]);
	make_dump(d, "db", T0 + 1, 0, MiB, 0, n[1]);
	make_dump(d, "vm", T0 + 2, 0, MiB, 100, n[2]);
	make_dump(d, "vm", T0 + 3, 0, MiB, 100, n[3]);
	make_dump(d, "vm", T0 + 4, 0, MiB, 100, n[4]);
	/* Not dumps: never counted, never removed. */
	CHECK(put(d, "notes.txt", MiB) == 0, "created notes.txt");
	dg_dumpname_format(".vm", T0 + 5, 0, ".gcore.partial", tmp, sizeof(tmp));
	CHECK(put(d, tmp, MiB) == 0, "created %s", tmp);
	D = blocks_of(d, n[0]);
	snprintf(tmp, sizeof(tmp), "%.*s.json", DG_DUMPNAME_MAX - 8, n[0]);
	SC = blocks_of(d, tmp);
	CHECK(D == MiB && SC == 4096, "tmpfs allocates exactly: dump %llu, sidecar %llu", (unsigned long long)D,
	      (unsigned long long)SC);

	/* No limits: nothing happens, usage is reported. */
	no_limits(&p);
	memset(&logs, 0, sizeof(logs));
	memset(&err, 0, sizeof(err));
	memset(&res, 0x5a, sizeof(res));
	r = dg_retention_apply(dir, &p, 0, true, collect, &logs, &res, &err);
	CHECK(r == 0 && res.evicted == 0 && res.freed == 0 && logs.n == 0, "no limits: nothing evicted (%d: %s)", r,
	      err.message);
	CHECK(res.usage == 5 * D + 4 * SC, "usage counts dumps and sidecars only: %llu (want %llu)",
	      (unsigned long long)res.usage, (unsigned long long)(5 * D + 4 * SC));
	CHECK(res.fs_size == FS_SIZE, "fs_size is the tmpfs size (%llu)", (unsigned long long)res.fs_size);
	CHECK(res.fs_free == fs_free(d), "fs_free is what statvfs says (%llu)", (unsigned long long)res.fs_free);

	/* Cap = what the three newest use + the capture: exactly fits after evicting the two oldest. */
	cap = 3 * (D + SC) + MiB;
	set_bytes(&p.max_use, cap);
	/* A dry run first: the same decision, nothing removed. */
	memset(&logs, 0, sizeof(logs));
	memset(&err, 0, sizeof(err));
	r = dg_retention_plan(dir, &p, MiB, collect, &logs, &res, &err);
	CHECK(r == 0 && res.evicted == 2 && res.freed == 2 * D + SC, "plan: would evict the two oldest (%d, %u: %s)",
	      r, res.evicted, err.message);
	CHECK(exists(d, n[0]) && has_sidecar(d, n[0]) && exists(d, n[1]), "plan: nothing removed");
	CHECK(logs.n == 2 && strstr(logs.msg[0], "would remove") && strstr(logs.msg[0], n[0]),
	      "plan: says what it would remove (%s)", logs.msg[0]);
	set_bytes(&p.keep_free, FS_SIZE);
	r = dg_retention_plan(dir, &p, MiB, NULL, NULL, &res, &err);
	CHECK(r == -DG_REFUSED && exists(d, n[0]), "plan: refused when even evicting all cannot help (%s)",
	      err.message);
	memset(&p.keep_free, 0, sizeof(p.keep_free));
	memset(&logs, 0, sizeof(logs));
	memset(&err, 0, sizeof(err));
	r = dg_retention_apply(dir, &p, MiB, true, collect, &logs, &res, &err);
	CHECK(r == 0, "MaxUse bytes: room made (%d: %s)", r, err.message);
	CHECK(res.evicted == 2, "two oldest evicted, usage + need == MaxUse fits (%u)", res.evicted);
	CHECK(res.freed == 2 * D + SC, "freed %llu (want %llu)", (unsigned long long)res.freed,
	      (unsigned long long)(2 * D + SC));
	CHECK(res.usage == 3 * (D + SC), "usage after eviction %llu", (unsigned long long)res.usage);
	CHECK(res.fs_free == fs_free(d), "fs_free re-read after eviction (%llu)", (unsigned long long)res.fs_free);
	CHECK(!exists(d, n[0]) && !has_sidecar(d, n[0]), "oldest dump and its sidecar removed");
	CHECK(!exists(d, n[1]), "second oldest (another domain) removed");
	CHECK(exists(d, n[2]) && exists(d, n[3]) && exists(d, n[4]) && has_sidecar(d, n[2]) && has_sidecar(d, n[3]) &&
		      has_sidecar(d, n[4]),
	      "newer dumps and sidecars kept");
	CHECK(exists(d, "notes.txt"), "notes.txt kept");
	dg_dumpname_format(".vm", T0 + 5, 0, ".gcore.partial", tmp, sizeof(tmp));
	CHECK(exists(d, tmp), "a capture's temporary is never evicted");
	CHECK(logs.n == 2, "two removals logged (%d)", logs.n);
	check_removed_log(&logs, 0, d, n[0]);
	check_removed_log(&logs, 1, d, n[1]);

	/* One byte less: the next oldest goes too. */
	set_bytes(&p.max_use, cap - 1);
	memset(&logs, 0, sizeof(logs));
	r = dg_retention_apply(dir, &p, MiB, true, collect, &logs, &res, &err);
	CHECK(r == 0 && res.evicted == 1 && res.usage == 2 * (D + SC), "MaxUse - 1: one more evicted (%d, %u)", r,
	      res.evicted);
	CHECK(!exists(d, n[2]) && !has_sidecar(d, n[2]) && exists(d, n[3]), "it was the oldest remaining");
	CHECK(logs.n == 1, "one removal logged (%d)", logs.n);
	check_removed_log(&logs, 0, d, n[2]);

	/* Within limits: nothing to do, and no log or result needed. */
	memset(&logs, 0, sizeof(logs));
	r = dg_retention_apply(dir, &p, 0, true, collect, &logs, &res, &err);
	CHECK(r == 0 && res.evicted == 0 && logs.n == 0, "within MaxUse: nothing evicted (%d, %u)", r, res.evicted);
	r = dg_retention_apply(dir, &p, MiB, true, NULL, NULL, NULL, NULL);
	CHECK(r == 0 && exists(d, n[3]), "NULL log, result and error accepted (%d)", r);
	close_dir(dir, d);
}

static void test_max_use_percent(void)
{
	char d[256], n[6][DG_DUMPNAME_MAX];
	struct dg_capture_policy p;
	struct dg_retention_result res;
	struct dg_dumpdir *dir;
	struct dg_error err;
	struct logs logs;
	int r;

	snprintf(d, sizeof(d), "%s/percent", mnt);
	dir = open_dir(d);
	if (!dir)
		return;
	for (int i = 0; i < 6; i++)
		make_dump(d, "p", T0 + i * 60, 0, MiB, 0, n[i]);
	no_limits(&p);
	set_percent(&p.max_use, 6.25); /* 4 MiB of 64 */
	memset(&logs, 0, sizeof(logs));
	memset(&err, 0, sizeof(err));
	r = dg_retention_apply(dir, &p, 0, true, collect, &logs, &res, &err);
	CHECK(r == 0 && res.evicted == 2 && res.usage == 4 * MiB && res.freed == 2 * MiB,
	      "MaxUse 6.25%%, need 0: two evicted down to 4 MiB (%d, %u, %llu: %s)", r, res.evicted,
	      (unsigned long long)res.usage, err.message);
	CHECK(!exists(d, n[0]) && !exists(d, n[1]) && exists(d, n[2]) && exists(d, n[5]), "the two oldest went");
	CHECK(logs.n == 2, "two removals logged (%d)", logs.n);
	check_removed_log(&logs, 0, d, n[0]);
	check_removed_log(&logs, 1, d, n[1]);

	memset(&logs, 0, sizeof(logs));
	r = dg_retention_apply(dir, &p, MiB, true, collect, &logs, &res, &err);
	CHECK(r == 0 && res.evicted == 1 && res.usage == 3 * MiB, "need 1 MiB: one more evicted (%d, %u)", r,
	      res.evicted);
	CHECK(!exists(d, n[2]) && exists(d, n[3]), "it was the oldest remaining");
	check_removed_log(&logs, 0, d, n[2]);
	close_dir(dir, d);
}

static int count_dumps(const char *d, char n[][DG_DUMPNAME_MAX], int k)
{
	int c = 0;

	for (int i = 0; i < k; i++)
		c += exists(d, n[i]);
	return c;
}

static void test_impossible(void)
{
	char d[256], n[3][DG_DUMPNAME_MAX];
	struct dg_capture_policy p;
	struct dg_retention_result res;
	struct dg_dumpdir *dir;
	struct dg_error err;
	struct logs logs;
	int r;

	snprintf(d, sizeof(d), "%s/impossible", mnt);
	dir = open_dir(d);
	if (!dir)
		return;

	/* evict=false: refused, nothing touched. */
	for (int i = 0; i < 3; i++)
		make_dump(d, "vm", T0 + i, 0, MiB, 0, n[i]);
	no_limits(&p);
	set_bytes(&p.max_use, 2 * MiB);
	memset(&logs, 0, sizeof(logs));
	memset(&err, 0, sizeof(err));
	r = dg_retention_apply(dir, &p, MiB, false, collect, &logs, &res, &err);
	CHECK(r == -DG_REFUSED && err.status == DG_REFUSED, "evict=false over MaxUse: DG_REFUSED (%d)", r);
	CHECK(strstr(err.message, "MaxUse 2.0 MiB would be exceeded: dumps use 3.0 MiB and this one needs 1.0 MiB") &&
		      strstr(err.message, d),
	      "message has the numbers and the directory: %s", err.message);
	CHECK(strstr(err.message, "even after") == NULL, "evict=false does not claim anything was removed");
	CHECK(count_dumps(d, n, 3) == 3 && res.evicted == 0 && logs.n == 0, "nothing removed, nothing logged");

	/* Evicting cannot help: 512 KiB cap for a 1 MiB capture. */
	set_bytes(&p.max_use, 512 * KiB);
	memset(&logs, 0, sizeof(logs));
	memset(&err, 0, sizeof(err));
	r = dg_retention_apply(dir, &p, MiB, true, collect, &logs, &res, &err);
	CHECK(r == -DG_REFUSED && err.status == DG_REFUSED, "MaxUse below the capture's need: DG_REFUSED (%d)", r);
	CHECK(strstr(err.message, "even after removing every older dump") != NULL, "message: %s", err.message);
	CHECK(strstr(err.message, "MaxUse 512.0 KiB would be exceeded") && strstr(err.message, "needs 1.0 MiB"),
	      "message has the limit and the need");
	CHECK(strstr(err.message, d) && strstr(err.message, "MaxUse/KeepFree"), "message names the directory and the "
									     "settings");
	CHECK((int)res.evicted == logs.n, "every removal was logged (%u, %d)", res.evicted, logs.n);
	CHECK(count_dumps(d, n, 3) == 3,
		   "a refused capture removed no dump (%d of 3 left, %u evicted)", count_dumps(d, n, 3), res.evicted);
	close_dir(dir, d);
}

static void test_keep_free(void)
{
	char d[256], n[10][DG_DUMPNAME_MAX], want[1024], a[32];
	struct dg_capture_policy p;
	struct dg_retention_result res;
	struct dg_dumpdir *dir;
	struct dg_error err;
	struct logs logs;
	int r;

	snprintf(d, sizeof(d), "%s/keepfree", mnt);
	dir = open_dir(d);
	if (!dir)
		return;
	for (int i = 0; i < 10; i++)
		make_dump(d, "k", T0 + i, 0, 5 * MiB, 0, n[i]);
	CHECK(fs_free(d) >= 13 * MiB && fs_free(d) <= 14 * MiB, "50 MiB of dumps leave ~14 MiB free (%llu)",
	      (unsigned long long)fs_free(d));

	/* KeepFree bytes: 14 - 10 < 8, one eviction gives 19 - 10 >= 8. */
	no_limits(&p);
	set_bytes(&p.keep_free, 8 * MiB);
	memset(&logs, 0, sizeof(logs));
	memset(&err, 0, sizeof(err));
	r = dg_retention_apply(dir, &p, 10 * MiB, true, collect, &logs, &res, &err);
	CHECK(r == 0 && res.evicted == 1, "KeepFree 8 MiB, need 10 MiB: one evicted (%d, %u: %s)", r, res.evicted,
	      err.message);
	CHECK(res.fs_free == fs_free(d) && res.fs_free >= 18 * MiB, "fs_free after eviction %llu",
	      (unsigned long long)res.fs_free);
	CHECK(!exists(d, n[0]) && exists(d, n[1]), "the oldest went");
	check_removed_log(&logs, 0, d, n[0]);

	/* KeepFree 25% = 16 MiB: need 26 free, ~19 free; two more go. */
	set_percent(&p.keep_free, 25);
	memset(&err, 0, sizeof(err));
	r = dg_retention_apply(dir, &p, 10 * MiB, true, NULL, NULL, &res, &err);
	CHECK(r == 0 && res.evicted == 2 && res.usage == 35 * MiB, "KeepFree 25%%: two evicted (%d, %u, %llu: %s)",
	      r, res.evicted, (unsigned long long)res.usage, err.message);
	CHECK(!exists(d, n[1]) && !exists(d, n[2]) && exists(d, n[3]), "the two oldest went");

	/* KeepFree that no eviction allowed here can meet. */
	set_bytes(&p.keep_free, 60 * MiB);
	memset(&logs, 0, sizeof(logs));
	memset(&err, 0, sizeof(err));
	r = dg_retention_apply(dir, &p, 10 * MiB, false, collect, &logs, &res, &err);
	CHECK(r == -DG_REFUSED && err.status == DG_REFUSED, "KeepFree 60 MiB, evict=false: DG_REFUSED (%d)", r);
	CHECK(strstr(err.message, "KeepFree keeps 60.0 MiB free") && strstr(err.message, "it needs 10.0 MiB"),
	      "message names KeepFree and the numbers: %s", err.message);
	CHECK(count_dumps(d, n, 10) == 7 && logs.n == 0 && res.evicted == 0, "nothing removed (%d left)",
	      count_dumps(d, n, 10));

	/* More than the filesystem has. */
	no_limits(&p);
	memset(&err, 0, sizeof(err));
	r = dg_retention_apply(dir, &p, 100 * MiB, false, collect, &logs, &res, &err);
	human(res.fs_free, a, sizeof(a));
	snprintf(want, sizeof(want), "not enough room for the dump: it needs 100.0 MiB, %s free in %s", a, d);
	CHECK(r == -DG_REFUSED && strstr(err.message, want), "need > free: DG_REFUSED, '%s' (%d: %s)", want, r,
	      err.message);
	CHECK(strstr(err.message, "KeepFree keeps") == NULL, "no KeepFree set: not blamed");
	CHECK(count_dumps(d, n, 10) == 7, "nothing removed");

	/* Default KeepFree (5%) is already met for need 0. */
	dg_config_capture_policy(NULL, NULL, &p);
	r = dg_retention_apply(dir, &p, 0, true, NULL, NULL, &res, &err);
	CHECK(r == 0 && res.evicted == 0, "default policy, need 0: nothing to do (%d, %u)", r, res.evicted);
	close_dir(dir, d);
}

static void test_flood(void)
{
	char d[256], newest[DG_DUMPNAME_MAX], want[1024];
	struct dg_capture_policy p;
	struct dg_dumpdir *dir;
	struct dg_error err;
	const time_t now = T0 + 100000;
	int r;

	/* Names only: no space involved, so any directory does. */
	snprintf(d, sizeof(d), "%s/flood", scratch);
	dir = open_dir(d);
	if (!dir)
		return;
	make_dump(d, "web", now - 10, 0, 0, 0, newest);
	make_dump(d, "web", now - 3599, 0, 0, 10, NULL);
	make_dump(d, "web", now - 3600, 0, 0, 0, NULL); /* just outside the window */
	make_dump(d, "web", now - 7200, 0, 0, 0, NULL);
	make_dump(d, "web", now - 7200, 1, 0, 0, NULL);
	for (int i = 0; i < 5; i++) {
		make_dump(d, "web-1", now - 5, i, 0, 0, NULL); /* another domain whose name extends "web" */
		make_dump(d, "db", now - 1, i, 0, 0, NULL);
	}
	make_dump(d, "we", now - 1, 0, 0, 0, NULL);

	dg_config_capture_policy(NULL, NULL, &p);
	p.flood_limit = 3;
	p.flood_window = 3600;
	memset(&err, 0, sizeof(err));
	r = dg_retention_flood_check(dir, &p, "web", now, &err);
	CHECK(r == 0, "two recent dumps of web, limit 3: allowed (%d: %s)", r, err.message);

	make_dump(d, "web", now - 50, 2, 0, 0, NULL);
	memset(&err, 0, sizeof(err));
	r = dg_retention_flood_check(dir, &p, "web", now, &err);
	CHECK(r == -DG_REFUSED && err.status == DG_REFUSED, "third recent dump reaches the limit: DG_REFUSED (%d)", r);
	snprintf(want, sizeof(want), "flood limit: web already has 3 dump(s) from the last 3600 s in %s (newest %s; "
		 "FloodLimit 3)", d, newest);
	CHECK(strstr(err.message, want) != NULL, "message: %s", err.message);

	p.flood_limit = 4;
	r = dg_retention_flood_check(dir, &p, "web", now, &err);
	CHECK(r == 0, "limit 4: allowed (%d)", r);
	p.flood_window = 3601;
	memset(&err, 0, sizeof(err));
	r = dg_retention_flood_check(dir, &p, "web", now, &err);
	CHECK(r == -DG_REFUSED && strstr(err.message, "web already has 4 dump(s) from the last 3601 s"),
	      "a window one second longer takes in the dump at now-3600 (%d: %s)", r, err.message);
	p.flood_window = 3600;
	r = dg_retention_flood_check(dir, &p, "web", now + 3591, &err);
	CHECK(r == 0, "later, the older ones age out of the window (%d)", r);

	p.flood_limit = 5;
	memset(&err, 0, sizeof(err));
	r = dg_retention_flood_check(dir, &p, "web-1", now, &err);
	CHECK(r == -DG_REFUSED && strstr(err.message, "web-1 already has 5 dump(s)"), "web-1 counted on its own (%d: %s)",
	      r, err.message);
	p.flood_limit = 6;
	r = dg_retention_flood_check(dir, &p, "web-1", now, &err);
	CHECK(r == 0, "web-1 under limit 6 (%d)", r);
	p.flood_limit = 1;
	memset(&err, 0, sizeof(err));
	r = dg_retention_flood_check(dir, &p, "we", now, &err);
	CHECK(r == -DG_REFUSED && strstr(err.message, "we already has 1 dump(s)"), "'we' counts only its own (%d: %s)",
	      r, err.message);
	r = dg_retention_flood_check(dir, &p, "mail", now, &err);
	CHECK(r == 0, "a domain without dumps is allowed (%d)", r);

	p.flood_limit = 0;
	r = dg_retention_flood_check(dir, &p, "db", now, &err);
	CHECK(r == 0, "FloodLimit 0 = unlimited (%d)", r);
	close_dir(dir, d);
}

int main(void)
{
	char cmd[512];
	struct stat st;

	umask(022);
	setenv("TZ", "UTC", 1);
	tzset();
	if (!mkdtemp(scratch)) {
		printf("not ok 1 - mkdtemp: %s\n1..1\n", strerror(errno));
		return 1;
	}
	snprintf(mnt, sizeof(mnt), "%s/fs", scratch);
	mkdir(mnt, 0700);
	if (geteuid() == 0) {
		snprintf(cmd, sizeof(cmd), "mount -t tmpfs -o size=64m tmpfs '%s' 2>/dev/null", mnt);
		have_tmpfs = system(cmd) == 0;
	}
	if (have_tmpfs) {
		test_max_use_bytes();
		test_max_use_percent();
		test_impossible();
		test_keep_free();
		snprintf(cmd, sizeof(cmd), "umount '%s'", mnt);
		CHECK(system(cmd) == 0, "tmpfs unmounted");
	} else {
		SKIP_ONE("MaxUse in bytes: needs root to mount a 64 MiB tmpfs");
		SKIP_ONE("MaxUse in percent: needs root to mount a 64 MiB tmpfs");
		SKIP_ONE("limits that cannot be met: needs root to mount a 64 MiB tmpfs");
		SKIP_ONE("KeepFree: needs root to mount a 64 MiB tmpfs");
	}
	test_flood();
	CHECK(nftw(scratch, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) == 0 && lstat(scratch, &st) < 0,
	      "scratch directory removed");
	return tap_done();
}
