/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* systemd.time(7)'s timestamps for --since/--until: one grammar for every command (dumps and audit had two).
 * Arithmetic is in microseconds on int64, checked at each step, as systemd's usec_t. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "diagint/time_parse.h"

#define USEC 1000000LL
#define MAX_USEC (253402300799LL * USEC + 999999) /* 9999-12-31T23:59:59.999999Z: four-digit years only */

struct unit {
	const char *name;
	int64_t usec;
};

/* systemd's names; a name only matches when no letter follows it, so "m" never eats "min" or "msec". A month
 * and a year are systemd's averages (30.44 and 365.25 days). */
static const struct unit units[] = {
	{ "seconds", USEC },	  { "second", USEC },	  { "sec", USEC },	      { "s", USEC },
	{ "minutes", 60 * USEC }, { "minute", 60 * USEC }, { "min", 60 * USEC },     { "m", 60 * USEC },
	{ "hours", 3600 * USEC }, { "hour", 3600 * USEC }, { "hr", 3600 * USEC },    { "h", 3600 * USEC },
	{ "days", 86400 * USEC }, { "day", 86400 * USEC }, { "d", 86400 * USEC },    { "weeks", 604800 * USEC },
	{ "week", 604800 * USEC }, { "w", 604800 * USEC }, { "months", 2629800 * USEC }, { "month", 2629800 * USEC },
	{ "M", 2629800 * USEC },  { "years", 31557600 * USEC }, { "year", 31557600 * USEC }, { "y", 31557600 * USEC },
	{ "msec", 1000 },	  { "ms", 1000 },	  { "usec", 1 },	      { "us", 1 },
	{ "\xc2\xb5s", 1 },	  { "\xce\xbcs", 1 }, /* µs (micro sign) and μs (Greek mu) */
};

static bool is_letter(char c)
{
	return isalpha((unsigned char)c) || (unsigned char)c >= 0x80;
}

static const struct unit *match_unit(const char *p)
{
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t n = strlen(units[i].name);

		if (!strncmp(p, units[i].name, n) && !is_letter(p[n]))
			return &units[i];
	}
	return NULL;
}

/* "2h30min", "1.5h", "2 h 30 min", "90": a sum of numbers with units; a number without one (seconds) only last.
 * The text ends at `end`. */
static int parse_span(const char *p, const char *end, int64_t *ret)
{
	int64_t total = 0;
	bool any = false;

	for (;;) {
		int64_t whole = 0, frac = 0, scale = 1, unit = USEC, term, part;
		bool digits = false;

		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		for (; p < end && isdigit((unsigned char)*p); p++, digits = true)
			if (__builtin_mul_overflow(whole, 10, &whole) || __builtin_add_overflow(whole, *p - '0', &whole))
				return -ERANGE;
		if (p < end && *p == '.')
			for (p++; p < end && isdigit((unsigned char)*p); p++, digits = true)
				if (scale < USEC) {
					frac = frac * 10 + (*p - '0');
					scale *= 10;
				}
		if (!digits)
			return -EINVAL;
		while (p < end && *p == ' ')
			p++;
		if (p < end && is_letter(*p)) {
			const struct unit *u = match_unit(p);

			if (!u || p + strlen(u->name) > end)
				return -EINVAL;
			unit = u->usec;
			p += strlen(u->name);
		} else if (p != end) {
			return -EINVAL;
		}
		if (__builtin_mul_overflow(whole, unit, &term))
			return -ERANGE;
		part = frac * (unit / scale) + frac * (unit % scale) / scale;
		if (__builtin_add_overflow(term, part, &term) || __builtin_add_overflow(total, term, &total))
			return -ERANGE;
		any = true;
	}
	if (!any)
		return -EINVAL;
	*ret = total;
	return 0;
}

static bool read_digits(const char **p, int n, int *ret)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*ret = v;
	return true;
}

static int days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* hh:mm[:ss[.frac]] */
static bool read_clock(const char **p, struct tm *tm, int64_t *frac_usec)
{
	if (!read_digits(p, 2, &tm->tm_hour) || *(*p)++ != ':' || !read_digits(p, 2, &tm->tm_min))
		return false;
	if (**p == ':') {
		(*p)++;
		if (!read_digits(p, 2, &tm->tm_sec))
			return false;
		if (**p == '.') {
			int64_t scale = USEC;

			(*p)++;
			if (!isdigit((unsigned char)**p))
				return false;
			for (; isdigit((unsigned char)**p); (*p)++)
				if (scale > 1) {
					scale /= 10;
					*frac_usec += (**p - '0') * scale;
				}
		}
	}
	return tm->tm_hour <= 23 && tm->tm_min <= 59 && tm->tm_sec <= 59;
}

/* Z, UTC, +hh[:mm], -hh[:mm], after an optional space; nothing at all: local time. */
static bool read_zone(const char **p, bool *utc, long *offset)
{
	const char *z = **p == ' ' ? *p + 1 : *p;
	int h, m = 0, sign;

	*utc = false;
	*offset = 0;
	if (!**p)
		return true;
	if (!strcmp(z, "Z") || !strcmp(z, "UTC")) {
		*utc = true;
		*p = z + strlen(z);
		return true;
	}
	if (*z != '+' && *z != '-')
		return false;
	sign = *z++ == '-' ? -1 : 1;
	if (!read_digits(&z, 2, &h))
		return false;
	if (*z == ':')
		z++;
	if (*z && !read_digits(&z, 2, &m))
		return false;
	if (*z || h > 23 || m > 59)
		return false;
	*utc = true;
	*offset = sign * (h * 3600L + m * 60L);
	*p = z;
	return true;
}

static int parse_absolute(const char *text, time_t now, int64_t *ret)
{
	const char *p = text;
	struct tm tm = { 0 }, today;
	int64_t frac = 0;
	bool date = false, utc;
	long offset;
	time_t t;

	if (read_digits(&p, 4, &tm.tm_year) && *p == '-') {
		p++;
		if (!read_digits(&p, 2, &tm.tm_mon) || *p++ != '-' || !read_digits(&p, 2, &tm.tm_mday))
			return -EINVAL;
		if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
		    tm.tm_mday > days_in_month(tm.tm_year, tm.tm_mon))
			return tm.tm_year < 1970 && tm.tm_mon >= 1 && tm.tm_mon <= 12 ? -ERANGE : -EINVAL;
		date = true;
		if ((*p == 'T' || *p == ' ') && isdigit((unsigned char)p[1])) {
			p++;
			if (!read_clock(&p, &tm, &frac))
				return -EINVAL;
		}
	} else {
		p = text;
		if (!read_clock(&p, &tm, &frac))
			return -EINVAL;
	}
	if (!read_zone(&p, &utc, &offset) || *p)
		return -EINVAL;
	if (!date) {
		time_t shown = utc ? now + offset : now;

		if (!(utc ? gmtime_r(&shown, &today) : localtime_r(&shown, &today)))
			return -ERANGE;
		tm.tm_year = today.tm_year + 1900;
		tm.tm_mon = today.tm_mon + 1;
		tm.tm_mday = today.tm_mday;
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if (utc) {
		t = timegm(&tm) - offset;
	} else {
		tm.tm_isdst = -1;
		t = mktime(&tm);
	}
	if (t < 0 || t > MAX_USEC / USEC)
		return -ERANGE;
	*ret = (int64_t)t * USEC + frac;
	return 0;
}

/* Local midnight, `days` from today's. */
static int midnight(time_t now, int days, int64_t *ret)
{
	struct tm tm;
	time_t t;

	if (!localtime_r(&now, &tm))
		return -ERANGE;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_mday += days;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	if (t == (time_t)-1)
		return -ERANGE;
	*ret = (int64_t)t * USEC;
	return 0;
}

static bool has_letter(const char *s)
{
	for (; *s; s++)
		if (is_letter(*s))
			return true;
	return false;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len > n && !strcmp(s + len - n, suffix);
}

static int parse(const char *text, time_t now, int64_t *ret)
{
	size_t len = strlen(text);
	int64_t base, span;
	int r;

	if (now < 0 || now > MAX_USEC / USEC)
		return -ERANGE;
	base = (int64_t)now * USEC;
	if (!strcmp(text, "now")) {
		*ret = base;
		return 0;
	}
	if (!strcmp(text, "today"))
		return midnight(now, 0, ret);
	if (!strcmp(text, "yesterday"))
		return midnight(now, -1, ret);
	if (!strcmp(text, "tomorrow"))
		return midnight(now, 1, ret);
	if (text[0] == '@') {
		/* Seconds since the epoch, as a span from 0: "@1764583200" and "@1764583200.5". */
		if (!isdigit((unsigned char)text[1]) || strspn(text + 1, "0123456789.") != len - 1)
			return -EINVAL;
		return parse_span(text + 1, text + len, ret);
	}
	if (text[0] == '-' || text[0] == '+') {
		r = parse_span(text + 1, text + len, &span);
		if (r < 0)
			return r;
		return (text[0] == '-' ? __builtin_sub_overflow(base, span, ret) : __builtin_add_overflow(base, span, ret))
			       ? -ERANGE
			       : 0;
	}
	if (ends_with(text, len, " ago") || ends_with(text, len, " left")) {
		bool ago = ends_with(text, len, " ago");

		r = parse_span(text, text + len - (ago ? 4 : 5), &span);
		if (r < 0)
			return r;
		return (ago ? __builtin_sub_overflow(base, span, ret) : __builtin_add_overflow(base, span, ret)) ? -ERANGE
															: 0;
	}
	r = parse_absolute(text, now, ret);
	if (r != -EINVAL)
		return r;
	/* A bare span with a unit ("7d", "90m"): an age, as `dumps --since` always read it. A bare number is not
	 * one: "2026" is more likely a date cut short than 34 minutes. */
	if (!has_letter(text))
		return -EINVAL;
	r = parse_span(text, text + len, &span);
	if (r < 0)
		return r;
	return __builtin_sub_overflow(base, span, ret) ? -ERANGE : 0;
}

int dg_time_parse(const char *text, time_t now, struct timespec *ret, struct dg_error *err)
{
	int64_t usec = 0;
	int r = parse(text, now, &usec);

	if (r == 0 && (usec < 0 || usec > MAX_USEC))
		r = -ERANGE;
	if (r == -ERANGE)
		return dg_error_set(err, DG_USAGE, "the time '%.200s' is out of range (years 1970 to 9999): give "
				    DG_TIME_FORMS, text);
	if (r < 0)
		return dg_error_set(err, DG_USAGE, "cannot read the time '%.200s': give " DG_TIME_FORMS, text);
	ret->tv_sec = (time_t)(usec / USEC);
	ret->tv_nsec = (long)(usec % USEC) * 1000;
	return 0;
}
