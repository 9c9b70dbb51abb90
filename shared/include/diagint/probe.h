/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "diagint/error.h"

/* An active probe: a way to ask "is this guest still alive?" of a guest that cannot report its own hang. The
 * watcher calls check() once per interval and counts consecutive misses; N misses in a row is a hang. Adding a
 * probe (guest agent ping, vCPU time progress) is one new file implementing these ops and one constructor. */

struct dg_probe_ops {
	const char *name; /* "heartbeat", ... : in logs and audit evidence */
	/* 1: alive; 0: no sign of life since the last check; -status: could not look (counts as a miss, err
	 * says why). */
	int (*check)(void *state, struct dg_error *err);
	void (*free)(void *state);
};

struct dg_probe {
	const struct dg_probe_ops *ops;
	void *state;
};

/* Console heartbeat: `pattern` (a fixed string) must appear in what the serial log file at `log_path` gained
 * since the previous check. Output written before the probe starts does not count. A file that shrank
 * (rotated, truncated) is read from its start; at most the last 1 MiB of growth is read per check. */
int dg_probe_heartbeat_new(const char *log_path, const char *pattern, struct dg_probe *ret, struct dg_error *err);

static inline int dg_probe_check(struct dg_probe *p, struct dg_error *err)
{
	return p->ops->check(p->state, err);
}

static inline void dg_probe_free(struct dg_probe *p)
{
	if (p->ops && p->ops->free)
		p->ops->free(p->state);
	p->ops = NULL;
	p->state = NULL;
}
