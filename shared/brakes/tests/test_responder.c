/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The responder with a fake clock and fake actions: hits per episode, the record before the action (no record,
 * no action), one report per episode and refusal, asking again each interval while a storm lasts, retry timing.
 * This is the storm policy the watcher and the collectd plugin share, tested once. */
#include <stdio.h>
#include <stdlib.h>
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
	int records, acts, reports[16];
	char last_message[1024];
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
	snprintf(seen.last_message, sizeof(seen.last_message), "%s", message ? message : "");
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

/* ---- the fleet (fleet.h) through a fake etcd shared by several responders: one per monitor ---- */

static struct {
	struct {
		char target[64], holder[64];
		double until;
		int64_t lease;
	} claims[16];
	double slots[16]; /* when each fleet-wide action slot was taken */
	int nslots;
	bool down;        /* no quorum: every call fails */
	uint64_t watched, suspect;
	int claims_asked, unclaims, publishes, sets_watched, sets_suspect;
	int64_t next_lease;
} etcd;

struct fake_monitor {
	char name[32];
};

static int fake_claim(struct dg_fleet *f, const struct dg_fleet_request *req, struct dg_fleet_claim *ret,
		      struct dg_error *err)
{
	const struct fake_monitor *m = (const void *)f;
	int free_slot = -1, used = 0;

	etcd.claims_asked++;
	if (etcd.down)
		return dg_error_set(err, DG_UNAVAILABLE, "no endpoint answered: etcdserver: request timed out");
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->target, sizeof(ret->target), "%s", req->target);
	for (int i = 0; i < 16; i++)
		if (etcd.claims[i].target[0] && etcd.claims[i].until > fake_now &&
		    !strcmp(etcd.claims[i].target, req->target)) {
			ret->verdict = DG_FLEET_CLAIMED;
			snprintf(ret->holder, sizeof(ret->holder), "%s", etcd.claims[i].holder);
			snprintf(ret->reason, sizeof(ret->reason), "%s: claimed by %s at %.0f until %.0f", req->target,
				 etcd.claims[i].holder, etcd.claims[i].until - req->cooldown, etcd.claims[i].until);
			return 0;
		}
	for (int i = 0; i < etcd.nslots; i++)
		used += etcd.slots[i] + req->window > fake_now;
	if (req->max_actions && (unsigned)used >= req->max_actions) {
		ret->verdict = DG_FLEET_RATE;
		snprintf(ret->reason, sizeof(ret->reason), "fleet rate limit: %d actions in the window", used);
		return 0;
	}
	for (int i = 0; i < 16; i++)
		if (!etcd.claims[i].target[0] || etcd.claims[i].until <= fake_now) {
			free_slot = i;
			break;
		}
	if (free_slot < 0)
		return dg_error_set(err, DG_FAILED, "fake etcd full");
	snprintf(etcd.claims[free_slot].target, sizeof(etcd.claims[free_slot].target), "%s", req->target);
	snprintf(etcd.claims[free_slot].holder, sizeof(etcd.claims[free_slot].holder), "%s", m->name);
	etcd.claims[free_slot].until = fake_now + req->cooldown;
	etcd.claims[free_slot].lease = ++etcd.next_lease;
	if (req->max_actions && etcd.nslots < 16)
		etcd.slots[etcd.nslots++] = fake_now;
	ret->verdict = DG_FLEET_WON;
	ret->lease = etcd.claims[free_slot].lease;
	snprintf(ret->holder, sizeof(ret->holder), "%s", m->name);
	snprintf(ret->reason, sizeof(ret->reason), "claimed by %s", m->name);
	return 0;
}

static int fake_unclaim(struct dg_fleet *f, const struct dg_fleet_claim *c, struct dg_error *err)
{
	(void)f;
	(void)err;
	etcd.unclaims++;
	for (int i = 0; i < 16; i++)
		if (etcd.claims[i].lease == c->lease)
			memset(&etcd.claims[i], 0, sizeof(etcd.claims[i]));
	return 0;
}

static int fake_set(struct dg_fleet *f, const char *target, bool watched, bool suspect)
{
	(void)f;
	(void)target;
	etcd.sets_watched += watched;
	etcd.sets_suspect += suspect;
	return 0;
}

static int fake_publish(struct dg_fleet *f, double ttl, struct dg_error *err)
{
	(void)f;
	(void)ttl;
	etcd.publishes++;
	return etcd.down ? dg_error_set(err, DG_UNAVAILABLE, "etcdserver: no leader") : 0;
}

static int fake_counts(struct dg_fleet *f, uint64_t *w, uint64_t *s, struct dg_error *err)
{
	(void)f;
	if (etcd.down)
		return dg_error_set(err, DG_UNAVAILABLE, "etcdserver: no leader");
	*w = etcd.watched;
	*s = etcd.suspect;
	return 0;
}

static const struct dg_responder_fleet_ops fake_fleet = {
	.claim = fake_claim, .unclaim = fake_unclaim, .set = fake_set, .publish = fake_publish, .counts = fake_counts,
};

static struct dg_responder *fleet_responder(struct dg_brakes *b, struct fake_monitor *m)
{
	struct dg_responder_opts o = {
		.brakes = b,
		.interval = 5,
		.ops = { .now = fake_clock, .record = fake_record, .act = fake_act, .report = fake_report },
		.fleet = (struct dg_fleet *)(void *)m,
		.fleet_ops = &fake_fleet,
	};
	struct dg_responder *r = NULL;
	struct dg_error err = { 0 };

	if (dg_responder_new(&o, &r, &err) < 0) {
		printf("Bail out! dg_responder_new: %s\n", err.message);
		exit(1);
	}
	return r;
}

static void reset_etcd(void)
{
	memset(&etcd, 0, sizeof(etcd));
	etcd.watched = 10;
}

/* Two monitors, one hang: one acts, the other is refused with the holder named, reported once, asked again
 * each interval, and acts when the claim has ended (the holder died: its lease ends with the cooldown). */
static void test_fleet_one_winner(void)
{
	struct dg_brakes *ba = brakes(50, 0, false), *bb = brakes(50, 0, false);
	struct fake_monitor ma = { "watch@kvm1" }, mb = { "watch@kvm2" };
	struct dg_responder *ra = fleet_responder(ba, &ma), *rb = fleet_responder(bb, &mb);
	struct dg_episode ea = { 0 }, eb = { 0 };
	struct dg_responder_request req = { .target = "web-1", .fleet_target = "libvirt-uuid:1234",
					    .action = DG_BRAKES_INTERRUPT };
	int asked = 0;

	reset_seen();
	reset_etcd();
	CHECK(dg_responder_fleet_tick(ra, NULL) == 0 && dg_responder_fleet_tick(rb, NULL) == 0, "storm view known");
	dg_responder_hit(ra, &ea, 1, 1, 0, "hung");
	dg_responder_hit(rb, &eb, 1, 1, 0, "hung");
	CHECK(dg_responder_decide(ra, &ea, &req, NULL) == DG_RESPONDER_ACTED, "the first monitor acts");
	CHECK(req.claim.verdict == DG_FLEET_WON && !strcmp(req.claim.holder, "watch@kvm1"), "holding the claim");
	CHECK(!strcmp(etcd.claims[0].target, "libvirt-uuid:1234"), "claimed by the fleet's name of the target");
	req.evidence = NULL;
	CHECK(dg_responder_decide(rb, &eb, &req, NULL) == DG_RESPONDER_CLAIMED, "the second is refused: claimed");
	CHECK(strstr(seen.last_message, "claimed by watch@kvm1 at ") != NULL, "the holder is named: %s",
	      seen.last_message);
	CHECK(!strncmp(req.decision.reason, seen.last_message, 40), "and in the decision's reason");
	CHECK(seen.acts == 1 && seen.records == 1, "one record, one action");
	CHECK(dg_brakes_cooldown_left(bb, "web-1") == 0, "the refused monitor's local GO was taken back");
	for (int round = 0; round < 8; round++) {
		fake_now += 2.5;
		dg_responder_fleet_tick(rb, NULL);
		if (dg_responder_hit(rb, &eb, 1, 1, 0, NULL)) {
			asked++;
			req.evidence = NULL;
			CHECK(dg_responder_decide(rb, &eb, &req, NULL) == DG_RESPONDER_CLAIMED, "still claimed");
		}
	}
	CHECK(asked == 4, "asked again each interval (got %d of 4)", asked);
	CHECK(seen.reports[DG_RESPONDER_CLAIMED] == 1, "reported once per episode (got %d)",
	      seen.reports[DG_RESPONDER_CLAIMED]);
	fake_now += 600; /* the claim's lease (the cooldown) ended */
	dg_responder_fleet_tick(rb, NULL);
	CHECK(dg_responder_hit(rb, &eb, 1, 1, 0, NULL), "due again");
	req.evidence = NULL;
	CHECK(dg_responder_decide(rb, &eb, &req, NULL) == DG_RESPONDER_ACTED, "the claim ended: the other acts");
	CHECK(seen.acts == 2, "two actions a cooldown apart");
	dg_responder_free(ra);
	dg_responder_free(rb);
	dg_brakes_free(ba);
	dg_brakes_free(bb);
}

/* No quorum: no automatic action, said once, nothing started locally; acts when the fleet answers again. */
static void test_fleet_unavailable(void)
{
	struct dg_brakes *b = brakes(50, 2, false);
	struct fake_monitor m = { "collectd@mon1" };
	struct dg_responder *r = fleet_responder(b, &m);
	struct dg_episode e = { 0 };
	struct dg_responder_request req = { .target = "aws:eu-west-1/i-1", .action = DG_BRAKES_INTERRUPT };
	struct dg_error err = { 0 };

	reset_seen();
	reset_etcd();
	dg_responder_hit(r, &e, 1, 1, 0, "hung");
	CHECK(dg_responder_decide(r, &e, &req, NULL) == DG_RESPONDER_NO_FLEET, "never ticked: storm view unknown");
	CHECK(strstr(seen.last_message, "not known") != NULL, "says why: %s", seen.last_message);
	CHECK(etcd.claims_asked == 0, "no claim without a storm view");
	etcd.down = true;
	CHECK(dg_responder_fleet_tick(r, &err) == -DG_UNAVAILABLE, "tick: no quorum");
	CHECK(strstr(err.message, "could not be consulted") != NULL, "the tick says why: %s", err.message);
	for (int i = 0; i < 3; i++) {
		fake_now += 5;
		dg_responder_fleet_tick(r, NULL);
		CHECK(dg_responder_due(r, &e, 1), "asked again each interval");
		req.evidence = NULL;
		CHECK(dg_responder_decide(r, &e, &req, NULL) == DG_RESPONDER_NO_FLEET, "no quorum: no action");
	}
	CHECK(seen.reports[DG_RESPONDER_NO_FLEET] == 1, "said once per episode (got %d)",
	      seen.reports[DG_RESPONDER_NO_FLEET]);
	CHECK(strstr(seen.last_message, "no leader") || strstr(seen.last_message, "not known"),
	      "the message says why: %s", seen.last_message);
	CHECK(seen.acts == 0 && seen.records == 0, "nothing recorded, nothing done");
	CHECK(dg_brakes_cooldown_left(b, "aws:eu-west-1/i-1") == 0, "no local cooldown for it");

	/* The tick succeeds but the claim itself cannot be made (quorum lost in between). */
	etcd.down = false;
	fake_now += 5;
	dg_responder_fleet_tick(r, NULL);
	etcd.down = true;
	dg_responder_alive(r, &e, 1);
	dg_responder_hit(r, &e, 1, 1, 0, "hung again");
	req.evidence = NULL;
	CHECK(dg_responder_decide(r, &e, &req, NULL) == DG_RESPONDER_NO_FLEET, "the claim failed: no action");
	CHECK(strstr(seen.last_message, "could not be consulted") && strstr(seen.last_message, "timed out"),
	      "the claim's error is said: %s", seen.last_message);

	etcd.down = false;
	fake_now += 5;
	dg_responder_fleet_tick(r, NULL);
	req.evidence = NULL;
	CHECK(dg_responder_decide(r, &e, &req, NULL) == DG_RESPONDER_ACTED, "quorum back: acted");
	CHECK(seen.acts == 1, "once");

	/* The fleet thread stopped refreshing: a view older than a few intervals is unknown again. */
	fake_now += 3 * 5 + 61;
	dg_responder_hit(r, &e, 1, 1, 0, "x");
	req.target = "aws:eu-west-1/i-2";
	CHECK(dg_responder_decide(r, NULL, &req, NULL) == DG_RESPONDER_NO_FLEET, "a stale view: no action");
	dg_responder_free(r);
	dg_brakes_free(b);
}

static void test_fleet_storm_and_rate(void)
{
	struct dg_brakes *b = brakes(50, 1, false);
	struct fake_monitor m = { "watch@kvm3" }, other = { "watch@kvm4" };
	struct dg_responder *r = fleet_responder(b, &m);
	struct dg_brakes *b2 = brakes(50, 1, false);
	struct dg_responder *r2 = fleet_responder(b2, &other);
	struct dg_episode e = { 0 }, f = { 0 };
	struct dg_responder_request req = { .target = "vm-1", .action = DG_BRAKES_INTERRUPT };

	reset_seen();
	reset_etcd();
	etcd.watched = 10;
	etcd.suspect = 6;
	dg_responder_fleet_set(r, "vm-1", true, false);
	dg_responder_fleet_set(r, "vm-2", true, true);
	CHECK(etcd.sets_watched == 0, "a set waits for the tick (a detector's callback never waits for etcd)");
	dg_responder_fleet_tick(r, NULL);
	CHECK(etcd.sets_watched == 2 && etcd.sets_suspect == 1 && etcd.publishes == 1, "then it is published");
	dg_responder_hit(r, &e, 1, 1, 0, "hung");
	CHECK(dg_responder_decide(r, &e, &req, NULL) == DG_RESPONDER_STORM, "6 of 10 across the fleet: storm");
	CHECK(strstr(seen.last_message, "6 of 10") != NULL, "says the fleet's counts: %s", seen.last_message);
	CHECK(etcd.claims_asked == 0 && seen.acts == 0, "no claim, no action");
	etcd.suspect = 5;
	fake_now += 5;
	dg_responder_fleet_tick(r, NULL);
	req.evidence = NULL;
	CHECK(dg_responder_decide(r, &e, &req, NULL) == DG_RESPONDER_ACTED, "5 of 10 is not more than 50%%: acted");

	/* MaxActions 1 fleet-wide: another monitor, another target, inside the window: rate. */
	dg_responder_fleet_tick(r2, NULL);
	dg_responder_hit(r2, &f, 1, 1, 0, "hung");
	req.target = "vm-2";
	req.evidence = NULL;
	CHECK(dg_responder_decide(r2, &f, &req, NULL) == DG_RESPONDER_RATE, "the fleet's one action is taken: rate");
	CHECK(strstr(req.decision.reason, "fleet rate") != NULL, "the reason says so: %s", req.decision.reason);

	/* A capture after a panic: no storm brake (as locally), but a claim. */
	etcd.suspect = 9;
	fake_now += 3601;
	dg_responder_fleet_tick(r2, NULL);
	struct dg_responder_request cap = { .target = "vm-1", .action = DG_BRAKES_CAPTURE, .captures = true };
	CHECK(dg_responder_decide(r2, NULL, &cap, NULL) == DG_RESPONDER_ACTED, "a capture passes a storm");
	cap.evidence = NULL;
	CHECK(dg_responder_decide(r, NULL, &cap, NULL) == DG_RESPONDER_CLAIMED, "but one monitor captures");
	CHECK(dg_brakes_captures_in_flight(b) == 0, "the refused capture's slot is given back");
	dg_responder_free(r);
	dg_responder_free(r2);
	dg_brakes_free(b);
	dg_brakes_free(b2);
}

/* A won claim whose action certainly did not happen is given back: the record failed, or the caller says so. */
static void test_fleet_unclaim(void)
{
	struct dg_brakes *b = brakes(100, 0, false);
	struct fake_monitor m = { "collectd@mon2" };
	struct dg_responder *r = fleet_responder(b, &m);
	struct dg_episode e = { 0 };
	struct dg_responder_request req = { .target = "vm-7", .action = DG_BRAKES_INTERRUPT };

	reset_seen();
	reset_etcd();
	dg_responder_fleet_tick(r, NULL);
	seen.record_fails = true;
	dg_responder_hit(r, &e, 1, 1, 0, "hung");
	CHECK(dg_responder_decide(r, &e, &req, NULL) == DG_RESPONDER_UNRECORDED, "no record");
	CHECK(etcd.unclaims == 1 && !etcd.claims[0].target[0], "no record: the claim is given back");
	seen.record_fails = false;
	fake_now += 600;
	dg_responder_fleet_tick(r, NULL);
	req.evidence = NULL;
	req.target = "vm-8";
	CHECK(dg_responder_decide(r, NULL, &req, NULL) == DG_RESPONDER_ACTED, "acted");
	dg_responder_unclaim(r, &req);
	CHECK(etcd.unclaims == 2 && !etcd.claims[0].target[0], "the provider said no such instance: given back");
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
	test_fleet_one_winner();
	test_fleet_unavailable();
	test_fleet_storm_and_rate();
	test_fleet_unclaim();
	return tap_done();
}
