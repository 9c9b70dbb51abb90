/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <time.h>

/* Seconds on CLOCK_MONOTONIC: for timeouts, intervals and measured durations, which must not jump when the
 * wall clock is set. */
double dg_clock_mono(void);

/* The moment `seconds` from now on `clock`, normalized, for the timed waits (pthread_cond_timedwait on a
 * condition variable set to that clock, pthread_timedjoin_np on CLOCK_REALTIME). seconds <= 0: now. */
struct timespec dg_clock_deadline(clockid_t clock, double seconds);
