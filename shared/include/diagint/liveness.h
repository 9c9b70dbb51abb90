/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* A host's silence as judged by a detector that only sees its values arrive (the collectd plugin's Detect
 * "missing"): when it last sent something, how often it sends, and whether it has gone quiet. Times are the
 * caller's clock (the wall clock in the plugin, a fake one in the unit test); no lock of its own (the caller's).
 * Zero-initialized: nothing seen yet. */
struct dg_liveness {
	double last_seen; /* of the last value (0: none yet) */
	double interval;  /* of the last value, seconds (0: unknown, the caller's default applies) */
	bool quiet;       /* seen once, then silent for over `factor` intervals (dg_liveness_update_quiet) */
};

/* A value arrived at now, sent every `interval` seconds (0: unknown). True when this ends a quiet spell. */
bool dg_liveness_seen(struct dg_liveness *l, double now, double interval);
/* The interval to judge by: the host's own, else def. */
double dg_liveness_interval(const struct dg_liveness *l, double def);
/* Nothing for at least one interval, or nothing at all yet: a report of missing values may count. */
bool dg_liveness_silent(const struct dg_liveness *l, double now, double def);
/* The intervals a silence that began at `since` has lasted, the first one counting: 1 + elapsed / interval. */
unsigned dg_liveness_intervals(const struct dg_liveness *l, double since, double now, double def);
/* quiet := seen once and silent for more than `factor` intervals since. True when quiet changed. */
bool dg_liveness_update_quiet(struct dg_liveness *l, double now, double def, double factor);
