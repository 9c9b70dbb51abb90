/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <time.h>

#include "diagint/error.h"

/* The forms every --since/--until accepts, for help texts and errors. */
#define DG_TIME_FORMS                                                                                          \
	"2026-12-01, '2026-12-01 10:00[:00]' (local), 2026-12-01T10:00:00Z (UTC), @EPOCH, now, today, "        \
	"yesterday, tomorrow, -7d, -2h30min, '7d ago' (systemd.time(7)); a bare age such as 7d means 7d ago"

/* A point in time as a user writes it on the command line, in systemd.time(7)'s grammar, so that every
 * command reads --since/--until the same way and as journalctl does:
 *   now, today, yesterday, tomorrow           (the last three: local midnight)
 *   @1764583200[.5]                           seconds since the epoch
 *   -7d, +1h, -2h30min, '7d ago', '1h left'   a span before or after now (units: us ms s sec min m h hr d w
 *                                             M month y year and their long names; a number alone: seconds)
 *   7d, 90m                                   a bare span: that long ago (what `dumps --since 7d` always meant)
 *   2026-12-01, '2026-12-01 10:00', '2026-12-01 10:00:00[.frac]', 2026-12-01T10:00:00, 10:00[:00] (today)
 *                                             local time, or UTC with a trailing Z / ' UTC', or '+02:00'
 * Relative forms count from `now` (seconds since the epoch). Only years 1970-9999 are accepted, so a result
 * always has a four-digit year. Returns 0, or -DG_USAGE with err naming the text and the forms accepted. */
int dg_time_parse(const char *text, time_t now, struct timespec *ret, struct dg_error *err);
