/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* systemd.time(7)'s timestamps: every form, refusals that name the value and the forms, overflow, and day
 * boundaries (DST change, month and year ends) in a zone with DST. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diagint/time_parse.h"
#include "tap.h"

/* UTC seconds of a UTC calendar time. */
static time_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s };

	return timegm(&tm);
}

static time_t sec(const char *text, time_t now)
{
	struct timespec ts = { -1, -1 };
	struct dg_error err = { 0 };

	if (dg_time_parse(text, now, &ts, &err) < 0) {
		printf("# '%s': %s\n", text, err.message);
		return -1;
	}
	return ts.tv_sec;
}

static bool refused(const char *text, time_t now, const char *why)
{
	struct timespec ts = { 0 };
	struct dg_error err = { 0 };
	char quoted[256];

	snprintf(quoted, sizeof(quoted), "'%s'", text);
	if (dg_time_parse(text, now, &ts, &err) != -DG_USAGE) {
		printf("# '%s' was accepted: %lld\n", text, (long long)ts.tv_sec);
		return false;
	}
	if (!strstr(err.message, quoted) || !strstr(err.message, "yesterday") || !strstr(err.message, "-7d") ||
	    !strstr(err.message, "systemd.time(7)") || !strstr(err.message, why)) {
		printf("# message: %s\n", err.message);
		return false;
	}
	return true;
}

int main(void)
{
	/* Central European time: UTC+1 in winter, UTC+2 from the last Sunday of March 02:00 to the last Sunday of
	 * October 03:00. A POSIX rule, so no tzdata is needed. */
	setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
	tzset();
	const time_t now = utc(2026, 12, 1, 12, 0, 0); /* 13:00 local */
	struct timespec ts;
	struct dg_error err = { 0 };

	/* Keywords. */
	CHECK(sec("now", now) == now, "now");
	CHECK(sec("today", now) == utc(2026, 11, 30, 23, 0, 0), "today: local midnight");
	CHECK(sec("yesterday", now) == utc(2026, 11, 29, 23, 0, 0), "yesterday");
	CHECK(sec("tomorrow", now) == utc(2026, 12, 1, 23, 0, 0), "tomorrow");

	/* Epoch. */
	CHECK(sec("@1764583200", now) == 1764583200, "@EPOCH");
	CHECK(dg_time_parse("@1764583200.25", now, &ts, &err) == 0 && ts.tv_sec == 1764583200 &&
		      ts.tv_nsec == 250000000,
	      "@EPOCH.frac");
	CHECK(sec("@0", now) == 0, "@0");

	/* Relative. */
	CHECK(sec("-7d", now) == now - 7 * 86400, "-7d");
	CHECK(sec("-2h30min", now) == now - 9000, "-2h30min");
	CHECK(sec("-2h 30min", now) == now - 9000, "-2h 30min");
	CHECK(sec("-30m", now) == now - 1800, "-30m: minutes (M is a month)");
	CHECK(sec("-1M", now) == now - 2629800, "-1M: systemd's month");
	CHECK(sec("-1y", now) == now - 31557600, "-1y: systemd's year");
	CHECK(sec("-45s", now) == now - 45, "-45s");
	CHECK(sec("-45", now) == now - 45, "-45: seconds");
	CHECK(sec("-1.5h", now) == now - 5400, "-1.5h");
	CHECK(sec("-2 weeks", now) == now - 14 * 86400, "-2 weeks");
	CHECK(sec("+1h", now) == now + 3600, "+1h");
	CHECK(sec("7d ago", now) == now - 7 * 86400, "7d ago");
	CHECK(sec("3 hours ago", now) == now - 3 * 3600, "3 hours ago");
	CHECK(sec("1h left", now) == now + 3600, "1h left");
	CHECK(dg_time_parse("-1500ms", now, &ts, &err) == 0 && ts.tv_sec == now - 2 && ts.tv_nsec == 500000000,
	      "-1500ms");
	CHECK(dg_time_parse("-1us", now, &ts, &err) == 0 && ts.tv_sec == now - 1 && ts.tv_nsec == 999999000, "-1us");
	CHECK(sec("-1\xc2\xb5s", now) == now - 1, "-1µs");

	/* A bare age: what `dumps --since 7d` always meant. */
	CHECK(sec("7d", now) == now - 7 * 86400, "7d: 7 days ago");
	CHECK(sec("90m", now) == now - 5400, "90m");
	CHECK(sec("12h", now) == now - 12 * 3600, "12h");
	CHECK(sec("250ms", now) == now - 1, "250ms");

	/* Absolute: local time unless a zone is given. */
	CHECK(sec("2026-12-01", now) == utc(2026, 11, 30, 23, 0, 0), "2026-12-01: local midnight");
	CHECK(sec("2026-12-01 10:00", now) == utc(2026, 12, 1, 9, 0, 0), "'2026-12-01 10:00'");
	CHECK(sec("2026-12-01 10:00:00", now) == utc(2026, 12, 1, 9, 0, 0), "'2026-12-01 10:00:00'");
	CHECK(sec("2026-12-01T10:00:00", now) == utc(2026, 12, 1, 9, 0, 0), "2026-12-01T10:00:00 (local)");
	CHECK(sec("2026-12-01T10:00", now) == utc(2026, 12, 1, 9, 0, 0), "2026-12-01T10:00");
	CHECK(sec("2026-07-01 10:00", now) == utc(2026, 7, 1, 8, 0, 0), "summer: UTC+2");
	CHECK(sec("2026-12-01T10:00:00Z", now) == utc(2026, 12, 1, 10, 0, 0), "Z: UTC");
	CHECK(sec("2026-12-01 10:00:00 UTC", now) == utc(2026, 12, 1, 10, 0, 0), "' UTC'");
	CHECK(sec("2026-12-01T10:00:00+02:00", now) == utc(2026, 12, 1, 8, 0, 0), "+02:00");
	CHECK(sec("2026-12-01T10:00:00-0530", now) == utc(2026, 12, 1, 15, 30, 0), "-0530");
	CHECK(dg_time_parse("2026-12-01 10:00:00.123456789", now, &ts, &err) == 0 && ts.tv_nsec == 123456000,
	      "fraction of a second (to the microsecond)");
	CHECK(sec("10:00", now) == utc(2026, 12, 1, 9, 0, 0), "10:00: today");
	CHECK(sec("10:00:30Z", now) == utc(2026, 12, 1, 10, 0, 30), "10:00:30Z: today, UTC");
	CHECK(sec("2028-02-29", now) > 0, "a leap day");
	CHECK(sec("1970-01-01Z", now) == 0, "the epoch");
	CHECK(sec("9999-12-31T23:59:59Z", now) == utc(9999, 12, 31, 23, 59, 59), "the last second of 9999");

	/* Day boundaries: DST starts on 2026-03-29 (a 23-hour day) and ends on 2026-10-25 (25 hours). */
	{
		time_t spring = utc(2026, 3, 29, 10, 0, 0), autumn = utc(2026, 10, 25, 10, 0, 0);

		CHECK(sec("today", spring) == utc(2026, 3, 28, 23, 0, 0), "today on the spring change: 00:00 CET");
		CHECK(sec("tomorrow", spring) - sec("today", spring) == 23 * 3600, "the spring day has 23 hours");
		CHECK(sec("today", spring) - sec("yesterday", spring) == 24 * 3600, "the day before has 24");
		CHECK(sec("today", autumn) == utc(2026, 10, 24, 22, 0, 0), "today on the autumn change: 00:00 CEST");
		CHECK(sec("tomorrow", autumn) - sec("today", autumn) == 25 * 3600, "the autumn day has 25 hours");
		CHECK(sec("2026-03-29 02:30", spring) == utc(2026, 3, 29, 1, 30, 0),
		      "02:30 on the spring change does not exist: mktime moves it an hour on");
	}
	{
		time_t newyear = utc(2026, 12, 31, 23, 30, 0); /* 2027-01-01 00:30 local */

		CHECK(sec("today", newyear) == utc(2026, 12, 31, 23, 0, 0), "today just after local new year");
		CHECK(sec("yesterday", newyear) == utc(2026, 12, 30, 23, 0, 0), "yesterday: the last day of 2026");
		CHECK(sec("today", utc(2026, 11, 30, 23, 0, 0)) == utc(2026, 11, 30, 23, 0, 0),
		      "at local midnight itself, today is now");
		CHECK(sec("yesterday", utc(2027, 2, 28, 23, 0, 0)) == utc(2027, 2, 27, 23, 0, 0),
		      "yesterday across a month end (2027-03-01)");
	}

	/* Refusals name the value and the forms. */
	CHECK(refused("last tuesday", now, "cannot read"), "last tuesday");
	CHECK(refused("", now, "cannot read"), "the empty text");
	CHECK(refused("-5x", now, "cannot read"), "-5x: no such unit");
	CHECK(refused("-", now, "cannot read"), "- alone");
	CHECK(refused("-h", now, "cannot read"), "-h: a unit without a number");
	CHECK(refused("ago", now, "cannot read"), "ago alone");
	CHECK(sec("7d 3", now) == now - 7 * 86400 - 3, "7d 3: a number without a unit, last, is seconds");
	CHECK(refused("3 7d", now, "cannot read"), "a number without a unit before another term");
	CHECK(refused("2026", now, "cannot read"), "2026: a bare number is not an age");
	CHECK(refused("2026-13-01", now, "cannot read"), "month 13");
	CHECK(refused("2026-02-30", now, "cannot read"), "February 30");
	CHECK(refused("2027-02-29", now, "cannot read"), "February 29 of a common year");
	CHECK(refused("2026-12-01 24:00", now, "cannot read"), "24:00");
	CHECK(refused("2026-12-01 10:60", now, "cannot read"), "10:60");
	CHECK(refused("2026-12-01 10", now, "cannot read"), "an hour without minutes");
	CHECK(refused("2026-12-01T", now, "cannot read"), "T without a time");
	CHECK(refused("2026-12-01 10:00 CET", now, "cannot read"), "zone names other than UTC");
	CHECK(refused("2026-12-01 10:00+25:00", now, "cannot read"), "+25:00");
	CHECK(refused("2026-12-1", now, "cannot read"), "one-digit day");
	CHECK(refused(" 2026-12-01", now, "cannot read"), "leading space");
	CHECK(refused("2026-12-01 ", now, "cannot read"), "trailing space");
	CHECK(refused("@", now, "cannot read"), "@ alone");
	CHECK(refused("@-5", now, "cannot read"), "@-5");
	CHECK(refused("@1e9", now, "cannot read"), "@1e9");
	CHECK(refused("1e5s", now, "cannot read"), "exponents");
	CHECK(refused("Today", now, "cannot read"), "keywords are lower case, as systemd's");

	/* Overflow and range: before 1970 or after 9999, and spans no int64 of microseconds holds. */
	CHECK(refused("1969-12-31", now, "out of range"), "1969");
	CHECK(refused("-57y", now, "out of range"), "57 years before 2026");
	CHECK(refused("+8000y", now, "out of range"), "after 9999");
	CHECK(refused("@253402300800", now, "out of range"), "@ after 9999");
	CHECK(refused("-99999999999999999999d", now, "out of range"), "a number no int64 holds");
	CHECK(refused("-9223372036854775807s", now, "out of range"), "seconds whose microseconds overflow");
	CHECK(refused("-300000y 300000y", now, "out of range"), "a sum that overflows");
	CHECK(refused("99999999999d ago", now, "out of range"), "an age that overflows");
	CHECK(refused("1969-12-31T23:00:00-02:00", now, "out of range"), "a year before 1970, whatever the zone");
	CHECK(dg_time_parse("now", -1, &ts, &err) == -DG_USAGE, "a negative now");

	return tap_done();
}
