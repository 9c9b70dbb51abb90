/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Liveness on a fake clock: silent after one interval (or before any value), the host's own interval over the
 * default, intervals counted from the episode's start, quiet after `factor` intervals and only once seen, and a
 * value ends the quiet spell. */
#include "diagint/liveness.h"
#include "tap.h"

int main(void)
{
	struct dg_liveness l = { 0 };

	CHECK(dg_liveness_silent(&l, 1000, 10), "nothing seen yet: silent");
	CHECK(!dg_liveness_update_quiet(&l, 5000, 10, 1.5) && !l.quiet, "nothing seen yet: never quiet");
	CHECK(!dg_liveness_seen(&l, 1000, 0), "a value (interval unknown), no quiet spell ended");
	CHECK(dg_liveness_interval(&l, 10) == 10, "unknown interval: the default");
	CHECK(!dg_liveness_silent(&l, 1009.9, 10) && dg_liveness_silent(&l, 1010, 10), "silent after one interval");

	dg_liveness_seen(&l, 1000, 2);
	CHECK(dg_liveness_interval(&l, 10) == 2, "the host's own interval wins");
	CHECK(dg_liveness_silent(&l, 1002, 10), "silent after its own interval");
	CHECK(!dg_liveness_update_quiet(&l, 1003, 10, 1.5) && !l.quiet, "1.5 intervals exactly: not yet quiet");
	CHECK(dg_liveness_update_quiet(&l, 1003.1, 10, 1.5) && l.quiet, "over 1.5 intervals: quiet (changed)");
	CHECK(!dg_liveness_update_quiet(&l, 1004, 10, 1.5) && l.quiet, "still quiet: no change");
	CHECK(dg_liveness_seen(&l, 1005, 2) && !l.quiet, "a value ends the quiet spell");
	CHECK(!dg_liveness_seen(&l, 1006, 2), "the next value ends nothing");

	CHECK(dg_liveness_intervals(&l, 1010, 1010, 10) == 1, "the first interval counts");
	CHECK(dg_liveness_intervals(&l, 1010, 1013.9, 10) == 2 && dg_liveness_intervals(&l, 1010, 1016, 10) == 4,
	      "then one per interval of the host");
	return tap_done();
}
