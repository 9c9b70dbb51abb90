/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diagint/dumpstore.h"

static int cmp_entry(const void *a, const void *b)
{
	const struct dg_dump_entry *x = a, *y = b;

	if (x->stamp != y->stamp)
		return x->stamp < y->stamp ? -1 : 1;
	if (x->suffix != y->suffix)
		return x->suffix - y->suffix;
	return strcmp(x->name, y->name);
}

int dg_dumpstore_scan(int dirfd, const char *path, struct dg_dump_list *ret, struct dg_error *err)
{
	struct dg_dump_list list = { 0 };
	size_t cap = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return dg_error_set_errno(err, DG_FAILED, e, "cannot list %s", path);
	}
	while ((de = readdir(d))) {
		struct dg_dump_entry e = { 0 };
		char sidecar[DG_DUMPNAME_MAX + 8];
		struct stat st;

		if (!dg_dumpname_parse(de->d_name, e.prefix, sizeof(e.prefix), &e.stamp, &e.suffix, &e.ext))
			continue;
		if (strlen(de->d_name) >= sizeof(e.name))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		snprintf(e.name, sizeof(e.name), "%s", de->d_name);
		e.mtime = st.st_mtime;
		e.size = (uint64_t)st.st_size;
		e.allocated = (uint64_t)st.st_blocks * 512;
		snprintf(sidecar, sizeof(sidecar), "%s.json", de->d_name);
		if (fstatat(dirfd, sidecar, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			e.sidecar = true;
			e.allocated += (uint64_t)st.st_blocks * 512;
		}
		snprintf(sidecar, sizeof(sidecar), "%s.dmesg", de->d_name); /* the kernel log beside it */
		if (fstatat(dirfd, sidecar, &st, AT_SYMLINK_NOFOLLOW) == 0)
			e.allocated += (uint64_t)st.st_blocks * 512;
		if (list.n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct dg_dump_entry *v = realloc(list.v, ncap * sizeof(*v));
			if (!v) {
				closedir(d);
				dg_dump_list_free(&list);
				return dg_error_set(err, DG_FAILED, "out of memory listing %s", path);
			}
			list.v = v;
			cap = ncap;
		}
		list.v[list.n++] = e;
	}
	closedir(d);
	if (list.n)
		qsort(list.v, list.n, sizeof(*list.v), cmp_entry);
	*ret = list;
	return 0;
}

void dg_dump_list_free(struct dg_dump_list *list)
{
	if (!list)
		return;
	free(list->v);
	list->v = NULL;
	list->n = 0;
}

int dg_dumpstore_remove(int dirfd, const char *name, struct dg_error *err)
{
	char sidecar[DG_DUMPNAME_MAX + 8];

	if (strchr(name, '/') || !dg_dumpname_parse(name, NULL, 0, NULL, NULL, NULL))
		return dg_error_set(err, DG_USAGE, "'%s' is not a dump's name (NAME-YYYYMMDD-hhmmss.gcore): see "
				    "'diagint dumps list'", name);
	if (unlinkat(dirfd, name, 0) < 0) {
		if (errno == ENOENT)
			return dg_error_set(err, DG_NOTFOUND, "no dump named %s: see 'diagint dumps list'", name);
		return dg_error_set_errno(err, DG_FAILED, errno, "cannot remove %s", name);
	}
	snprintf(sidecar, sizeof(sidecar), "%s.json", name);
	if (unlinkat(dirfd, sidecar, 0) < 0 && errno != ENOENT)
		return dg_error_set_errno(err, DG_FAILED, errno, "removed %s but not its sidecar", name);
	snprintf(sidecar, sizeof(sidecar), "%s.dmesg", name);
	if (unlinkat(dirfd, sidecar, 0) < 0 && errno != ENOENT)
		return dg_error_set_errno(err, DG_FAILED, errno, "removed %s but not its kernel log", name);
	return 0;
}
