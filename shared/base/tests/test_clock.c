/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The monotonic clock helper: it moves forward, by about the time slept, and never backwards. */
#include <time.h>
#include <unistd.h>

#include "diagint/clock.h"
#include "tap.h"

int main(void)
{
	double a = dg_clock_mono(), b, prev = a;
	int backwards = 0;

	CHECK(a > 0, "positive (%f)", a);
	usleep(50000);
	b = dg_clock_mono();
	CHECK(b - a >= 0.049 && b - a < 5, "50 ms of sleep is about 0.05 s (%f)", b - a);
	for (int i = 0; i < 100000; i++) {
		double t = dg_clock_mono();
		backwards += t < prev;
		prev = t;
	}
	CHECK(!backwards, "never backwards over 100000 reads");
	return tap_done();
}
