/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The responder with a fake clock and fake actions: hits per episode, the record before the action (no record,
 * no action), one report per episode and refusal, asking again each interval while a storm lasts, retry timing.
 * This is the storm policy the watcher and the collectd plugin share, tested once. */
#include <stdio.h>
#include <string.h>

#include "diagint/brakes.h"
#include "diagint/responder.h"
#include "tap.h"

static double fake_now = 1000000; /* one clock for the brakes (wall) and the responder (monotonic) */

static double fake_clock(void *ud)
{
	(void)ud;
	return fake_now;
}

/* What the fake callbacks saw, in order: "R:name" record, "A:name" act, "P:name:outcome" report. */
static struct {
	char log[4096];
	int records, acts, reports[8];
	bool record_fails;
	int act_result;
} seen;

static void note(const char *fmt, const char *a, const char *b)
{
	size_t n = strlen(seen.log);
	snprintf(seen.log + n, sizeof(seen.log) - n, fmt, a, b);
}

static int fake_record(void *ud, const struct dg_responder_request *req, struct dg_error *err)
{
	(void)ud;
	seen.records++;
	if (seen.record_fails)
		return dg_error_set(err, DG_FAILED, "cannot write the audit record: No space left on device");
	note("R:%s%s ", req->target, "");
	return 0;
}

static int fake_act(void *ud, const struct dg_responder_request *req, struct dg_error *err)
{
	(void)ud;
	seen.acts++;
	note("A:%s%s ", req->target, "");
	return seen.act_result < 0 ? dg_error_set(err, DG_FAILED, "the provider said no") : 0;
}

static void fake_report(void *ud, const struct dg_responder_request *req, enum dg_responder_outcome o,
			const char *message)
{
	(void)ud;
	(void)message;
	seen.reports[o]++;
	note("P:%s:%s ", req->target, dg_responder_outcome_name(o));
}

static void reset_seen(void)
{
	memset(&seen, 0, sizeof(seen));
}

static struct dg_brakes *brakes(double storm_percent, unsigned max_actions, bool dry_run)
{
	struct dg_brakes_policy p;
	struct dg_brakes *b = NULL;
	struct dg_error err = { 0 };

	dg_brakes_policy_default(&p);
	p.cooldown = 600;
	p.max_actions = max_actions;
	p.window = 3600;
	p.storm_percent = storm_percent;
	p.storm_min_targets = 3;
	p.max_captures = 1;
	p.dry_run = dry_run;
	if (dg_brakes_new(&p, NULL, fake_clock, NULL, &b, NULL, &err) < 0) {
		printf("Bail out! dg_brakes_new: %s\n", err.message);
		exit(1);
	}
	dg_brakes_set_watched(b, 4);
	return b;
}

static struct dg_responder *responder(struct dg_brakes *b)
{
	struct dg_responder_opts o = {
		.brakes = b,
		.interval = 5,
		.ops = { .now = fake_clock, .record = fake_record, .act = fake_act, .report = fake_report },
	};
	struct dg_responder *r = NULL;
	struct dg_error err = { 0 };

	if (dg_responder_new(&o, &r, &err) < 0) {
		printf("Bail out! dg_responder_new: %s\n", err.message);
		exit(1);
	}
	return r;
}

static enum dg_responder_outcome decide(struct dg_responder *r, struct dg_episode *e, const char *target)
{
	struct dg_responder_request req = { .target = target, .action = DG_BRAKES_INTERRUPT };

	return dg_responder_decide(r, e, &req, NULL);
}

static void test_hits_per_episode(void)
{
	struct dg_brakes *b = brakes(100, 0, false);
	struct dg_responder *r = responder(b);
	struct dg_episode e = { 0 };

	reset_seen();
	CHECK(!dg_responder_hit(r, &e, 1, 3, 0, "values stopped"), "one hit of three: not due");
	CHECK(e.active && e.hits == 1 && !strcmp(e.evidence, "values stopped"), "the first hit starts the episode");
	CHECK(!dg_responder_hit(r, &e, 2, 3, 0, "ping lost"), "another detector's hit: not due");
	CHECK(e.hits == 1 && !strcmp(e.evidence, "values stopped"), "and it does not count in this episode");
	CHECK(!dg_responder_hit(r, &e, 1, 3, 0, NULL), "two hits: not due");
	CHECK(dg_responder_hit(r, &e, 1, 3, 0, NULL), "three hits: due");
	CHECK(!dg_responder_alive(r, &e, 2), "another detector's recovery does not end the episode");
	CHECK(e.active, "still running");
	CHECK(!dg_responder_alive(r, &e, 1), "alive before any decision: nothing to say");
	CHECK(!e.active && e.hits == 0, "the episode ended");
	CHECK(dg_responder_hit(r, &e, 1, 3, 3, "3 misses"), "a detector's own count (3 misses) is due at once");
	dg_responder_count(r, &e, 7);
	CHECK(e.hits == 7, "a silence that lasts raises the count");
	CHECK(seen.records == 0 && seen.acts == 0, "counting never acts");
	dg_responder_free(r);
	dg_brakes_free(b);
}

static void test_record_before_act(void)
{
	struct dg_brakes *b = brakes(100, 0, false);
	struct dg_responder *r = responder(b);
	struct dg_episode e = { 0 };

	reset_seen();
	dg_responder_hit(r, &e, 1, 1, 0, "hung");
	CHECK(decide(r, &e, "web-1") == DG_RESPONDER_ACTED, "every brake passed: acted");
	CHECK_STR(seen.log, "R:web-1 A:web-1 ", "the record is written before the action");
	CHECK(!dg_responder_due(r, &e, 1), "an acted-on episode is settled");
	fake_now += 3600;
	CHECK(!dg_responder_hit(r, &e, 1, 1, 0, NULL), "still settled an hour later while the hang lasts");
	CHECK(dg_responder_alive(r, &e, 1), "alive again after an action: worth saying");
	dg_responder_free(r);
	dg_brakes_free(b);
}

static void test_no_record_no_action(void)
{
	struct dg_brakes *b = brakes(100, 0, false);
	struct dg_responder *r = responder(b);
	struct dg_responder_request req = { .target = "vm-1", .action = DG_BRAKES_INTERRUPT, .captures = true };
	struct dg_episode e = { 0 };

	reset_seen();
	seen.record_fails = true;
	dg_responder_hit(r, &e, 1, 1, 0, "hung");
	CHECK(dg_responder_decide(r, &e, &req, NULL) == DG_RESPONDER_UNRECORDED, "the record failed: unrecorded");
	CHECK(seen.records == 1 && seen.acts == 0, "no record, no action");
	CHECK(seen.reports[DG_RESPONDER_UNRECORDED] == 1, "and it is said");
	CHECK(dg_brakes_captures_in_flight(b) == 0, "the capture slot is given back");
	CHECK(!dg_responder_due(r, &e, 1), "not asked again within the interval");
	fake_now += 5;
	CHECK(dg_responder_due(r, &e, 1), "asked again after the interval: the disk may have room again");
	req.evidence = NULL;
	CHECK(dg_responder_decide(r, &e, &req, NULL) != DG_RESPONDER_ACTED, "still no record: still nothing");
	CHECK(seen.acts == 0 && seen.reports[DG_RESPONDER_UNRECORDED] == 1, "said once per episode");
	dg_responder_free(r);
	dg_brakes_free(b);
}

/* The storm: 3 of 4 watched targets look hung (over 50%). Each is asked about every interval while it lasts,
 * refused each time, reported once; when the storm passes, the one still hung is acted on. */
static void test_storm_policy(void)
{
	struct dg_brakes *b = brakes(50, 0, false);
	struct dg_responder *r = responder(b);
	struct dg_episode e[3] = { { 0 } };
	const char *names[3] = { "st-1", "st-2", "st-3" };
	int asked = 0;

	reset_seen();
	for (int i = 0; i < 3; i++) {
		dg_brakes_set_suspect(b, names[i], true);
		dg_responder_hit(r, &e[i], 1, 2, 0, "hung");
	}
	for (int round = 0; round < 6; round++) {
		for (int i = 0; i < 3; i++)
			if (dg_responder_hit(r, &e[i], 1, 2, 0, NULL)) {
				asked++;
				CHECK(decide(r, &e[i], names[i]) == DG_RESPONDER_STORM, "round %d %s: storm", round,
				      names[i]);
			}
		fake_now += 2.5; /* half an interval */
	}
	CHECK(asked == 9, "asked again each interval while the storm lasts (got %d of 9)", asked);
	CHECK(seen.reports[DG_RESPONDER_STORM] == 3, "the refusal is reported once per episode (got %d)",
	      seen.reports[DG_RESPONDER_STORM]);
	CHECK(seen.acts == 0 && seen.records == 0, "nothing recorded as done, nothing done");

	/* Two come back: the storm is over; the third, still hung, is acted on at its next ask. */
	dg_brakes_set_suspect(b, "st-1", false);
	dg_brakes_set_suspect(b, "st-2", false);
	CHECK(dg_responder_alive(r, &e[0], 1), "st-1 alive again after a refusal: worth saying");
	dg_responder_alive(r, &e[1], 1);
	fake_now += 5;
	CHECK(dg_responder_hit(r, &e[2], 1, 2, 0, NULL), "st-3 still hung: due");
	CHECK(decide(r, &e[2], "st-3") == DG_RESPONDER_ACTED, "the storm passed: acted");
	CHECK(seen.acts == 1 && seen.records == 1, "one record, one action");
	dg_responder_free(r);
	dg_brakes_free(b);
}

static void test_cooldown_and_retry_timing(void)
{
	struct dg_brakes *b = brakes(100, 0, false);
	struct dg_responder *r = responder(b);
	struct dg_episode e = { 0 }, f = { 0 };

	reset_seen();
	dg_responder_hit(r, &e, 1, 1, 0, "hung");
	CHECK(decide(r, &e, "vm-1") == DG_RESPONDER_ACTED, "first: acted");
	dg_responder_alive(r, &e, 1);

	/* vm-1 hangs again inside its cooldown (600 s): refused, said once, asked again when the cooldown ends. */
	fake_now += 10;
	dg_responder_hit(r, &e, 1, 1, 0, "hung again");
	CHECK(decide(r, &e, "vm-1") == DG_RESPONDER_COOLDOWN, "inside its cooldown: refused");
	fake_now += 5;
	CHECK(dg_responder_hit(r, &e, 1, 1, 0, NULL) == false, "the cooldown sets the retry, not the interval");
	CHECK(decide(r, &e, "vm-1") == DG_RESPONDER_COOLDOWN, "asked anyway (a detector may insist): refused");
	CHECK(seen.reports[DG_RESPONDER_COOLDOWN] == 1, "and said once");
	fake_now += 600;
	CHECK(dg_responder_due(r, &e, 1), "asked again when the cooldown has ended");
	CHECK(decide(r, &e, "vm-1") == DG_RESPONDER_ACTED, "then acted");
	dg_responder_free(r);
	dg_brakes_free(b);

	/* MaxActions 1 per hour: another target is refused by the rate brake for about an hour. */
	b = brakes(100, 1, false);
	r = responder(b);
	reset_seen();
	memset(&e, 0, sizeof(e));
	dg_responder_hit(r, &e, 1, 1, 0, "hung");
	CHECK(decide(r, &e, "vm-1") == DG_RESPONDER_ACTED, "the hour's one action");
	dg_responder_hit(r, &f, 1, 1, 0, "hung");
	CHECK(decide(r, &f, "vm-2") == DG_RESPONDER_RATE, "second target: rate");
	fake_now += 5;
	CHECK(!dg_responder_due(r, &f, 1), "not asked again before the rate brake may let go");
	fake_now += 3600;
	CHECK(dg_responder_due(r, &f, 1), "asked again once the window has passed");
	CHECK(decide(r, &f, "vm-2") == DG_RESPONDER_ACTED, "then acted");
	CHECK(seen.reports[DG_RESPONDER_RATE] == 1 && seen.acts == 2, "the refusal said once, two actions");
	dg_responder_free(r);
	dg_brakes_free(b);
}

static void test_dry_run_and_one_off(void)
{
	struct dg_brakes *b = brakes(100, 0, true);
	struct dg_responder *r = responder(b);
	struct dg_responder_request req = { .target = "vm-9", .action = DG_BRAKES_CAPTURE };
	struct dg_episode e = { 0 };

	reset_seen();
	dg_responder_hit(r, &e, 1, 1, 0, "hung");
	CHECK(decide(r, &e, "vm-1") == DG_RESPONDER_DRY_RUN, "DryRun: would act");
	CHECK(seen.reports[DG_RESPONDER_DRY_RUN] == 1 && seen.acts == 0 && seen.records == 0, "said, nothing done");
	fake_now += 60;
	CHECK(!dg_responder_hit(r, &e, 1, 1, 0, NULL), "a dry run settles the episode");

	/* A one-off (the capture after a panic): reported every time. */
	dg_responder_decide(r, NULL, &req, NULL);
	fake_now += 1;
	dg_responder_decide(r, NULL, &req, NULL);
	CHECK(seen.reports[DG_RESPONDER_DRY_RUN] + seen.reports[DG_RESPONDER_COOLDOWN] == 3,
	      "one-off decisions are each reported");
	dg_responder_free(r);
	dg_brakes_free(b);
}

int main(void)
{
	test_hits_per_episode();
	test_record_before_act();
	test_no_record_no_action();
	test_storm_policy();
	test_cooldown_and_retry_timing();
	test_dry_run_and_one_off();
	return tap_done();
}
