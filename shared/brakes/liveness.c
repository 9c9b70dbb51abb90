/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Silence judged from arrival times only: a host that sends every `interval` seconds and has sent nothing for
 * one interval may be missing; for longer than `factor` intervals it is quiet (the storm brake's evidence before
 * the detector's own report arrives). */
#include "diagint/liveness.h"

bool dg_liveness_seen(struct dg_liveness *l, double now, double interval)
{
	bool was_quiet = l->quiet;

	l->last_seen = now;
	l->interval = interval;
	l->quiet = false;
	return was_quiet;
}

double dg_liveness_interval(const struct dg_liveness *l, double def)
{
	return l->interval > 0 ? l->interval : def;
}

bool dg_liveness_silent(const struct dg_liveness *l, double now, double def)
{
	return l->last_seen == 0 || now - l->last_seen >= dg_liveness_interval(l, def);
}

unsigned dg_liveness_intervals(const struct dg_liveness *l, double since, double now, double def)
{
	return 1 + (unsigned)((now - since) / dg_liveness_interval(l, def));
}

bool dg_liveness_update_quiet(struct dg_liveness *l, double now, double def, double factor)
{
	bool quiet = l->last_seen > 0 && now - l->last_seen > factor * dg_liveness_interval(l, def);

	if (quiet == l->quiet)
		return false;
	l->quiet = quiet;
	return true;
}
