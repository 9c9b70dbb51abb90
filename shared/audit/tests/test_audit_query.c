/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading the log back: each filter alone and combined (raw-byte prefilter and exact check must agree),
 * a record by seq, the time grammar, the report's counts. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "diagint/audit.h"
#include "diagint/audit_query.h"
#include "tap.h"

static char scratch[] = "/tmp/dg-test-audit-query-XXXXXX";
static char path[256];

#define T0 1795341600 /* 2026-11-22T10:00:00Z */

static void setup(void)
{
	static const char *const users[] = { "alice", "bob", "carol\"quote" };
	static const char *const targets[] = { "libvirt:web-1", "libvirt:web-2", "aws:eu-west-1/i-0abc",
					       "libvirt:db-1" };
	struct dg_audit_log *log = NULL;
	struct dg_audit_event ev;
	struct dg_error err = { 0 };

	snprintf(path, sizeof(path), "%s/q.jsonl", scratch);
	dg_audit_log_open(path, NULL, 0, DG_AUDIT_NO_SYSLOG | DG_AUDIT_NO_KAUDIT | DG_AUDIT_NO_FSYNC, &log, &err);
	/* 60 records, one an hour over 2.5 days: user i%3, target i%4, denied every 5th. */
	for (int i = 0; i < 60; i++) {
		dg_audit_event_init(&ev, "cli", i % 2 ? "inject" : "authorize");
		ev.time.tv_sec = T0 + i * 3600;
		ev.time.tv_nsec = 0;
		snprintf(ev.actor.user, sizeof(ev.actor.user), "%s", users[i % 3]);
		if (i == 7)
			snprintf(ev.actor.ruser, sizeof(ev.actor.ruser), "alice"); /* bob acting through alice's sudo */
		snprintf(ev.target, sizeof(ev.target), "%s", targets[i % 4]);
		ev.result = i % 5 == 0 ? DG_AUDIT_DENIED : DG_AUDIT_OK;
		/* The text "alice" in free text must not make a record hers. */
		snprintf(ev.reason, sizeof(ev.reason), "asked by alice for %s", users[i % 3]);
		dg_audit_append(log, &ev, NULL, &err);
	}
	dg_audit_log_free(log);
}

static long long count(const struct dg_audit_filter *f)
{
	struct dg_error err = { 0 };
	long long n = dg_audit_query(path, f, NULL, NULL, &err);

	if (n < 0)
		printf("# query: %s\n", err.message);
	return n;
}

static int first_seq;
static int remember(void *ud, const char *line, size_t len, json_object *rec)
{
	json_object *s;

	(void)ud;
	(void)line;
	(void)len;
	if (json_object_object_get_ex(rec, "seq", &s))
		first_seq = json_object_get_int(s);
	return 1;
}

static void test_filters(void)
{
	struct dg_audit_filter f = { 0 };
	char since[64], until[64];
	struct dg_error err = { 0 };

	CHECK(count(&f) == 60, "no filter: all 60");
	f.user = "alice";
	CHECK(count(&f) == 21, "--user alice: her 20, plus the one where she is the sudo user (ruser)");
	f.user = "carol\"quote";
	CHECK(count(&f) == 20, "a user name with a quote in it");
	f.user = "al";
	CHECK(count(&f) == 0, "a prefix of a name is not the name");
	f.user = NULL;
	f.target = "libvirt:web-*";
	CHECK(count(&f) == 30, "--target 'libvirt:web-*': 30");
	f.target = "*:db-1";
	CHECK(count(&f) == 15, "a pattern starting with a wildcard: 15");
	f.target = "aws:eu-west-1/i-0abc";
	CHECK(count(&f) == 15, "an exact target");
	f.target = NULL;
	f.result = "denied";
	CHECK(count(&f) == 12, "--result denied: 12");
	f.user = "bob";
	CHECK(count(&f) == 4, "--user bob --result denied: 4");
	f.user = NULL;
	f.result = NULL;
	f.action = "inject";
	CHECK(count(&f) == 30, "--action inject: 30");
	f.action = NULL;
	dg_audit_parse_time("2026-11-23T00:00:00Z", 0, since, sizeof(since), &err);
	dg_audit_parse_time("2026-11-23T12:00:00Z", 0, until, sizeof(until), &err);
	f.since = since;
	f.until = until;
	CHECK(count(&f) == 12, "--since/--until: the 12 hours 00:00..11:00 of Nov 23 (until is exclusive)");
	f.since = f.until = NULL;
	f.seq = 17;
	first_seq = 0;
	CHECK(dg_audit_query(path, &f, remember, NULL, &err) == 1 && first_seq == 17, "a record by seq");
	f.seq = 0;
	first_seq = 0;
	CHECK(dg_audit_query(path, &f, remember, NULL, &err) == 1 && first_seq == 1, "a visitor can stop early");
	snprintf(since, sizeof(since), "%s/none.jsonl", scratch);
	CHECK(dg_audit_query(since, &f, NULL, NULL, &err) == -DG_NOTFOUND && strstr(err.message, "--audit-log"),
	      "a missing log: not found, and how to name another");
}

static void test_times(void)
{
	struct dg_error err = { 0 };
	char out[64];

	setenv("TZ", "UTC", 1);
	tzset();
	CHECK(dg_audit_parse_time("2026-11-22", 0, out, sizeof(out), &err) == 0, "a date");
	CHECK_STR(out, "2026-11-22T00:00:00.000000000Z", "is its midnight");
	dg_audit_parse_time("2026-11-22 10:30", 0, out, sizeof(out), &err);
	CHECK_STR(out, "2026-11-22T10:30:00.000000000Z", "date and minutes");
	dg_audit_parse_time("-2h", T0, out, sizeof(out), &err);
	CHECK_STR(out, "2026-11-22T08:00:00.000000000Z", "-2h before now");
	dg_audit_parse_time("yesterday", T0 + 5, out, sizeof(out), &err);
	CHECK_STR(out, "2026-11-21T00:00:00.000000000Z", "yesterday");
	setenv("TZ", "CET-1", 1);
	tzset();
	dg_audit_parse_time("2026-11-22T10:00:00", 0, out, sizeof(out), &err);
	CHECK_STR(out, "2026-11-22T09:00:00.000000000Z", "a time without Z is local time");
	dg_audit_parse_time("2026-11-22T10:00:00Z", 0, out, sizeof(out), &err);
	CHECK_STR(out, "2026-11-22T10:00:00.000000000Z", "with Z it is UTC");
	CHECK(dg_audit_parse_time("last tuesday", 0, out, sizeof(out), &err) == -DG_USAGE &&
	      strstr(err.message, "-2h"), "an unknown time is a usage error listing the forms");
	CHECK(dg_audit_parse_time("-5x", 0, out, sizeof(out), &err) == -DG_USAGE, "-5x is refused");
	setenv("TZ", "UTC", 1);
	tzset();
}

static long long num(json_object *o, const char *map, const char *key)
{
	json_object *m, *v;

	if (!json_object_object_get_ex(o, map, &m) || !json_object_object_get_ex(m, key, &v))
		return -1;
	return json_object_get_int64(v);
}

static void test_report(void)
{
	struct dg_audit_filter f = { 0 };
	struct dg_error err = { 0 };
	json_object *o = NULL, *r;

	CHECK(dg_audit_report(path, &f, &o, &err) == 0 && json_object_object_get_ex(o, "records", &r) &&
	      json_object_get_int(r) == 60, "report counts 60 records");
	CHECK(num(o, "by_user", "alice") == 20 && num(o, "by_user", "bob") == 20, "by user");
	CHECK(num(o, "by_target", "libvirt:db-1") == 15, "by target");
	CHECK(num(o, "by_provider", "libvirt") == 45 && num(o, "by_provider", "aws") == 15, "by provider");
	CHECK(num(o, "by_result", "denied") == 12 && num(o, "by_result", "ok") == 48, "by result");
	CHECK(num(o, "by_day", "2026-11-22") == 14 && num(o, "by_day", "2026-11-23") == 24 &&
	      num(o, "by_day", "2026-11-24") == 22, "by day (UTC)");
	CHECK(num(o, "by_action", "inject") == 30, "by action");
	json_object_put(o);
	f.result = "denied";
	CHECK(dg_audit_report(path, &f, &o, &err) == 0 && num(o, "by_result", "ok") == -1 &&
	      num(o, "by_result", "denied") == 12, "a filtered report");
	json_object_put(o);
}

int main(void)
{
	if (!mkdtemp(scratch))
		SKIP_ALL("cannot create a scratch directory in /tmp: %s", strerror(errno));
	setenv("TZ", "UTC", 1);
	setup();
	test_filters();
	test_times();
	test_report();
	{
		char cmd[512];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", scratch);
		(void)!system(cmd);
	}
	return tap_done();
}
