/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `diagint dumps shrink`: an ELF dump made into a filtered, compressed kdump file by makedumpfile, the standard
 * tool operators and vendors use (crash and drgn read its output). Nothing is replaced until the new file has been
 * read back. See diagint/vmcore.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "diagint/buf.h"
#include "diagint/clock.h"
#include "diagint/dumpdir.h"
#include "diagint/dumpname.h"
#include "diagint/hash.h"
#include "diagint/vmcore.h"

/* Run argv niced with stdout+stderr into a memory file; -1 and a message on failure to run or a timeout, else
 * the exit status. out gets the output (bounded). */
static int run(char *const argv[], double timeout, struct dg_buf *out, struct dg_error *err)
{
	int mfd = memfd_create("makedumpfile-out", MFD_CLOEXEC), status = 0;
	double deadline = dg_clock_mono() + timeout;
	pid_t pid;

	if (mfd < 0)
		return dg_error_set_errno(err, DG_FAILED, errno, "memfd_create");
	pid = fork();
	if (pid < 0) {
		close(mfd);
		return dg_error_set_errno(err, DG_FAILED, errno, "fork");
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		if (setpriority(PRIO_PROCESS, 0, 10) < 0) {
			/* a shrink at normal priority is still a shrink */
		}
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(mfd, 1);
		dup2(mfd, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			close(mfd);
			return dg_error_set_errno(err, DG_FAILED, errno, "waitpid");
		}
		if (dg_clock_left(deadline) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			close(mfd);
			return dg_error_set(err, DG_FAILED, "%s did not finish within %.0f s: killed", argv[0], timeout);
		}
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	{
		char buf[4096];
		ssize_t n;
		lseek(mfd, 0, SEEK_SET);
		while ((n = read(mfd, buf, sizeof(buf))) > 0 && out->len < (1u << 20))
			dg_buf_append(out, buf, (size_t)n);
	}
	close(mfd);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return dg_error_set(err, DG_FAILED, "cannot run %s: install makedumpfile", argv[0]);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The last non-empty line of tool output, for messages. */
static const char *last_line(struct dg_buf *b, char *line, size_t len)
{
	const char *s = dg_buf_str(b), *end = s + b->len, *best = "";
	size_t best_len = 0;

	for (const char *p = s; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (n > 0 && strncmp(p, "makedumpfile Failed", 19) != 0) {
			best = p;
			best_len = n;
		}
		p += n + 1;
	}
	if (best_len >= len)
		best_len = len - 1;
	memcpy(line, best, best_len);
	line[best_len] = '\0';
	return line;
}

static bool read_whole(const char *path, struct dg_buf *out)
{
	char buf[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		dg_buf_append(out, buf, (size_t)n);
	close(fd);
	return n == 0 && dg_buf_ok(out);
}

int dg_vmcore_shrink(struct dg_dumpdir *dir, const char *name, const struct dg_shrink_opts *o,
		     struct dg_shrink_result *ret, struct dg_error *err)
{
	const char *dpath = dg_dumpdir_path(dir), *ext = NULL, *tool = o->makedumpfile ? o->makedumpfile : "makedumpfile";
	const char *comp = o->compression && *o->compression ? o->compression : "zlib";
	int dirfd = dg_dumpdir_fd(dir), level = o->dump_level == 0 ? 31 : o->dump_level < 0 ? 0 : o->dump_level;
	int r = 0, st;
	double timeout = o->timeout > 0 ? o->timeout : 3600, t0 = dg_clock_mono();
	char src[PATH_MAX], tmp[PATH_MAX], check[PATH_MAX], newname[256], dst[PATH_MAX], lvl[16], line[512];
	char side_old[300], side_new[300], log_old[300], log_new[300], sha[DG_SHA256_HEX_LEN + 1];
	struct dg_buf out = DG_BUF_INIT, a = DG_BUF_INIT, b = DG_BUF_INIT;
	struct dg_shrink_result res = { 0 };
	json_object *side = NULL;
	struct stat sb;
	bool tmp_made = false;

	if (strchr(name, '/') || !dg_dumpname_parse(name, NULL, 0, NULL, NULL, &ext) || strcmp(ext, ".gcore") != 0)
		return dg_error_set(err, DG_USAGE, "'%s' is not an ELF dump's name (NAME-YYYYMMDD-hhmmss.gcore): only "
				    "those can be shrunk", name);
	if (strcmp(comp, "zlib") != 0 && strcmp(comp, "lzo") != 0)
		return dg_error_set(err, DG_USAGE, "compression '%s': use zlib or lzo (Debian's makedumpfile has no "
				    "snappy or zstd and would write an uncompressed file)", comp);
	if (level < 0 || level > 31)
		return dg_error_set(err, DG_USAGE, "dump level %d: use 0 to 31 (makedumpfile -d)", level);
	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
		return dg_error_set(err, DG_NOTFOUND, "no dump named %s in %s: see 'diagint dumps list'", name, dpath);
	res.size_before = (uint64_t)sb.st_size;
	res.allocated_before = (uint64_t)sb.st_blocks * 512;
	snprintf(newname, sizeof(newname), "%.*s.kdump", (int)(strlen(name) - strlen(".gcore")), name);
	if (faccessat(dirfd, newname, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return dg_error_set(err, DG_REFUSED, "%s already exists in %s: nothing replaced", newname, dpath);
	snprintf(src, sizeof(src), "%s/%s", dpath, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.shrink-%ld", dpath, newname, (long)getpid());
	snprintf(check, sizeof(check), "%s/.%s.check-%ld", dpath, newname, (long)getpid());
	snprintf(dst, sizeof(dst), "%s/%s", dpath, newname);
	snprintf(lvl, sizeof(lvl), "%d", level);
	/* A file libvirt wrote before diagint mended headers: mend it first, or makedumpfile cannot read it. */
	{
		int fd = open(src, O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			dg_elfhdr_repair_fd(fd, src, NULL);
			close(fd);
		}
	}
	{
		char *argv[] = { (char *)tool, strcmp(comp, "lzo") ? "-c" : "-l", "-d", lvl, src, tmp, NULL };
		st = run(argv, timeout, &out, err);
		tmp_made = true;
		if (st < 0) {
			r = st;
			goto out;
		}
		if (st != 0) {
			r = dg_error_set(err, DG_FAILED, "makedumpfile failed (status %d): %s", st,
					 last_line(&out, line, sizeof(line)));
			goto out;
		}
	}
	/* Read it back: its kernel log through makedumpfile, equal to the one the capture wrote. */
	{
		char *argv[] = { (char *)tool, "--dump-dmesg", tmp, check, NULL };
		dg_buf_reset(&out);
		st = run(argv, 300, &out, err);
		if (st != 0 || !read_whole(check, &a)) {
			r = st < 0 ? st : dg_error_set(err, DG_FAILED, "the new %s does not read back: %s", newname,
						      last_line(&out, line, sizeof(line)));
			goto out;
		}
		snprintf(log_old, sizeof(log_old), "%s/%s.dmesg", dpath, name);
		if (read_whole(log_old, &b) && (a.len != b.len || memcmp(dg_buf_str(&a), dg_buf_str(&b), a.len) != 0)) {
			r = dg_error_set(err, DG_FAILED, "the new %s reads back a different kernel log: kept %s", newname, name);
			goto out;
		}
	}
	r = dg_hash_file(tmp, sha, &res.size_after, &res.allocated_after, err);
	if (r < 0)
		goto out;
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dst, RENAME_NOREPLACE) < 0) {
		r = dg_error_set_errno(err, DG_FAILED, errno, "cannot name %s", dst);
		goto out;
	}
	tmp_made = false;
	res.seconds = dg_clock_mono() - t0;
	/* The record follows the dump. */
	snprintf(side_old, sizeof(side_old), "%s.json", name);
	snprintf(side_new, sizeof(side_new), "%s.json", newname);
	snprintf(log_old, sizeof(log_old), "%s.dmesg", name);
	snprintf(log_new, sizeof(log_new), "%s.dmesg", newname);
	{
		int fd = openat(dirfd, side_old, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			side = json_object_from_fd(fd);
			close(fd);
		}
	}
	if (renameat(dirfd, log_old, dirfd, log_new) < 0 && errno != ENOENT) {
		r = dg_error_set_errno(err, DG_FAILED, errno, "cannot move the kernel log to %s", log_new);
		goto out;
	}
	if (side && json_object_is_type(side, json_type_object)) {
		json_object *dump = NULL, *from = json_object_new_object(), *shrink = json_object_new_object(), *k = NULL,
			    *x;
		char fmt[32];
		if (!json_object_object_get_ex(side, "dump", &dump) || !json_object_is_type(dump, json_type_object)) {
			dump = json_object_new_object();
			json_object_object_add(side, "dump", dump);
		}
		json_object_object_add(from, "name", json_object_new_string(name));
		json_object_object_add(from, "format", json_object_new_string("elf"));
		json_object_object_add(from, "size", json_object_new_int64((int64_t)res.size_before));
		if (json_object_object_get_ex(dump, "sha256", &x) && x)
			json_object_object_add(from, "sha256", json_object_get(x));
		json_object_object_add(shrink, "from", from);
		json_object_object_add(shrink, "dump_level", json_object_new_int(level));
		json_object_object_add(shrink, "compression", json_object_new_string(comp));
		json_object_object_add(shrink, "seconds", json_object_new_double(res.seconds));
		json_object_object_add(side, "shrink", shrink);
		snprintf(fmt, sizeof(fmt), "kdump-%s", comp);
		json_object_object_add(dump, "name", json_object_new_string(newname));
		json_object_object_add(dump, "path", json_object_new_string(dst));
		json_object_object_add(dump, "format", json_object_new_string(fmt));
		json_object_object_add(dump, "flattened", json_object_new_boolean(0));
		json_object_object_add(dump, "sparse", json_object_new_boolean(0));
		json_object_object_add(dump, "size", json_object_new_int64((int64_t)res.size_after));
		json_object_object_add(dump, "allocated", json_object_new_int64((int64_t)res.allocated_after));
		json_object_object_add(dump, "sha256", json_object_new_string(sha));
		if (json_object_object_get_ex(side, "kernel", &k) && k && json_object_is_type(k, json_type_object))
			json_object_object_add(k, "log_file", faccessat(dirfd, log_new, F_OK, 0) == 0
								  ? json_object_new_string(log_new) : NULL);
		{
			const char *text = json_object_to_json_string_ext(side, JSON_C_TO_STRING_PRETTY |
									      JSON_C_TO_STRING_NOSLASHESCAPE);
			r = dg_dumpdir_write_file(dir, side_new, text, strlen(text), err);
			if (r < 0)
				goto out;
		}
	}
	/* Only now: the ELF and its old record go. */
	if (unlinkat(dirfd, name, 0) < 0 || (unlinkat(dirfd, side_old, 0) < 0 && errno != ENOENT)) {
		r = dg_error_set_errno(err, DG_FAILED, errno, "%s written, but %s could not be removed", newname, name);
		goto out;
	}
	snprintf(res.name, sizeof(res.name), "%s", newname);
	snprintf(res.path, sizeof(res.path), "%s", dst);
	snprintf(res.sha256, sizeof(res.sha256), "%s", sha);
	if (ret)
		*ret = res;
out:
	if (tmp_made)
		unlink(tmp);
	unlink(check);
	json_object_put(side);
	dg_buf_free(&out);
	dg_buf_free(&a);
	dg_buf_free(&b);
	return r;
}
