/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Seconds on CLOCK_MONOTONIC: for timeouts, intervals and measured durations, which must not jump when the
 * wall clock is set. */
double dg_clock_mono(void);
