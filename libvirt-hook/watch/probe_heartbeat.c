/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "watch/probe.h"

/* A guest that floods its console must not make one check read gigabytes: the heartbeat is periodic, so the
 * newest part of the growth is where it is. */
#define READ_MAX (1 << 20)

struct heartbeat {
	char *path;
	char *pattern;
	size_t plen;
	off_t offset;
	ino_t ino;
	bool started;
	/* The end of the previous read: a heartbeat line split across two checks is still found. */
	char *carry;
	size_t ncarry;
};

static void hb_free(void *state)
{
	struct heartbeat *h = state;

	if (!h)
		return;
	free(h->path);
	free(h->pattern);
	free(h->carry);
	free(h);
}

static int hb_check(void *state, struct dg_error *err)
{
	struct heartbeat *h = state;
	struct stat st;
	char *buf = NULL;
	off_t from;
	size_t want, got = 0;
	int fd, r = 0;

	fd = open(h->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return dg_error_set_errno(err, DG_FAILED, errno, "cannot read serial log %s", h->path);
	if (fstat(fd, &st) < 0) {
		r = dg_error_set_errno(err, DG_FAILED, errno, "cannot stat serial log %s", h->path);
		goto out;
	}
	if (!h->started) {
		/* What the guest printed before we looked proves nothing about now. */
		h->started = true;
		h->offset = st.st_size;
		h->ino = st.st_ino;
		r = 1;
		goto out;
	}
	if (st.st_ino != h->ino || st.st_size < h->offset) {
		h->offset = 0;
		h->ncarry = 0;
		h->ino = st.st_ino;
	}
	if (st.st_size == h->offset)
		goto out; /* nothing new: a miss */
	from = h->offset;
	if (st.st_size - from > READ_MAX) {
		from = st.st_size - READ_MAX;
		h->ncarry = 0;
	}
	want = (size_t)(st.st_size - from);
	buf = malloc(h->ncarry + want + 1);
	if (!buf) {
		r = dg_error_set(err, DG_FAILED, "out of memory");
		goto out;
	}
	memcpy(buf, h->carry, h->ncarry);
	while (got < want) {
		ssize_t n = pread(fd, buf + h->ncarry + got, want - got, from + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = dg_error_set_errno(err, DG_FAILED, errno, "cannot read serial log %s", h->path);
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	h->offset = from + (off_t)got;
	got += h->ncarry;
	r = memmem(buf, got, h->pattern, h->plen) != NULL;
	h->ncarry = got < h->plen - 1 ? got : h->plen - 1;
	memcpy(h->carry, buf + got - h->ncarry, h->ncarry);
out:
	free(buf);
	close(fd);
	return r;
}

static const struct dg_probe_ops heartbeat_ops = {
	.name = "heartbeat",
	.sign = "heartbeat",
	.miss = "no heartbeat in the serial log",
	.check = hb_check,
	.free = hb_free,
};

int dg_probe_heartbeat_new(const char *log_path, const char *pattern, struct dg_probe *ret, struct dg_error *err)
{
	struct heartbeat *h;

	if (!log_path || !*log_path || !pattern || !*pattern)
		return dg_error_set(err, DG_USAGE, "heartbeat probe needs a serial log file and a pattern");
	h = calloc(1, sizeof(*h));
	if (!h)
		return dg_error_set(err, DG_FAILED, "out of memory");
	h->path = strdup(log_path);
	h->pattern = strdup(pattern);
	h->plen = strlen(pattern);
	h->carry = malloc(h->plen);
	if (!h->path || !h->pattern || !h->carry) {
		hb_free(h);
		return dg_error_set(err, DG_FAILED, "out of memory");
	}
	ret->ops = &heartbeat_ops;
	ret->state = h;
	return 0;
}
