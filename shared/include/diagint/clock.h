/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <time.h>

/* Seconds on CLOCK_MONOTONIC: for timeouts, intervals and measured durations, which must not jump when the
 * wall clock is set. */
double dg_clock_mono(void);

/* Seconds since the epoch on CLOCK_REALTIME: for what is shown or recorded (detected at, last seen). */
double dg_clock_real(void);
/* t (seconds since the epoch) as ISO 8601 UTC to the second, "2026-12-06T18:01:36Z", into buf (21 bytes or more). */
void dg_clock_iso_utc(double t, char *buf, size_t len);

/* The moment `seconds` from now on `clock`, normalized, for the timed waits (pthread_cond_timedwait on a
 * condition variable set to that clock, pthread_timedjoin_np on CLOCK_REALTIME). seconds <= 0: now. */
struct timespec dg_clock_deadline(clockid_t clock, double seconds);

/* Seconds left until deadline, a dg_clock_mono() time (now + the timeout); 0 once it has passed. The polling
 * waits (poll(), waitpid(WNOHANG), a retry loop) check their timeout and size their sleeps with it. */
double dg_clock_left(double deadline);

/* The same in whole milliseconds for poll(), at most max_ms (>= 0); 0 once less than a millisecond is left. */
int dg_clock_left_ms(double deadline, int max_ms);
