/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "dg_config.h"
#include "diagint/dumpdir.h"
#include "diagint/units.h"

/* Short enough that directory + '/' + any temporary name fits in PATH_MAX. */
#define DIR_PATH_MAX (PATH_MAX - DG_DUMPNAME_MAX - 64)

struct dg_dumpdir {
	int fd;
	char path[DIR_PATH_MAX];
};

static int mkdir_parents(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	char *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	/* "dumps/" must get the final mode too, not the parents' 0755. */
	for (size_t n = strlen(buf); n > 1 && buf[n - 1] == '/'; n--)
		buf[n - 1] = '\0';
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int dg_dumpdir_open(const char *path, bool create, struct dg_dumpdir **ret, struct dg_error *err)
{
	struct dg_dumpdir *dir;
	int fd;

	if (!path || !*path)
		return dg_error_set(err, DG_USAGE, "empty dump directory: give a directory with --dump-dir");
	if (strlen(path) >= DIR_PATH_MAX)
		return dg_error_set(err, DG_USAGE, "dump directory path is too long: choose a shorter --dump-dir");
	if (create) {
		int r = mkdir_parents(path, 0700);
		if (r < 0)
			return dg_error_set_errno(err, DG_USAGE, -r, "cannot create dump directory %s", path);
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			return dg_error_set(err, DG_USAGE,
					    "dump directory %s does not exist: create it (mkdir -p %s) or choose another "
					    "with --dump-dir", path, path);
		if (e == ENOTDIR)
			return dg_error_set(err, DG_USAGE,
					    "dump directory %s is not a directory: choose a directory with --dump-dir",
					    path);
		return dg_error_set_errno(err, DG_USAGE, e, "cannot open dump directory %s (choose another with "
					  "--dump-dir)", path);
	}
	dir = calloc(1, sizeof(*dir));
	if (!dir) {
		close(fd);
		return dg_error_set_errno(err, DG_FAILED, ENOMEM, "dump directory");
	}
	dir->fd = fd;
	snprintf(dir->path, sizeof(dir->path), "%s", path);
	/* Strip trailing slashes so joined paths read well in messages. */
	for (size_t n = strlen(dir->path); n > 1 && dir->path[n - 1] == '/'; n--)
		dir->path[n - 1] = '\0';
	*ret = dir;
	return 0;
}

/* path without doubled or trailing slashes */
static void normalize(const char *path, char *out, size_t len)
{
	size_t n = 0;

	for (; *path && n + 1 < len; path++)
		if (*path != '/' || n == 0 || out[n - 1] != '/')
			out[n++] = *path;
	while (n > 1 && out[n - 1] == '/')
		n--;
	out[n] = '\0';
}

bool dg_dumpdir_is_default(const char *path)
{
	char a[PATH_MAX], b[PATH_MAX];

	if (!path || strlen(path) >= sizeof(a))
		return false;
	/* Compare as paths: "/var/lib//diagint/dumps/" is the default too. */
	normalize(path, a, sizeof(a));
	normalize(DG_DEFAULT_DUMP_DIR, b, sizeof(b));
	return !strcmp(a, b);
}

int dg_dumpdir_open_dry(const char *path, bool create, struct dg_dumpdir **ret, bool *ret_missing,
			struct dg_error *err)
{
	char parent[PATH_MAX];
	struct dg_dumpdir *dir;
	struct stat st;
	char *slash;
	int r;

	*ret_missing = false;
	if (!create || !path || !*path || stat(path, &st) == 0 || errno != ENOENT)
		return dg_dumpdir_open(path, false, ret, err);
	if (strlen(path) >= DIR_PATH_MAX)
		return dg_error_set(err, DG_USAGE, "dump directory path is too long: choose a shorter --dump-dir");
	/* The nearest existing parent decides whether the directory can be created, and where its room comes from. */
	snprintf(parent, sizeof(parent), "%s", path);
	for (;;) {
		for (size_t n = strlen(parent); n > 1 && parent[n - 1] == '/'; n--)
			parent[n - 1] = '\0';
		slash = strrchr(parent, '/');
		if (!slash)
			return dg_error_set(err, DG_USAGE, "dump directory %s is relative: give an absolute one", path);
		if (slash == parent)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(parent, &st) == 0 || errno != ENOENT || !strcmp(parent, "/"))
			break;
	}
	if (stat(parent, &st) < 0 || !S_ISDIR(st.st_mode))
		return dg_error_set(err, DG_USAGE, "dump directory %s cannot be created: %s is not a directory; "
				    "choose another with --dump-dir", path, parent);
	if (access(parent, W_OK | X_OK) < 0)
		return dg_error_set_errno(err, DG_USAGE, errno, "dump directory %s cannot be created in %s (run as "
					  "root, create it (mkdir -p -m 0700 %s) or choose another with --dump-dir)",
					  path, parent, path);
	r = dg_dumpdir_open(parent, false, &dir, err);
	if (r < 0)
		return r;
	/* Messages name the directory the capture would create, not its parent. */
	snprintf(dir->path, sizeof(dir->path), "%s", path);
	for (size_t n = strlen(dir->path); n > 1 && dir->path[n - 1] == '/'; n--)
		dir->path[n - 1] = '\0';
	*ret_missing = true;
	*ret = dir;
	return 0;
}

void dg_dumpdir_free(struct dg_dumpdir *dir)
{
	if (!dir)
		return;
	if (dir->fd >= 0)
		close(dir->fd);
	free(dir);
}

const char *dg_dumpdir_path(const struct dg_dumpdir *dir)
{
	return dir->path;
}

int dg_dumpdir_fd(const struct dg_dumpdir *dir)
{
	return dir->fd;
}

int dg_dumpdir_check_space(struct dg_dumpdir *dir, uint64_t need, struct dg_error *err)
{
	struct statvfs st;
	uint64_t avail;
	char need_s[32], avail_s[32];

	if (fstatvfs(dir->fd, &st) < 0)
		return dg_error_set_errno(err, DG_FAILED, errno, "cannot read free space of %s", dir->path);
	avail = (uint64_t)st.f_bavail * st.f_frsize;
	if (avail < need) {
		dg_format_bytes(need, false, need_s, sizeof(need_s));
		dg_format_bytes(avail, false, avail_s, sizeof(avail_s));
		return dg_error_set(err, DG_REFUSED,
				    "not enough room in %s for the dump: it needs %s, %s free; free space there or "
				    "choose another --dump-dir",
				    dir->path, need_s, avail_s);
	}
	/* f_favail is 0 on filesystems that do not count inodes (e.g. some NFS servers): trust those. */
	if (st.f_files && st.f_favail < 2)
		return dg_error_set(err, DG_REFUSED, "no free inodes in %s: remove files there or choose another "
				    "--dump-dir", dir->path);
	return 0;
}

static bool is_temporary(const char *name)
{
	static const char *const exts[] = { ".gcore", ".kdump", ".dmp", NULL };
	size_t n = strlen(name), t = strlen(DG_DUMP_TMP_SUFFIX);

	if (name[0] != '.' || n <= t || strcmp(name + n - t, DG_DUMP_TMP_SUFFIX) != 0)
		return false;
	for (int i = 0; exts[i]; i++) {
		size_t e = strlen(exts[i]);
		/* ".X.gcore.partial": a leading dot, a non-empty name, the extension, the suffix */
		if (n > e + t + 1 && !strncmp(name + n - t - e, exts[i], e))
			return true;
	}
	return false;
}

int dg_dumpdir_clean_stale(struct dg_dumpdir *dir)
{
	DIR *d;
	struct dirent *de;
	int fd, removed = 0;

	fd = openat(dir->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		int tfd;

		if (!is_temporary(de->d_name))
			continue;
		tfd = openat(dir->fd, de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (tfd < 0)
			continue;
		/* A live capture holds the lock for its whole life; an unlocked temporary belongs to nobody. */
		if (flock(tfd, LOCK_EX | LOCK_NB) == 0) {
			if (unlinkat(dir->fd, de->d_name, 0) == 0)
				removed++;
		}
		close(tfd);
	}
	closedir(d);
	return removed;
}

static bool name_taken(struct dg_dumpdir *dir, const char *name)
{
	struct stat st;

	return fstatat(dir->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}

static int fill_paths(struct dg_dumpdir *dir, struct dg_dump_slot *slot, int n)
{
	int r = dg_dumpname_format(slot->prefix, slot->when, n, slot->ext, slot->name, sizeof(slot->name));
	if (r < 0)
		return r;
	snprintf(slot->tmp_name, sizeof(slot->tmp_name), ".%s%s", slot->name, DG_DUMP_TMP_SUFFIX);
	snprintf(slot->path, sizeof(slot->path), "%s/%s", dir->path, slot->name);
	snprintf(slot->tmp_path, sizeof(slot->tmp_path), "%s/%s", dir->path, slot->tmp_name);
	return 0;
}

int dg_dumpdir_reserve(struct dg_dumpdir *dir, const char *prefix, time_t when, struct dg_dump_slot *slot,
		       struct dg_error *err)
{
	return dg_dumpdir_reserve_ext(dir, prefix, NULL, when, slot, err);
}

int dg_dumpdir_reserve_ext(struct dg_dumpdir *dir, const char *prefix, const char *ext, time_t when,
			   struct dg_dump_slot *slot, struct dg_error *err)
{
	char first[DG_DUMPNAME_MAX];

	memset(slot, 0, sizeof(*slot));
	slot->lock_fd = -1;
	slot->when = when;
	snprintf(slot->ext, sizeof(slot->ext), "%s", ext ? ext : DG_DUMP_EXT);
	snprintf(slot->prefix, sizeof(slot->prefix), "%s", prefix);
	for (int n = 0; n <= DG_DUMPNAME_SUFFIXES; n++) {
		int fd;

		if (fill_paths(dir, slot, n) < 0)
			return dg_error_set(err, DG_USAGE, "dump name for prefix '%s' is too long", prefix);
		if (n == 0)
			snprintf(first, sizeof(first), "%s", slot->name);
		if (name_taken(dir, slot->name))
			continue;
		fd = openat(dir->fd, slot->tmp_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			if (errno == EEXIST)
				continue; /* another capture is writing this name right now */
			if (errno == EACCES || errno == EPERM || errno == EROFS)
				return dg_error_set_errno(err, DG_USAGE, errno,
							  "dump directory %s is not writable (fix its permissions or "
							  "choose another --dump-dir)", dir->path);
			if (errno == ENOSPC || errno == EDQUOT)
				return dg_error_set_errno(err, DG_REFUSED, errno,
							  "cannot create a dump in %s (free space there or choose "
							  "another --dump-dir)", dir->path);
			return dg_error_set_errno(err, DG_FAILED, errno, "cannot create %s", slot->tmp_path);
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			/* Only a racing cleaner can hold it: leave the name to whoever owns it. */
			close(fd);
			continue;
		}
		/* A cleaner may have unlinked our brand-new file between create and lock: then we hold a lock on
		 * nothing. Make sure the name still refers to what we locked, else try the same name again. */
		{
			struct stat a, b;
			if (fstat(fd, &a) < 0 || fstatat(dir->fd, slot->tmp_name, &b, AT_SYMLINK_NOFOLLOW) < 0 ||
			    a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
				close(fd);
				n--;
				continue;
			}
		}
		slot->lock_fd = fd;
		return 0;
	}
	slot->name[0] = slot->path[0] = slot->tmp_name[0] = slot->tmp_path[0] = '\0';
	return dg_error_set(err, DG_REFUSED,
			    "no free dump name in %s: %s and its -1 .. -%d variants all exist; move old dumps away or "
			    "choose another --dump-dir (nothing was written)",
			    dir->path, first, DG_DUMPNAME_SUFFIXES);
}

int dg_dumpdir_peek_ext(struct dg_dumpdir *dir, const char *prefix, const char *ext, time_t when,
			struct dg_dump_slot *slot, struct dg_error *err)
{
	char first[DG_DUMPNAME_MAX];

	memset(slot, 0, sizeof(*slot));
	slot->lock_fd = -1;
	slot->when = when;
	snprintf(slot->ext, sizeof(slot->ext), "%s", ext ? ext : DG_DUMP_EXT);
	snprintf(slot->prefix, sizeof(slot->prefix), "%s", prefix);
	for (int n = 0; n <= DG_DUMPNAME_SUFFIXES; n++) {
		if (fill_paths(dir, slot, n) < 0)
			return dg_error_set(err, DG_USAGE, "dump name for prefix '%s' is too long", prefix);
		if (n == 0)
			snprintf(first, sizeof(first), "%s", slot->name);
		if (name_taken(dir, slot->name) || name_taken(dir, slot->tmp_name))
			continue;
		/* What openat(O_CREAT) in dg_dumpdir_reserve_ext would meet. */
		if (faccessat(dir->fd, ".", W_OK | X_OK, AT_EACCESS) < 0)
			return dg_error_set_errno(err, DG_USAGE, errno,
						  "dump directory %s is not writable (fix its permissions or choose "
						  "another --dump-dir)", dir->path);
		slot->tmp_name[0] = slot->tmp_path[0] = '\0';
		return 0;
	}
	slot->name[0] = slot->path[0] = slot->tmp_name[0] = slot->tmp_path[0] = '\0';
	return dg_error_set(err, DG_REFUSED,
			    "no free dump name in %s: %s and its -1 .. -%d variants all exist; move old dumps away or "
			    "choose another --dump-dir (nothing was written)",
			    dir->path, first, DG_DUMPNAME_SUFFIXES);
}

static int rename_noreplace(int dirfd, const char *from, const char *to)
{
	if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* Filesystems without RENAME_NOREPLACE (some NFS): link() refuses to replace too. */
	if (linkat(dirfd, from, dirfd, to, 0) < 0)
		return -errno;
	unlinkat(dirfd, from, 0);
	return 0;
}

int dg_dumpdir_commit(struct dg_dumpdir *dir, struct dg_dump_slot *slot, struct dg_error *err)
{
	int fd, r;
	char tmp_name[sizeof(slot->tmp_name)], tmp_path[sizeof(slot->tmp_path)];

	/* The writer (libvirt) may have replaced our placeholder inode: sync what is under the name now. */
	fd = openat(dir->fd, slot->tmp_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return dg_error_set_errno(err, DG_FAILED, errno, "written dump %s disappeared", slot->tmp_path);
	if (fsync(fd) < 0) {
		int e = errno;
		close(fd);
		return dg_error_set_errno(err, DG_FAILED, e, "cannot flush dump %s to disk (kept there)",
					  slot->tmp_path);
	}
	close(fd);

	snprintf(tmp_name, sizeof(tmp_name), "%s", slot->tmp_name);
	snprintf(tmp_path, sizeof(tmp_path), "%s", slot->tmp_path);
	r = rename_noreplace(dir->fd, tmp_name, slot->name);
	/* Someone created our reserved name behind our back: take the next free one rather than lose the dump. */
	for (int n = 0; r == -EEXIST && n <= DG_DUMPNAME_SUFFIXES; n++) {
		char name[DG_DUMPNAME_MAX];

		if (dg_dumpname_format(slot->prefix, slot->when, n, slot->ext, name, sizeof(name)) < 0)
			break;
		if (strcmp(name, slot->name) == 0)
			continue;
		r = rename_noreplace(dir->fd, tmp_name, name);
		if (r == 0) {
			snprintf(slot->name, sizeof(slot->name), "%s", name);
			snprintf(slot->path, sizeof(slot->path), "%s/%s", dir->path, name);
		}
	}
	if (r < 0) {
		/* Keep it under a name the stale-temporary cleaner leaves alone: it may be the only copy. */
		char kept_name[sizeof(slot->tmp_name)], kept_path[sizeof(slot->tmp_path)];

		snprintf(kept_name, sizeof(kept_name), ".%s%s", slot->name, DG_DUMP_KEPT_SUFFIX);
		snprintf(kept_path, sizeof(kept_path), "%s/%s", dir->path, kept_name);
		if (rename_noreplace(dir->fd, tmp_name, kept_name) == 0) {
			snprintf(tmp_path, sizeof(tmp_path), "%s", kept_path);
			snprintf(slot->tmp_name, sizeof(slot->tmp_name), "%s", kept_name);
			snprintf(slot->tmp_path, sizeof(slot->tmp_path), "%s", kept_path);
		}
		return dg_error_set_errno(err, r == -EEXIST ? DG_REFUSED : DG_FAILED, -r,
					  "dump written but cannot be given a final name; it is kept as %s", tmp_path);
	}
	fsync(dir->fd);
	if (slot->lock_fd >= 0) {
		close(slot->lock_fd);
		slot->lock_fd = -1;
	}
	slot->tmp_name[0] = slot->tmp_path[0] = '\0';
	return 0;
}

void dg_dumpdir_abort(struct dg_dumpdir *dir, struct dg_dump_slot *slot)
{
	if (!slot)
		return;
	if (dir && slot->tmp_name[0])
		unlinkat(dir->fd, slot->tmp_name, 0);
	if (slot->lock_fd >= 0)
		close(slot->lock_fd);
	slot->lock_fd = -1;
	slot->tmp_name[0] = slot->tmp_path[0] = '\0';
}

int dg_dumpdir_write_file(struct dg_dumpdir *dir, const char *name, const void *data, size_t len,
			  struct dg_error *err)
{
	char tmp[DG_DUMPNAME_MAX + 32];
	const char *p = data;
	int fd;

	snprintf(tmp, sizeof(tmp), ".%s.%ld.tmp", name, (long)getpid());
	fd = openat(dir->fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return dg_error_set_errno(err, DG_FAILED, errno, "cannot create %s/%s", dir->path, tmp);
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) < 0)
		goto fail;
	close(fd);
	if (renameat(dir->fd, tmp, dir->fd, name) < 0) {
		int e = errno;
		unlinkat(dir->fd, tmp, 0);
		return dg_error_set_errno(err, DG_FAILED, e, "cannot write %s/%s", dir->path, name);
	}
	return 0;
fail: {
	int e = errno;
	close(fd);
	unlinkat(dir->fd, tmp, 0);
	return dg_error_set_errno(err, DG_FAILED, e, "cannot write %s/%s", dir->path, name);
}
}
