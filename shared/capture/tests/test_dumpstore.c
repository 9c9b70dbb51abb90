/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Dump names read back (dg_dumpname_ext, dg_dumpname_parse) and the dump store: a directory listed from names and
 * stat() alone, oldest first, and dumps removed with their sidecars. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "diagint/dumpname.h"
#include "diagint/dumpstore.h"
#include "tap.h"

/* 2023-11-14 22:13:20 UTC */
#define T0 ((time_t)1700000000)

static char scratch[] = "/tmp/dg-test-dumpstore-XXXXXX";

static void set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static bool exists(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return lstat(p, &st) == 0;
}

/* A file of `size` bytes of 'x' (size may be 0). */
static int put(const char *dir, const char *name, size_t size)
{
	char p[PATH_MAX], buf[4096];
	int fd;

	memset(buf, 'x', sizeof(buf));
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	while (size > 0) {
		size_t n = size < sizeof(buf) ? size : sizeof(buf);
		if (write(fd, buf, n) != (ssize_t)n) {
			close(fd);
			return -1;
		}
		size -= n;
	}
	return close(fd);
}

/* NAME.json */
static const char *sidecar_of(const char *name, char *out, size_t len)
{
	size_t n = strlen(name);

	if (n + 6 > len)
		n = len - 6;
	memcpy(out, name, n);
	memcpy(out + n, ".json", 6);
	return out;
}

static const char *dumpname(const char *prefix, time_t when, int n, const char *ext, char *out, size_t len)
{
	if (dg_dumpname_format(prefix, when, n, ext, out, len) < 0)
		snprintf(out, len, "(format failed)");
	return out;
}

static void test_ext(void)
{
	CHECK_STR(dg_dumpname_ext("elf"), ".gcore", "elf: .gcore");
	CHECK_STR(dg_dumpname_ext(NULL), ".gcore", "NULL format: .gcore");
	CHECK_STR(dg_dumpname_ext("kdump-zlib"), ".kdump", "kdump-zlib: .kdump");
	CHECK_STR(dg_dumpname_ext("kdump-lzo"), ".kdump", "kdump-lzo: .kdump");
	CHECK_STR(dg_dumpname_ext("kdump-snappy"), ".kdump", "kdump-snappy: .kdump");
	CHECK_STR(dg_dumpname_ext("win-dmp"), ".dmp", "win-dmp: .dmp");
	CHECK(dg_dumpname_ext("bogus") == NULL, "unknown format: NULL");
	CHECK(dg_dumpname_ext("") == NULL, "empty format: NULL");
	CHECK(dg_dumpname_ext("ELF") == NULL, "format names are exact: 'ELF' is unknown");
}

static void test_roundtrip(void)
{
	static const char *const tzs[] = { "UTC", "IST-5:30", "XYZ+9:15" };
	static const char *const exts[] = { ".gcore", ".kdump", ".dmp" };
	static const time_t times[] = { T0, T0 + 86399, 946684800 /* 2000-01-01 UTC */ };
	char name[DG_DUMPNAME_MAX], prefix[DG_DUMPNAME_PREFIX_MAX + 1];

	/* The stamp is local time: the same instant gives another name elsewhere. */
	set_tz("IST-5:30");
	CHECK_STR(dumpname("vm", T0, 0, ".gcore", name, sizeof(name)), "vm-20231115-034320.gcore",
		  "IST-5:30: name in local time");
	set_tz("UTC");
	CHECK_STR(dumpname("vm", T0, 0, ".gcore", name, sizeof(name)), "vm-20231114-221320.gcore", "UTC name");

	for (size_t z = 0; z < sizeof(tzs) / sizeof(tzs[0]); z++) {
		set_tz(tzs[z]);
		for (size_t t = 0; t < sizeof(times) / sizeof(times[0]); t++)
			for (int n = 0; n <= 9; n++)
				for (size_t e = 0; e < sizeof(exts) / sizeof(exts[0]); e++) {
					time_t when = 0;
					int got_n = -1;
					const char *got_ext = NULL;
					bool ok;

					dumpname("web-01.prod", times[t], n, exts[e], name, sizeof(name));
					memset(prefix, 'Z', sizeof(prefix));
					ok = dg_dumpname_parse(name, prefix, sizeof(prefix), &when, &got_n, &got_ext);
					CHECK(ok && strcmp(prefix, "web-01.prod") == 0 && when == times[t] &&
						      got_n == n && got_ext && strcmp(got_ext, exts[e]) == 0,
					      "TZ=%s: %s parses back (ok %d, prefix '%s', when %lld, n %d, ext %s)",
					      tzs[z], name, ok, ok ? prefix : "", (long long)when, got_n,
					      got_ext ? got_ext : "NULL");
				}
	}
	set_tz("UTC");
	CHECK(dg_dumpname_parse("vm-20231114-221320-4.kdump", NULL, 0, NULL, NULL, NULL),
	      "all out-pointers NULL accepted");
}

static void parse_no(const char *name)
{
	time_t when = 77;
	int n = 77;

	CHECK(!dg_dumpname_parse(name, NULL, 0, &when, &n, NULL), "'%s' is not a dump name", name);
}

static void parse_yes(const char *name, const char *prefix, time_t when, int n, const char *ext)
{
	char p[DG_DUMPNAME_PREFIX_MAX + 1] = "";
	time_t w = 0;
	int gn = -1;
	const char *ge = NULL;
	bool ok = dg_dumpname_parse(name, p, sizeof(p), &w, &gn, &ge);

	CHECK(ok && strcmp(p, prefix) == 0 && w == when && gn == n && ge && strcmp(ge, ext) == 0,
	      "'%s': prefix '%s', n %d, %s (ok %d, got '%s', %lld, %d)", name, prefix, n, ext, ok, p, (long long)w,
	      gn);
}

static void test_parse(void)
{
	set_tz("UTC");
	parse_yes("vm-20231114-221320.gcore", "vm", T0, 0, ".gcore");
	parse_yes("web-1-20231114-221320-3.gcore", "web-1", T0, 3, ".gcore");
	parse_yes("web-1-20231114-221320.gcore", "web-1", T0, 0, ".gcore");
	parse_yes("x-1-2-20231114-221321.dmp", "x-1-2", T0 + 1, 0, ".dmp");
	parse_yes("db-20231114-221320-9.kdump", "db", T0, 9, ".kdump");
	parse_yes("a-20231114-221320-20231114-221320-1.gcore", "a-20231114-221320", T0, 1, ".gcore");
	parse_yes("2-20231114-221320.gcore", "2", T0, 0, ".gcore");
	parse_yes("vm.gcore-20231114-221320.gcore", "vm.gcore", T0, 0, ".gcore");

	parse_no(".vm-20231114-221320.gcore");
	parse_no(".x.gcore.partial");
	parse_no(".vm-20231114-221320.gcore.partial");
	parse_no("vm-20231114-221320.gcore.partial");
	parse_no(".vm-20231114-221320.gcore.kept");
	parse_no("x.gcore.json");
	parse_no("vm-20231114-221320.gcore.json");
	parse_no("vm.gcore");
	parse_no(".gcore");
	parse_no("");
	parse_no("20231114-221320.gcore");
	parse_no("-20231114-221320.gcore");
	parse_no("vm-20231114-221320");
	parse_no("vm-20231114-221320.txt");
	parse_no("vm-20231114-221320.GCORE");
	parse_no("vm-2023111a-221320.gcore");
	parse_no("vm-20231114-22132x.gcore");
	parse_no("vm-20231114_221320.gcore");
	parse_no("vm_20231114-221320.gcore");
	parse_no("vm-20231114-22132.gcore");
	parse_no("vm-2023-1114-221320.gcore");
	parse_no("vm-20231114-221320-0.gcore");
	parse_no("vm-20231114-221320-10.gcore");
	parse_no("vm-20231114-221320-a.gcore");
	parse_no("vm-20231114-221320-.gcore");
	parse_no("vm-20231114-221320.gcore.gz");
}

/* The scan reports what stat says: compare with our own stat of the same files. */
static uint64_t blocks_of(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) == 0 ? (uint64_t)st.st_blocks * 512 : UINT64_MAX;
}

struct want {
	char name[DG_DUMPNAME_MAX];
	const char *prefix, *ext;
	time_t stamp;
	int suffix;
	size_t size, sidecar; /* sidecar size, 0 = none */
};

static void test_scan_and_remove(void)
{
	char d[512], p[PATH_MAX], target[PATH_MAX], json[DG_DUMPNAME_MAX + 8], name[DG_DUMPNAME_MAX];
	/* In the order the scan must return them. */
	struct want w[] = {
		{ "", "aa", ".gcore", T0, 0, 0, 0 },
		{ "", "vm", ".gcore", T0, 0, 3000, 0 },
		{ "", "vm", ".kdump", T0, 1, 20, 9000 },
		{ "", "vm", ".gcore", T0, 2, 10, 0 },
		{ "", "db", ".dmp", T0 + 10, 0, 30, 0 },
		{ "", "web-1", ".gcore", T0 + 20, 3, 20000, 5000 },
		{ "", "vm", ".gcore", T0 + 20, 4, 5000, 100 },
	};
	const size_t nw = sizeof(w) / sizeof(w[0]);
	struct dg_dump_list list = { 0 };
	struct dg_error err;
	struct timespec times[2];
	int dfd, r;

	set_tz("UTC");
	snprintf(d, sizeof(d), "%s/store", scratch);
	CHECK(mkdir(d, 0700) == 0, "made %s", d);
	dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(dfd >= 0, "opened the directory");
	if (dfd < 0)
		return;

	memset(&err, 0, sizeof(err));
	r = dg_dumpstore_scan(dfd, d, &list, &err);
	CHECK(r == 0 && list.n == 0, "empty directory: no dumps (%d, %zu)", r, list.n);
	dg_dump_list_free(&list);

	/* Created newest first, so that directory order is not sorted order. */
	for (size_t i = nw; i-- > 0;) {
		dumpname(w[i].prefix, w[i].stamp, w[i].suffix, w[i].ext, w[i].name, sizeof(w[i].name));
		CHECK(put(d, w[i].name, w[i].size) == 0, "created %s", w[i].name);
		if (w[i].sidecar) {
			sidecar_of(w[i].name, json, sizeof(json));
			CHECK(put(d, json, w[i].sidecar) == 0, "created %s", json);
		}
	}
	/* mtime is reported as is, independent of the name's stamp. */
	times[0].tv_sec = times[1].tv_sec = T0 + 12345;
	times[0].tv_nsec = times[1].tv_nsec = 0;
	CHECK(utimensat(dfd, w[6].name, times, 0) == 0, "set the mtime of %s", w[6].name);

	/* Things that are not dumps. */
	put(d, "notes.txt", 10);
	put(d, dumpname(".vm", T0 + 30, 0, ".gcore.partial", name, sizeof(name)), 10);
	put(d, dumpname("vm", T0 + 31, 0, ".gcore.json", name, sizeof(name)), 10); /* sidecar alone */
	put(d, dumpname("vm", T0 + 32, 0, ".gcore.kept", name, sizeof(name)), 10);
	snprintf(p, sizeof(p), "%s/%s", d, dumpname("vm", T0 + 40, 0, ".gcore", name, sizeof(name)));
	CHECK(mkdir(p, 0700) == 0, "a directory named like a dump: %s", name);
	snprintf(target, sizeof(target), "%s/%s", d, w[1].name);
	snprintf(p, sizeof(p), "%s/%s", d, dumpname("vm", T0 + 50, 0, ".gcore", name, sizeof(name)));
	CHECK(symlink(target, p) == 0, "a symlink named like a dump: %s", name);
	snprintf(p, sizeof(p), "%s/%s", d, dumpname("vm", T0 + 60, 0, ".gcore", name, sizeof(name)));
	CHECK(symlink("/nonexistent", p) == 0, "a dangling symlink named like a dump: %s", name);

	memset(&err, 0, sizeof(err));
	r = dg_dumpstore_scan(dfd, d, &list, &err);
	CHECK(r == 0, "scan succeeds (%d: %s)", r, err.message);
	CHECK(list.n == nw, "only the %zu dumps listed (%zu)", nw, list.n);
	for (size_t i = 0; i < nw && i < list.n; i++) {
		const struct dg_dump_entry *e = &list.v[i];
		uint64_t alloc = blocks_of(d, w[i].name);
		struct stat st;

		if (w[i].sidecar) {
			sidecar_of(w[i].name, json, sizeof(json));
			alloc += blocks_of(d, json);
		}
		snprintf(p, sizeof(p), "%s/%s", d, w[i].name);
		stat(p, &st);
		CHECK_STR(e->name, w[i].name, "entry %zu in order", i);
		CHECK(strcmp(e->prefix, w[i].prefix) == 0 && e->ext && strcmp(e->ext, w[i].ext) == 0 &&
			      e->stamp == w[i].stamp && e->suffix == w[i].suffix,
		      "entry %zu: prefix %s, ext %s, stamp, suffix %d (got %s %s %lld %d)", i, w[i].prefix, w[i].ext,
		      w[i].suffix, e->prefix, e->ext ? e->ext : "NULL", (long long)e->stamp, e->suffix);
		CHECK(e->size == w[i].size, "entry %zu: apparent size %zu, the dump alone (%llu)", i, w[i].size,
		      (unsigned long long)e->size);
		CHECK(e->sidecar == (w[i].sidecar != 0), "entry %zu: sidecar %s", i, w[i].sidecar ? "seen" : "absent");
		CHECK(e->allocated == alloc, "entry %zu: allocated = dump + sidecar blocks = %llu (%llu)", i,
		      (unsigned long long)alloc, (unsigned long long)e->allocated);
		CHECK(e->mtime == st.st_mtime, "entry %zu: mtime from stat", i);
	}
	if (list.n == nw) {
		CHECK(list.v[5].allocated > blocks_of(d, w[5].name), "a 5000-byte sidecar adds blocks (%llu > %llu)",
		      (unsigned long long)list.v[5].allocated, (unsigned long long)blocks_of(d, w[5].name));
		CHECK(list.v[6].mtime == T0 + 12345, "mtime is the file's, not the name's");
	}
	dg_dump_list_free(&list);
	CHECK(list.v == NULL && list.n == 0, "dg_dump_list_free empties the list");
	dg_dump_list_free(&list);
	dg_dump_list_free(NULL);

	memset(&err, 0, sizeof(err));
	r = dg_dumpstore_scan(-1, "/no/such/dir", &list, &err);
	CHECK(r == -DG_FAILED && err.status == DG_FAILED && strstr(err.message, "cannot list /no/such/dir"),
	      "scan of a bad fd: DG_FAILED naming the path (%d: %s)", r, err.message);

	/* Removal. */
	memset(&err, 0, sizeof(err));
	r = dg_dumpstore_remove(dfd, w[5].name, &err);
	sidecar_of(w[5].name, json, sizeof(json));
	CHECK(r == 0 && !exists(d, w[5].name) && !exists(d, json), "remove took the dump and its sidecar (%d: %s)", r,
	      err.message);
	r = dg_dumpstore_remove(dfd, w[1].name, &err);
	CHECK(r == 0 && !exists(d, w[1].name), "remove of a dump without sidecar (%d: %s)", r, err.message);
	CHECK(exists(d, w[0].name) && exists(d, w[2].name), "other dumps untouched");

	memset(&err, 0, sizeof(err));
	r = dg_dumpstore_remove(dfd, w[1].name, &err);
	CHECK(r == -DG_NOTFOUND && err.status == DG_NOTFOUND, "removing it again: DG_NOTFOUND (%d)", r);
	CHECK(strstr(err.message, "no dump named") && strstr(err.message, w[1].name), "message: %s", err.message);
	r = dg_dumpstore_remove(dfd, "vm-20991231-235959.gcore", &err);
	CHECK(r == -DG_NOTFOUND, "missing dump: DG_NOTFOUND (%d)", r);

	{
		static const char *const bad[] = { "notes.txt", "../store/vm-20231114-221320.gcore",
						   "sub/vm-20231114-221320.gcore", "/vm-20231114-221320.gcore",
						   "vm-20231114-221320.gcore.json", ".vm-20231114-221320.gcore.partial",
						   "vm-20231114-221320.gcore/", "" };
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			memset(&err, 0, sizeof(err));
			r = dg_dumpstore_remove(dfd, bad[i], &err);
			CHECK(r == -DG_USAGE && err.status == DG_USAGE && strstr(err.message, "is not a dump's name"),
			      "remove '%s': DG_USAGE (%d: %s)", bad[i], r, err.message);
		}
	}
	CHECK(exists(d, "notes.txt"), "notes.txt still there");
	sidecar_of(w[2].name, json, sizeof(json));
	CHECK(exists(d, json), "a sidecar is not removable on its own");

	/* A directory named like a dump is not removed. */
	dumpname("vm", T0 + 40, 0, ".gcore", name, sizeof(name));
	memset(&err, 0, sizeof(err));
	r = dg_dumpstore_remove(dfd, name, &err);
	CHECK(r == -DG_FAILED && exists(d, name) && strstr(err.message, name),
	      "a directory named like a dump: DG_FAILED, kept (%d: %s)", r, err.message);

	r = dg_dumpstore_scan(dfd, d, &list, &err);
	CHECK(r == 0 && list.n == nw - 2, "rescan lists %zu dumps (%zu)", nw - 2, list.n);
	if (r == 0 && list.n == nw - 2)
		CHECK(!strcmp(list.v[0].name, w[0].name) && !strcmp(list.v[1].name, w[2].name) &&
			      !strcmp(list.v[4].name, w[6].name),
		      "remaining dumps still oldest first");
	dg_dump_list_free(&list);
	close(dfd);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int main(void)
{
	struct stat st;

	umask(022);
	if (!mkdtemp(scratch)) {
		printf("not ok 1 - mkdtemp: %s\n1..1\n", strerror(errno));
		return 1;
	}
	test_ext();
	test_roundtrip();
	test_parse();
	test_scan_and_remove();
	CHECK(nftw(scratch, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) == 0 && lstat(scratch, &st) < 0,
	      "scratch directory removed");
	return tap_done();
}
