/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "diagint/config.h"
#include "diagint/dumpdir.h"
#include "diagint/error.h"
#include "diagint/log.h"

/* Retention in the spirit of systemd-coredump's vacuum: MaxUse caps what dumps may use, KeepFree protects the
 * host's filesystem, and both are checked before a capture, with the size the capture may need. */

struct dg_retention_result {
	unsigned evicted;
	uint64_t freed;
	uint64_t usage;    /* dumps + sidecars after eviction */
	uint64_t fs_size;
	uint64_t fs_free;  /* available to us, after eviction */
};

/* Make room for `need` more bytes. When evict is true the oldest dumps go first until the limits hold; what is
 * removed is logged. DG_REFUSED, with nothing removed, when the limits cannot be met even with every old dump gone
 * (or evict is false). need 0 = apply the limits now (`dumps gc`). */
int dg_retention_apply(struct dg_dumpdir *dir, const struct dg_capture_policy *policy, uint64_t need, bool evict,
		       dg_log_fn log, void *log_userdata, struct dg_retention_result *ret, struct dg_error *err);

/* A dry run of dg_retention_apply(..., evict true): the same decision, nothing removed; ret->evicted and
 * ret->freed say what would be, and the log says "would remove" for each. */
int dg_retention_plan(struct dg_dumpdir *dir, const struct dg_capture_policy *policy, uint64_t need, dg_log_fn log,
		      void *log_userdata, struct dg_retention_result *ret, struct dg_error *err);

/* Per-domain flood limit: DG_REFUSED when `prefix` already has flood_limit dumps stamped within the last
 * flood_window seconds before now. */
int dg_retention_flood_check(struct dg_dumpdir *dir, const struct dg_capture_policy *policy, const char *prefix,
			     time_t now, struct dg_error *err);
