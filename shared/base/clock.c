/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <time.h>

#include "diagint/clock.h"

double dg_clock_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double dg_clock_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void dg_clock_iso_utc(double t, char *buf, size_t len)
{
	time_t s = (time_t)t;
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct timespec dg_clock_deadline(clockid_t clock, double seconds)
{
	struct timespec ts;
	time_t whole;

	clock_gettime(clock, &ts);
	if (!(seconds > 0))
		return ts;
	whole = (time_t)seconds;
	ts.tv_sec += whole;
	ts.tv_nsec += (long)((seconds - (double)whole) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

double dg_clock_left(double deadline)
{
	double left = deadline - dg_clock_mono();

	return left > 0 ? left : 0;
}

int dg_clock_left_ms(double deadline, int max_ms)
{
	double ms = dg_clock_left(deadline) * 1000;

	return ms >= max_ms ? max_ms : (int)ms;
}
