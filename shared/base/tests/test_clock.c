/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The monotonic clock helper: it moves forward, by about the time slept, and never backwards; the deadline
 * helper: now plus the seconds asked, normalized; the wall clock and its ISO 8601 form. */
#include <math.h>
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

	{
		struct timespec now, d;
		double diff;

		clock_gettime(CLOCK_MONOTONIC, &now);
		d = dg_clock_deadline(CLOCK_MONOTONIC, 1.75);
		diff = (double)(d.tv_sec - now.tv_sec) + (double)(d.tv_nsec - now.tv_nsec) / 1e9;
		CHECK(diff >= 1.75 && diff < 1.85, "1.75 s from now (%f)", diff);
		CHECK(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L, "normalized (%ld ns)", d.tv_nsec);
		for (int i = 0; i < 1000; i++) {
			d = dg_clock_deadline(CLOCK_REALTIME, 0.999999999);
			if (d.tv_nsec < 0 || d.tv_nsec >= 1000000000L)
				break;
		}
		CHECK(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L, "normalized however close to a second");
		clock_gettime(CLOCK_MONOTONIC, &now);
		d = dg_clock_deadline(CLOCK_MONOTONIC, -5);
		CHECK(d.tv_sec <= now.tv_sec + 1 && d.tv_sec >= now.tv_sec - 1, "a past deadline is now");
	}
	{
		char iso[32];
		double r = dg_clock_real();

		CHECK(r > 1.7e9 && fabs(r - (double)time(NULL)) < 2, "the wall clock (%f)", r);
		dg_clock_iso_utc(0, iso, sizeof(iso));
		CHECK_STR(iso, "1970-01-01T00:00:00Z", "the epoch in ISO 8601 UTC");
		dg_clock_iso_utc(1796579296.9, iso, sizeof(iso));
		CHECK_STR(iso, "2026-12-06T17:48:16Z", "to the second, cut, not rounded");
	}
	{
		double deadline = dg_clock_mono() + 0.3, left = dg_clock_left(deadline);
		int ms = dg_clock_left_ms(deadline, 1000);

		CHECK(left > 0.25 && left <= 0.3, "0.3 s ahead: about 0.3 s left (%f)", left);
		CHECK(ms > 250 && ms <= 300, "in milliseconds (%d)", ms);
		CHECK(dg_clock_left_ms(deadline, 100) == 100, "at most max_ms");
		CHECK(dg_clock_left_ms(dg_clock_mono() + 1e9, 1000) == 1000, "a far deadline: max_ms, no overflow");
		usleep(320000);
		CHECK(dg_clock_left(deadline) == 0 && dg_clock_left_ms(deadline, 1000) == 0, "passed: 0, never negative");
		CHECK(dg_clock_left(dg_clock_mono() - 5) == 0, "long passed: 0");
		CHECK(dg_clock_left_ms(dg_clock_mono() + 0.0005, 1000) == 0, "under a millisecond: 0 ms");
	}
	return tap_done();
}
