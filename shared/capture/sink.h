/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diagint/error.h"
#include "diagint/log.h"

/* Where a dump's bytes go as they stream out of libvirt: a file (the reserved temporary of a dump directory) or
 * the standard input of a |COMMAND. One small interface, so a new destination is one new file. */

struct dg_sink;

struct dg_sink_ops {
	int (*write)(struct dg_sink *s, const void *buf, size_t len, struct dg_error *err);
	/* NULL when the sink cannot seek (a pipe) */
	int (*pwrite)(struct dg_sink *s, const void *buf, size_t len, uint64_t offset, struct dg_error *err);
	int (*finish)(struct dg_sink *s, struct dg_error *err);
	void (*abort)(struct dg_sink *s);
	void (*free)(struct dg_sink *s);
};

struct dg_sink {
	const struct dg_sink_ops *ops;
	uint64_t written; /* bytes accepted so far (apparent size for files) */
};

/* fd stays owned by the caller; path is for messages. sparse: all-zero 4 KiB blocks are skipped, leaving holes that read back as
 * zeros, so the file is byte-identical to the stream. finish() sets the final size and fsyncs. */
int dg_sink_file_new(int fd, bool sparse, const char *path, struct dg_sink **ret, struct dg_error *err);

/* `/bin/sh -c command` reading the dump on its standard input, with env (NAME=VALUE strings, NULL-terminated)
 * added to ours. Its stdout and stderr lines go to log. A command that stops reading for stall_timeout seconds is
 * an error (and is killed); finish() closes its input and waits up to stall_timeout for its exit status. */
int dg_sink_command_new(const char *command, char *const env[], double stall_timeout, dg_log_fn log,
			void *log_userdata, struct dg_sink **ret, struct dg_error *err);

static inline int dg_sink_write(struct dg_sink *s, const void *buf, size_t len, struct dg_error *err)
{
	return s->ops->write(s, buf, len, err);
}

static inline bool dg_sink_seekable(const struct dg_sink *s)
{
	return s->ops->pwrite != NULL;
}

static inline int dg_sink_pwrite(struct dg_sink *s, const void *buf, size_t len, uint64_t off, struct dg_error *err)
{
	return s->ops->pwrite(s, buf, len, off, err);
}

static inline int dg_sink_finish(struct dg_sink *s, struct dg_error *err)
{
	return s->ops->finish(s, err);
}

static inline void dg_sink_abort(struct dg_sink *s)
{
	s->ops->abort(s);
}

static inline void dg_sink_free(struct dg_sink *s)
{
	if (s)
		s->ops->free(s);
}
