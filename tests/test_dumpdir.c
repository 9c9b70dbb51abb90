/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The dump directory: names reserved under lock, nothing partial under a final name, no dump ever overwritten. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dg_config.h"
#include "diagint/dumpdir.h"
#include "tap.h"

/* 2023-11-14 22:13:20 UTC */
#define T0 ((time_t)1700000000)
#define BASE "vm-20231114-221320"

static char scratch[] = "/tmp/dg-test-dumpdir-XXXXXX";

/* scratch/..., into a buffer of `size` bytes. */
static const char *at_(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static const char *at_(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(buf, size, "%s/", scratch);

	va_start(ap, fmt);
	vsnprintf(buf + n, size - (size_t)n, fmt, ap);
	va_end(ap);
	return buf;
}
#define at(buf, ...) at_(buf, sizeof(buf), __VA_ARGS__)

/* Directory paths stay short, so that DIR/NAME always fits a PATH_MAX buffer. */
#define DIRBUF 512

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static int put(const char *path, const char *content)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = strlen(content);

	if (fd < 0)
		return -1;
	if (write(fd, content, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* Whole file into buf (NUL-terminated); length, or -1. */
static ssize_t slurp(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static int mode_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
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

static void test_open(void)
{
	char p[DIRBUF], q[PATH_MAX];
	struct dg_dumpdir *dir = NULL;
	struct dg_error err;
	int r;

	memset(&err, 0, sizeof(err));
	r = dg_dumpdir_open(at(p, "missing"), false, &dir, &err);
	CHECK(r == -DG_USAGE && err.status == DG_USAGE, "missing directory: DG_USAGE (%d)", r);
	CHECK(strstr(err.message, "does not exist") && strstr(err.message, p), "message says so: %s", err.message);
	CHECK(dir == NULL, "no handle returned");
	CHECK(!exists(p), "create=false did not create it");

	CHECK(put(at(p, "afile"), "x") == 0, "made a regular file");
	memset(&err, 0, sizeof(err));
	r = dg_dumpdir_open(p, false, &dir, &err);
	CHECK(r == -DG_USAGE && err.status == DG_USAGE, "regular file: DG_USAGE (%d)", r);
	CHECK(strstr(err.message, "not a directory") != NULL, "message: %s", err.message);
	r = dg_dumpdir_open(p, true, &dir, &err);
	CHECK(r == -DG_USAGE && strstr(err.message, "not a directory"), "create=true on a regular file: %s",
	      err.message);
	r = dg_dumpdir_open(at(p, "afile/sub"), true, &dir, &err);
	CHECK(r == -DG_USAGE && err.sys_errno == ENOTDIR && strstr(err.message, "cannot create"),
	      "create=true below a regular file: DG_USAGE, ENOTDIR (%d: %s)", r, err.message);
	CHECK(dir == NULL, "still no handle");

	r = dg_dumpdir_open("", true, &dir, &err);
	CHECK(r == -DG_USAGE, "empty path: DG_USAGE (%d)", r);
	r = dg_dumpdir_open(NULL, false, &dir, &err);
	CHECK(r == -DG_USAGE, "NULL path: DG_USAGE (%d)", r);

	/* create=true: nested, the directory itself private. */
	r = dg_dumpdir_open(at(p, "new/nested/dumps"), true, &dir, &err);
	CHECK(r == 0 && dir, "create=true makes nested directories (%d: %s)", r, err.message);
	CHECK(mode_of(p) == 0700, "created dump directory has mode 0700 (got %o)", mode_of(p));
	CHECK(mode_of(at(q, "new/nested")) >= 0 && (mode_of(q) & 0700) == 0700, "parents created and usable (%o)",
	      mode_of(q));
	if (dir)
		CHECK_STR(dg_dumpdir_path(dir), p, "dg_dumpdir_path is the given path");
	dg_dumpdir_free(dir);
	dir = NULL;

	/* Opening an existing one with create=true is fine and leaves its mode alone. */
	CHECK(chmod(p, 0750) == 0, "chmod 0750");
	r = dg_dumpdir_open(p, true, &dir, &err);
	CHECK(r == 0 && mode_of(p) == 0750, "create=true on an existing directory keeps its mode (%o)", mode_of(p));
	dg_dumpdir_free(dir);
	dir = NULL;

	/* Trailing slashes are stripped from the reported path. */
	snprintf(q, sizeof(q), "%s//", p);
	r = dg_dumpdir_open(q, false, &dir, &err);
	CHECK(r == 0 && dir, "open with trailing slashes (%d)", r);
	if (dir)
		CHECK_STR(dg_dumpdir_path(dir), p, "trailing slashes stripped from the path");
	dg_dumpdir_free(dir);
	dir = NULL;

	/* A new directory given with a trailing slash must be as private as one without. */
	r = dg_dumpdir_open(at(p, "slash/dumps/"), true, &dir, &err);
	CHECK(r == 0 && dir, "create=true with a trailing slash (%d: %s)", r, err.message);
	CHECK(mode_of(p) == 0700,
		   "created dump directory given as 'DIR/' has mode 0700 (got %o)", mode_of(p));
	dg_dumpdir_free(dir);
	dg_dumpdir_free(NULL);
}

/* The default destination by value, whatever the spelling; a dry open creates nothing. */
static void test_default_and_dry(void)
{
	char p[DIRBUF], q[DIRBUF];
	struct dg_dumpdir *dir = NULL;
	struct dg_dump_slot slot;
	struct dg_error err;
	bool missing = false;
	int r;

	CHECK(dg_dumpdir_is_default(DG_DEFAULT_DUMP_DIR), "the default is the default");
	snprintf(q, sizeof(q), "%s/", DG_DEFAULT_DUMP_DIR);
	CHECK(dg_dumpdir_is_default(q), "with a trailing slash too (%s)", q);
	snprintf(q, sizeof(q), "/%s//", DG_DEFAULT_DUMP_DIR);
	CHECK(dg_dumpdir_is_default(q), "with doubled slashes too (%s)", q);
	snprintf(q, sizeof(q), "%s/x", DG_DEFAULT_DUMP_DIR);
	CHECK(!dg_dumpdir_is_default(q), "a subdirectory is not");
	snprintf(q, sizeof(q), "%.*s", (int)strlen(DG_DEFAULT_DUMP_DIR) - 1, DG_DEFAULT_DUMP_DIR);
	CHECK(!dg_dumpdir_is_default(q), "a prefix is not (%s)", q);
	CHECK(!dg_dumpdir_is_default("/srv/dumps") && !dg_dumpdir_is_default("") && !dg_dumpdir_is_default(NULL),
	      "others are not");

	/* A missing directory that may be created: 0, nothing made, room read from the parent. */
	memset(&err, 0, sizeof(err));
	r = dg_dumpdir_open_dry(at(p, "dry/var/lib/dumps"), true, &dir, &missing, &err);
	CHECK(r == 0 && dir && missing, "dry open of a creatable directory (%d: %s)", r, err.message);
	CHECK(!exists(p) && !exists(at(q, "dry")), "and nothing was created");
	if (dir)
		CHECK_STR(dg_dumpdir_path(dir), p, "messages name the directory it would create");
	CHECK(dir && dg_dumpdir_check_space(dir, 1, &err) == 0, "room is read from the nearest existing parent");
	dg_dumpdir_free(dir);
	dir = NULL;

	/* create=false: the same error as dg_dumpdir_open. */
	r = dg_dumpdir_open_dry(p, false, &dir, &missing, &err);
	CHECK(r == -DG_USAGE && !missing && strstr(err.message, "does not exist"), "dry, create=false: %s",
	      err.message);
	/* A parent that is a file: cannot be created. */
	CHECK(put(at(q, "dryfile"), "x") == 0, "a regular file");
	r = dg_dumpdir_open_dry(at(p, "dryfile/dumps"), true, &dir, &missing, &err);
	CHECK(r == -DG_USAGE && dir == NULL, "dry open below a file fails: %s", err.message);

	/* An existing directory: the first free name, nothing written. */
	CHECK(mkdir(at(p, "drydir"), 0700) == 0, "mkdir drydir");
	r = dg_dumpdir_open_dry(p, true, &dir, &missing, &err);
	CHECK(r == 0 && dir && !missing, "dry open of an existing directory");
	CHECK(put(at(q, "drydir/" BASE ".gcore"), "x") == 0, "the plain name is taken");
	r = dir ? dg_dumpdir_peek_ext(dir, "vm", NULL, T0, &slot, &err) : -1;
	CHECK(r == 0 && !strcmp(slot.name, BASE "-1.gcore") && slot.lock_fd == -1, "peek: %s", slot.name);
	CHECK(!exists(at(q, "drydir/." BASE "-1.gcore.partial")), "peek writes no temporary");
	if (geteuid() != 0 && dir) {
		chmod(p, 0500);
		r = dg_dumpdir_peek_ext(dir, "vm", NULL, T0, &slot, &err);
		CHECK(r == -DG_USAGE && strstr(err.message, "not writable"), "peek in a read-only directory: %s",
		      err.message);
		chmod(p, 0700);
	}
	dg_dumpdir_free(dir);
}

static void test_reserve_sequence(void)
{
	char d[DIRBUF], p[PATH_MAX], want[DG_DUMPNAME_MAX];
	struct dg_dumpdir *dir;
	struct dg_dump_slot slot;
	struct dg_error err;
	int r, before, untouched;

	dir = open_dir(at(d, "seq"));
	if (!dir)
		return;
	for (int n = 0; n <= 9; n++) {
		if (n)
			snprintf(want, sizeof(want), BASE "-%d.gcore", n);
		else
			snprintf(want, sizeof(want), BASE ".gcore");
		memset(&err, 0, sizeof(err));
		r = dg_dumpdir_reserve(dir, "vm", T0, &slot, &err);
		CHECK(r == 0, "reserve #%d succeeds (%d: %s)", n, r, err.message);
		CHECK_STR(slot.name, want, "reserve #%d picks the first free name", n);
		snprintf(p, sizeof(p), "%s/%s", d, want);
		CHECK_STR(slot.path, p, "slot.path is directory + name");
		snprintf(p, sizeof(p), ".%s.partial", want);
		CHECK_STR(slot.tmp_name, p, "temporary is hidden .NAME.partial");
		CHECK(slot.lock_fd >= 0 && exists(slot.tmp_path) && !exists(slot.path),
		      "temporary exists and is held, the final name does not");
		dg_dumpdir_abort(dir, &slot);
		snprintf(p, sizeof(p), "%s/.%s.partial", d, want);
		CHECK(!exists(p) && slot.lock_fd == -1, "abort removed the temporary and closed the lock");
		/* Someone's dump now sits under that name. */
		snprintf(p, sizeof(p), "%s/%s", d, want);
		put(p, "old dump");
	}
	CHECK(count_entries(d) == 10, "ten dumps in the directory (%d)", count_entries(d));

	before = count_entries(d);
	memset(&err, 0, sizeof(err));
	r = dg_dumpdir_reserve(dir, "vm", T0, &slot, &err);
	CHECK(r == -DG_REFUSED && err.status == DG_REFUSED, "all ten names taken: DG_REFUSED (%d)", r);
	CHECK(strstr(err.message, "no free dump name") != NULL, "message: %s", err.message);
	CHECK(strstr(err.message, BASE ".gcore") != NULL, "message names the first candidate");
	CHECK(count_entries(d) == before, "nothing was written (%d entries, was %d)", count_entries(d), before);
	CHECK(slot.lock_fd == -1 && slot.name[0] == '\0' && slot.tmp_name[0] == '\0',
	      "refused slot holds nothing");
	dg_dumpdir_abort(dir, &slot); /* harmless on a refused slot */
	CHECK(count_entries(d) == before, "abort of a refused slot removed nothing");
	untouched = 0;
	for (int n = 0; n <= 9; n++) {
		if (n)
			snprintf(p, sizeof(p), "%s/" BASE "-%d.gcore", d, n);
		else
			snprintf(p, sizeof(p), "%s/" BASE ".gcore", d);
		if (slurp(p, want, sizeof(want)) == 8 && strcmp(want, "old dump") == 0)
			untouched++;
	}
	CHECK(untouched == 10, "all ten old dumps untouched (%d)", untouched);

	/* Another prefix or another second is a different name space. */
	r = dg_dumpdir_reserve(dir, "vm", T0 + 1, &slot, &err);
	CHECK(r == 0 && strcmp(slot.name, "vm-20231114-221321.gcore") == 0, "next second is free (%s)", slot.name);
	dg_dumpdir_abort(dir, &slot);
	r = dg_dumpdir_reserve(dir, "vm2", T0, &slot, &err);
	CHECK(r == 0 && strcmp(slot.name, "vm2-20231114-221320.gcore") == 0, "other prefix is free (%s)", slot.name);
	dg_dumpdir_abort(dir, &slot);
	dg_dumpdir_free(dir);
}

static void test_concurrent_and_commit(void)
{
	char d[DIRBUF], p[PATH_MAX], buf[256];
	struct dg_dumpdir *a, *b;
	struct dg_dump_slot s1, s2, s3;
	struct dg_error err;
	int r;

	a = open_dir(at(d, "conc"));
	b = open_dir(d);
	if (!a || !b) {
		dg_dumpdir_free(a);
		dg_dumpdir_free(b);
		return;
	}
	r = dg_dumpdir_reserve(a, "vm", T0, &s1, &err);
	CHECK(r == 0 && strcmp(s1.name, BASE ".gcore") == 0, "first capture gets the plain name (%s)", s1.name);
	r = dg_dumpdir_reserve(b, "vm", T0, &s2, &err);
	CHECK(r == 0 && strcmp(s2.name, BASE "-1.gcore") == 0,
	      "concurrent capture (another handle) skips the reserved name: %s", s2.name);
	r = dg_dumpdir_reserve(a, "vm", T0, &s3, &err);
	CHECK(r == 0 && strcmp(s3.name, BASE "-2.gcore") == 0, "third one gets -2: %s", s3.name);
	CHECK(count_entries(d) == 3, "three temporaries, no final names yet (%d)", count_entries(d));

	/* The writer writes into the temporary; commit gives it its name. */
	CHECK(put(s1.tmp_path, "dump one") == 0, "wrote dump one");
	CHECK(put(s2.tmp_path, "dump two") == 0, "wrote dump two");
	memset(&err, 0, sizeof(err));
	r = dg_dumpdir_commit(a, &s1, &err);
	CHECK(r == 0, "commit succeeds (%d: %s)", r, err.message);
	snprintf(p, sizeof(p), "%s/" BASE ".gcore", d);
	CHECK_STR(s1.path, p, "name unchanged when nobody took it");
	CHECK(slurp(p, buf, sizeof(buf)) == 8 && strcmp(buf, "dump one") == 0, "content intact under the final name");
	snprintf(p, sizeof(p), "%s/." BASE ".gcore.partial", d);
	CHECK(!exists(p), "temporary gone after commit");
	CHECK(s1.lock_fd == -1 && s1.tmp_name[0] == '\0' && s1.tmp_path[0] == '\0', "slot released after commit");

	r = dg_dumpdir_commit(b, &s2, &err);
	snprintf(p, sizeof(p), "%s/" BASE "-1.gcore", d);
	CHECK(r == 0 && strcmp(s2.path, p) == 0, "second commit keeps -1 (%d: %s)", r, s2.path);
	CHECK(slurp(p, buf, sizeof(buf)) == 8 && strcmp(buf, "dump two") == 0, "its content intact");

	/* Abort of the third: temporary gone; abort twice is safe; commit after abort reports the loss. */
	dg_dumpdir_abort(a, &s3);
	snprintf(p, sizeof(p), "%s/." BASE "-2.gcore.partial", d);
	CHECK(!exists(p), "abort removed the temporary");
	dg_dumpdir_abort(a, &s3);
	dg_dumpdir_abort(a, NULL);
	CHECK(count_entries(d) == 2, "only the two committed dumps remain (%d)", count_entries(d));

	r = dg_dumpdir_reserve(a, "vm", T0, &s3, &err);
	CHECK(r == 0 && strcmp(s3.name, BASE "-2.gcore") == 0, "aborted name is free again: %s", s3.name);
	CHECK(unlink(s3.tmp_path) == 0, "temporary removed behind the capture's back");
	memset(&err, 0, sizeof(err));
	r = dg_dumpdir_commit(a, &s3, &err);
	CHECK(r == -DG_FAILED && strstr(err.message, "disappeared") && strstr(err.message, s3.tmp_path),
	      "commit of a vanished temporary: DG_FAILED naming it (%d: %s)", r, err.message);
	dg_dumpdir_abort(a, &s3);
	CHECK(count_entries(d) == 2, "still two dumps (%d)", count_entries(d));

	dg_dumpdir_free(a);
	dg_dumpdir_free(b);
}

static void test_commit_collision(void)
{
	char d[DIRBUF], p[PATH_MAX], buf[256];
	struct dg_dumpdir *dir;
	struct dg_dump_slot slot;
	struct dg_error err;
	int r;

	dir = open_dir(at(d, "collide"));
	if (!dir)
		return;
	r = dg_dumpdir_reserve(dir, "vm", T0, &slot, &err);
	CHECK(r == 0 && strcmp(slot.name, BASE ".gcore") == 0, "reserved the plain name");
	put(slot.tmp_path, "mine");
	/* Another writer (not using our lock protocol) takes the name meanwhile. */
	snprintf(p, sizeof(p), "%s/" BASE ".gcore", d);
	put(p, "other");
	memset(&err, 0, sizeof(err));
	r = dg_dumpdir_commit(dir, &slot, &err);
	CHECK(r == 0, "commit still succeeds (%d: %s)", r, err.message);
	CHECK_STR(slot.name, BASE "-1.gcore", "slot.name moved to the next free name");
	snprintf(p, sizeof(p), "%s/" BASE "-1.gcore", d);
	CHECK_STR(slot.path, p, "slot.path updated too");
	CHECK(slurp(p, buf, sizeof(buf)) == 4 && strcmp(buf, "mine") == 0, "our dump is under -1");
	snprintf(p, sizeof(p), "%s/" BASE ".gcore", d);
	CHECK(slurp(p, buf, sizeof(buf)) == 5 && strcmp(buf, "other") == 0, "the other file is untouched");
	snprintf(p, sizeof(p), "%s/." BASE ".gcore.partial", d);
	CHECK(!exists(p) && count_entries(d) == 2, "no temporary left (%d entries)", count_entries(d));

	/* Name and -1 taken, reserved -2 taken behind our back too: -3. */
	r = dg_dumpdir_reserve(dir, "vm", T0, &slot, &err);
	CHECK(r == 0 && strcmp(slot.name, BASE "-2.gcore") == 0, "reserved -2 (%s)", slot.name);
	put(slot.tmp_path, "third");
	snprintf(p, sizeof(p), "%s/" BASE "-2.gcore", d);
	put(p, "intruder");
	r = dg_dumpdir_commit(dir, &slot, &err);
	CHECK(r == 0 && strcmp(slot.name, BASE "-3.gcore") == 0, "collision on -2 moves to -3 (%d: %s)", r, slot.name);
	CHECK(slurp(slot.path, buf, sizeof(buf)) == 5 && strcmp(buf, "third") == 0, "content intact under -3");
	CHECK(slurp(p, buf, sizeof(buf)) == 8 && strcmp(buf, "intruder") == 0, "intruder untouched");

	/* Every name taken at commit time: refused, the temporary kept and named. */
	r = dg_dumpdir_reserve(dir, "vm", T0, &slot, &err);
	CHECK(r == 0 && strcmp(slot.name, BASE "-4.gcore") == 0, "reserved -4 (%s)", slot.name);
	put(slot.tmp_path, "last");
	for (int n = 4; n <= 9; n++) {
		snprintf(p, sizeof(p), "%s/" BASE "-%d.gcore", d, n);
		put(p, "filler");
	}
	memset(&err, 0, sizeof(err));
	r = dg_dumpdir_commit(dir, &slot, &err);
	CHECK(r == -DG_REFUSED, "commit with no free name left: DG_REFUSED (%d)", r);
	CHECK(strstr(err.message, slot.tmp_path) != NULL, "message names the kept temporary: %s", err.message);
	CHECK(slurp(slot.tmp_path, buf, sizeof(buf)) == 4 && strcmp(buf, "last") == 0, "temporary kept with its data");
	snprintf(p, sizeof(p), "%s/" BASE "-4.gcore", d);
	CHECK(slurp(p, buf, sizeof(buf)) == 6 && strcmp(buf, "filler") == 0, "no existing file replaced");
	dg_dumpdir_abort(dir, &slot);
	CHECK(count_entries(d) == 10, "abort removed it: ten files (%d)", count_entries(d));
	dg_dumpdir_free(dir);
}

/* A temporary that exists but nobody holds is someone's data: a reservation never takes it over. */
static void test_reserve_skips_unheld_temporary(void)
{
	char d[DIRBUF], p[PATH_MAX], buf[256];
	struct dg_dumpdir *dir;
	struct dg_dump_slot slot;
	struct dg_error err;
	int r;

	dir = open_dir(at(d, "unheld"));
	if (!dir)
		return;
	snprintf(p, sizeof(p), "%s/." BASE ".gcore.partial", d);
	put(p, "left behind");
	r = dg_dumpdir_reserve(dir, "vm", T0, &slot, &err);
	CHECK(r == 0 && strcmp(slot.name, BASE "-1.gcore") == 0, "existing unheld temporary skipped: %s", slot.name);
	CHECK(slurp(p, buf, sizeof(buf)) == 11 && strcmp(buf, "left behind") == 0, "its content untouched");
	dg_dumpdir_abort(dir, &slot);
	CHECK(exists(p), "abort of the other reservation leaves it alone");
	dg_dumpdir_free(dir);
}

/* commit keeps a complete dump it cannot name "because it may be the only copy"; the caller then releases the
 * slot (dg_inject closes lock_fd and reports the kept path). The next capture's clean_stale must not delete it. */
static void test_kept_after_failed_commit(void)
{
	char d[DIRBUF], p[PATH_MAX], kept[PATH_MAX] = "";
	struct dg_dumpdir *dir;
	struct dg_dump_slot slot;
	struct dg_error err;
	const char *k;
	int r;

	dir = open_dir(at(d, "kept"));
	if (!dir)
		return;
	r = dg_dumpdir_reserve(dir, "vm", T0, &slot, &err);
	CHECK(r == 0, "reserved (%s)", slot.name);
	put(slot.tmp_path, "the only copy");
	for (int n = 0; n <= 9; n++) {
		if (n)
			snprintf(p, sizeof(p), "%s/" BASE "-%d.gcore", d, n);
		else
			snprintf(p, sizeof(p), "%s/" BASE ".gcore", d);
		put(p, "filler");
	}
	memset(&err, 0, sizeof(err));
	r = dg_dumpdir_commit(dir, &slot, &err);
	k = strstr(err.message, "kept as ");
	if (k) {
		char *errtext;

		snprintf(kept, sizeof(kept), "%s", k + strlen("kept as "));
		errtext = strrchr(kept, ':'); /* ": strerror" follows the path */
		if (errtext)
			*errtext = '\0';
	}
	CHECK_STR(kept, slot.tmp_path, "the message names the kept file");
	CHECK(strstr(kept, ".gcore.kept") != NULL, "kept under a name the cleaner leaves alone: %s", kept);
	CHECK(r == -DG_REFUSED && kept[0] && exists(kept), "commit refused, dump kept at %s", kept);
	/* What dg_inject does on that error: keep the temporary, drop the lock. */
	close(slot.lock_fd);
	slot.lock_fd = -1;
	r = dg_dumpdir_clean_stale(dir);
	CHECK(kept[0] && exists(kept), "a dump kept after a failed commit survives the next clean_stale (removed %d)",
	      r);
	dg_dumpdir_free(dir);
}

static void test_clean_stale(void)
{
	char d[DIRBUF], p[PATH_MAX];
	static const char *keep[] = { "keep.gcore", ".keep.partial", "x.gcore.partial", ".gcore.partial",
				      ".y.gcore.partial.bak", ".z.gcore.json" };
	struct dg_dumpdir *a, *b;
	struct dg_dump_slot live, live_same;
	struct dg_error err;
	int r;

	a = open_dir(at(d, "stale"));
	b = open_dir(d);
	if (!a || !b) {
		dg_dumpdir_free(a);
		dg_dumpdir_free(b);
		return;
	}
	snprintf(p, sizeof(p), "%s/.X.gcore.partial", d);
	put(p, "left by kill -9");
	snprintf(p, sizeof(p), "%s/.vm-20230101-000000.gcore.partial", d);
	put(p, "another crash");
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", d, keep[i]);
		put(p, "unrelated");
	}
	r = dg_dumpdir_reserve(b, "vm", T0, &live, &err);
	CHECK(r == 0, "live capture reserved through another handle (%s)", live.name);
	r = dg_dumpdir_reserve(a, "vm", T0, &live_same, &err);
	CHECK(r == 0 && strcmp(live_same.name, BASE "-1.gcore") == 0, "live capture through the cleaning handle (%s)",
	      live_same.name);

	r = dg_dumpdir_clean_stale(a);
	CHECK(r == 2, "two stale temporaries removed (%d)", r);
	snprintf(p, sizeof(p), "%s/.X.gcore.partial", d);
	CHECK(!exists(p), "unlocked .X.gcore.partial removed");
	snprintf(p, sizeof(p), "%s/.vm-20230101-000000.gcore.partial", d);
	CHECK(!exists(p), "unlocked old temporary removed");
	CHECK(exists(live.tmp_path), "temporary locked by another handle kept");
	CHECK(exists(live_same.tmp_path), "temporary locked through the same handle kept");
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", d, keep[i]);
		CHECK(exists(p), "unrelated %s kept", keep[i]);
	}

	/* The live captures still commit normally afterwards. */
	r = dg_dumpdir_commit(b, &live, &err);
	CHECK(r == 0 && exists(live.path), "locked capture commits after the cleaning (%d)", r);
	dg_dumpdir_abort(a, &live_same);
	r = dg_dumpdir_clean_stale(a);
	CHECK(r == 0, "nothing left to clean (%d)", r);
	CHECK(count_entries(d) == (int)(sizeof(keep) / sizeof(keep[0])) + 1, "only unrelated files and the dump (%d)",
	      count_entries(d));

	/* Once released (process died: lock gone), a leftover temporary is stale. */
	r = dg_dumpdir_reserve(a, "vm", T0, &live, &err);
	CHECK(r == 0, "reserved again (%s)", live.name);
	close(live.lock_fd);
	live.lock_fd = -1;
	r = dg_dumpdir_clean_stale(b);
	CHECK(r == 1 && !exists(live.tmp_path), "temporary whose lock is gone is removed (%d)", r);

	dg_dumpdir_free(a);
	dg_dumpdir_free(b);
}

static void test_space(void)
{
	char d[DIRBUF];
	struct dg_dumpdir *dir;
	struct dg_error err;
	int r;

	dir = open_dir(at(d, "space"));
	if (!dir)
		return;
	memset(&err, 0, sizeof(err));
	r = dg_dumpdir_check_space(dir, 1, &err);
	CHECK(r == 0, "1 byte fits (%d: %s)", r, err.message);
	r = dg_dumpdir_check_space(dir, 0, &err);
	CHECK(r == 0, "0 bytes fit (%d)", r);
	memset(&err, 0, sizeof(err));
	r = dg_dumpdir_check_space(dir, UINT64_MAX / 2, &err);
	CHECK(r == -DG_REFUSED && err.status == DG_REFUSED, "8 EiB does not fit: DG_REFUSED (%d)", r);
	CHECK(strstr(err.message, "not enough room") && strstr(err.message, d), "message: %s", err.message);
	CHECK(strstr(err.message, "PiB") != NULL, "sizes are human-readable");
	r = dg_dumpdir_check_space(dir, UINT64_MAX / 2, NULL);
	CHECK(r == -DG_REFUSED, "NULL err accepted (%d)", r);
	dg_dumpdir_free(dir);
}

static void test_write_file(void)
{
	char d[DIRBUF], p[PATH_MAX], buf[256];
	const char bin[] = { 'a', 0, 'b', '\n', (char)0xff };
	struct dg_dumpdir *dir;
	struct dg_error err;
	int r;

	dir = open_dir(at(d, "write"));
	if (!dir)
		return;
	memset(&err, 0, sizeof(err));
	r = dg_dumpdir_write_file(dir, "x.gcore.json", "{\"a\": 1}\n", 9, &err);
	CHECK(r == 0, "write_file succeeds (%d: %s)", r, err.message);
	snprintf(p, sizeof(p), "%s/x.gcore.json", d);
	CHECK(slurp(p, buf, sizeof(buf)) == 9 && strcmp(buf, "{\"a\": 1}\n") == 0, "exact bytes written");
	CHECK(count_entries(d) == 1, "no temporary left beside it (%d)", count_entries(d));

	r = dg_dumpdir_write_file(dir, "x.gcore.json", "short", 5, &err);
	CHECK(r == 0 && slurp(p, buf, sizeof(buf)) == 5 && strcmp(buf, "short") == 0,
	      "rewrite replaces the file, no old tail (%d: %s)", r, buf);
	CHECK(count_entries(d) == 1, "still one file (%d)", count_entries(d));

	r = dg_dumpdir_write_file(dir, "bin", bin, sizeof(bin), &err);
	snprintf(p, sizeof(p), "%s/bin", d);
	CHECK(r == 0 && slurp(p, buf, sizeof(buf)) == (ssize_t)sizeof(bin) && memcmp(buf, bin, sizeof(bin)) == 0,
	      "binary content with NUL kept exactly (%d)", r);
	CHECK(mode_of(p) == 0600, "written file has mode 0600 (%o)", mode_of(p));
	r = dg_dumpdir_write_file(dir, "empty", "", 0, &err);
	snprintf(p, sizeof(p), "%s/empty", d);
	CHECK(r == 0 && slurp(p, buf, sizeof(buf)) == 0, "empty file written (%d)", r);

	/* A directory in the way: the rename fails, the error names the file and no temporary stays. */
	snprintf(p, sizeof(p), "%s/adir", d);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/adir/sub", d);
	mkdir(p, 0700);
	memset(&err, 0, sizeof(err));
	r = dg_dumpdir_write_file(dir, "adir", "x", 1, &err);
	CHECK(r == -DG_FAILED && strstr(err.message, "adir"), "write over a non-empty directory fails (%d: %s)", r,
	      err.message);
	CHECK(count_entries(d) == 4, "no temporary left after the failure (%d)", count_entries(d));
	dg_dumpdir_free(dir);
}

static void test_read_only(void)
{
	char d[DIRBUF], cmd[PATH_MAX + 64];
	struct dg_dumpdir *dir = NULL;
	struct dg_dump_slot slot;
	struct dg_error err;
	bool mounted = false;
	int r;

	at(d, "ro");
	mkdir(d, 0700);
	if (geteuid() == 0) {
		/* Permissions do not stop root: only a read-only filesystem does. */
		snprintf(cmd, sizeof(cmd), "mount -t tmpfs -o ro,size=1m tmpfs '%s' 2>/dev/null", d);
		if (system(cmd) != 0) {
			SKIP_ONE("read-only directory: running as root and cannot mount a read-only tmpfs here");
			return;
		}
		mounted = true;
	} else if (chmod(d, 0500) != 0) {
		SKIP_ONE("read-only directory: chmod failed");
		return;
	}

	memset(&err, 0, sizeof(err));
	r = dg_dumpdir_open(d, false, &dir, &err);
	CHECK(r == 0, "a read-only directory opens (%d: %s)", r, err.message);
	if (dir) {
		memset(&err, 0, sizeof(err));
		r = dg_dumpdir_reserve(dir, "vm", T0, &slot, &err);
		CHECK(r == -DG_USAGE && err.status == DG_USAGE, "reserve in a read-only directory: DG_USAGE (%d)", r);
		CHECK(strstr(err.message, "not writable") && strstr(err.message, d), "message: %s", err.message);
		CHECK(err.sys_errno == (mounted ? EROFS : EACCES), "errno %s (%d)", mounted ? "EROFS" : "EACCES",
		      err.sys_errno);
		CHECK(slot.lock_fd == -1, "no lock held");
		dg_dumpdir_abort(dir, &slot);
		r = dg_dumpdir_write_file(dir, "side.json", "{}", 2, &err);
		CHECK(r == -DG_FAILED, "write_file in a read-only directory fails (%d: %s)", r, err.message);
		dg_dumpdir_free(dir);
	}
	if (mounted) {
		snprintf(cmd, sizeof(cmd), "umount '%s'", d);
		CHECK(system(cmd) == 0, "read-only tmpfs unmounted");
	} else {
		chmod(d, 0700);
	}
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int main(void)
{
	umask(022);
	setenv("TZ", "UTC", 1);
	tzset();
	if (!mkdtemp(scratch)) {
		printf("not ok 1 - mkdtemp: %s\n1..1\n", strerror(errno));
		return 1;
	}
	test_open();
	test_default_and_dry();
	test_reserve_sequence();
	test_concurrent_and_commit();
	test_commit_collision();
	test_reserve_skips_unheld_temporary();
	test_kept_after_failed_commit();
	test_clean_stale();
	test_space();
	test_write_file();
	test_read_only();
	CHECK(nftw(scratch, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) == 0 && !exists(scratch),
	      "scratch directory removed");
	return tap_done();
}
