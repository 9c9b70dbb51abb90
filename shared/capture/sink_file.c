/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/sink.h"

#define BLOCK 4096

struct file_sink {
	struct dg_sink base;
	int fd;
	bool sparse;
	char path[4096];
	uint64_t end; /* highest offset written or skipped: the file's final size */
};

static bool all_zero(const unsigned char *p, size_t n)
{
	/* Compare the block with itself shifted by one: zero iff the first byte is zero and all are equal. */
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static int put(struct file_sink *f, const unsigned char *p, size_t len, uint64_t off, struct dg_error *err)
{
	while (len > 0) {
		ssize_t w = pwrite(f->fd, p, len, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return dg_error_set_errno(err, DG_FAILED, errno, "cannot write the dump to %s", f->path);
		}
		p += w;
		off += (uint64_t)w;
		len -= (size_t)w;
	}
	return 0;
}

static int file_pwrite(struct dg_sink *s, const void *buf, size_t len, uint64_t off, struct dg_error *err)
{
	struct file_sink *f = (struct file_sink *)s;
	const unsigned char *p = buf;
	int r;

	if (!f->sparse) {
		r = put(f, p, len, off, err);
		if (r < 0)
			return r;
	} else {
		/* Runs of non-zero blocks go out in one write; zero blocks aligned to the file's blocks are skipped. */
		size_t i = 0, run = 0;
		while (i < len) {
			uint64_t at = off + i;
			size_t n = BLOCK - (size_t)(at % BLOCK);
			if (n > len - i)
				n = len - i;
			/* Only blocks past everything written so far may stay holes: a zero block over old data (the
			 * kdump converter writes at offsets) must overwrite it. */
			if (n == BLOCK && at >= f->end && all_zero(p + i, n)) {
				if (i > run) {
					r = put(f, p + run, i - run, off + run, err);
					if (r < 0)
						return r;
				}
				run = i + n;
			}
			i += n;
		}
		if (len > run) {
			r = put(f, p + run, len - run, off + run, err);
			if (r < 0)
				return r;
		}
	}
	if (off + len > f->end)
		f->end = off + len;
	s->written += len;
	return 0;
}

static int file_write(struct dg_sink *s, const void *buf, size_t len, struct dg_error *err)
{
	struct file_sink *f = (struct file_sink *)s;

	return file_pwrite(s, buf, len, f->end, err);
}

static int file_finish(struct dg_sink *s, struct dg_error *err)
{
	struct file_sink *f = (struct file_sink *)s;

	/* A trailing hole exists only once the size says so. */
	if (ftruncate(f->fd, (off_t)f->end) < 0)
		return dg_error_set_errno(err, DG_FAILED, errno, "cannot set the size of %s", f->path);
	if (fsync(f->fd) < 0)
		return dg_error_set_errno(err, DG_FAILED, errno, "cannot flush %s to disk", f->path);
	return 0;
}

static void file_abort(struct dg_sink *s)
{
	(void)s;
}

static void file_free(struct dg_sink *s)
{
	free(s);
}

static const struct dg_sink_ops file_ops = {
	.write = file_write,
	.pwrite = file_pwrite,
	.finish = file_finish,
	.abort = file_abort,
	.free = file_free,
};

int dg_sink_file_new(int fd, bool sparse, const char *path, struct dg_sink **ret, struct dg_error *err)
{
	struct file_sink *f = calloc(1, sizeof(*f));

	if (!f)
		return dg_error_set(err, DG_FAILED, "out of memory");
	f->base.ops = &file_ops;
	f->fd = fd;
	f->sparse = sparse;
	snprintf(f->path, sizeof(f->path), "%s", path ? path : "the dump file");
	*ret = &f->base;
	return 0;
}
