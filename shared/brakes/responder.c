/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The responder (responder.h): hits per episode, the brakes, the record before the action, the action, one
 * report per episode and kind of refusal, and when to ask again. The policy for storms is the one both detectors
 * share: a refused hang is asked about again each interval while it lasts, because a storm (or a rate limit, or a
 * full audit log) may pass while the guest stays hung; saying so once per episode keeps a storm over many guests
 * from flooding the log and the audit trail. The fleet (fleet.h) is asked after the local brakes and before the
 * record; every way it can say no is a refusal like the local ones, and the local GO is taken back then. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagint/clock.h"
#include "diagint/responder.h"

/* The fleet's storm view as the last tick left it. */
enum fleet_view { VIEW_UNKNOWN, VIEW_CALM, VIEW_STORM };

struct dg_responder {
	struct dg_responder_opts o;
	struct dg_responder_fleet_ops fops;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* the fleet thread's: stop */
	pthread_t thread;
	bool thread_running, stop;
	enum fleet_view view;
	double view_at;      /* responder clock */
	char view_msg[DG_ERROR_MSG_MAX];
	/* dg_responder_fleet_set's changes since the last tick, in order: the fleet's own mutex is held for a
	 * whole publish, and a detector's callback must never wait for etcd. */
	struct pending {
		char *target;
		bool watched, suspect;
	} *pend;
	size_t npend, cap;
};

int dg_responder_new(const struct dg_responder_opts *o, struct dg_responder **ret, struct dg_error *err)
{
	struct dg_responder *r;

	if (!o->brakes || !o->ops.record || !o->ops.act)
		return dg_error_set(err, DG_USAGE, "the responder needs brakes, a record and an action");
	r = calloc(1, sizeof(*r));
	if (!r)
		return dg_error_set(err, DG_FAILED, "out of memory");
	r->o = *o;
	r->o.fleet_ops = NULL; /* copied below: the caller's table need not outlive this call */
	if (o->fleet_ops)
		r->fops = *o->fleet_ops;
	if (!r->fops.claim)
		r->fops.claim = dg_fleet_claim;
	if (!r->fops.unclaim)
		r->fops.unclaim = dg_fleet_unclaim;
	if (!r->fops.set)
		r->fops.set = dg_fleet_set;
	if (!r->fops.publish)
		r->fops.publish = dg_fleet_publish;
	if (!r->fops.counts)
		r->fops.counts = dg_fleet_counts;
	snprintf(r->view_msg, sizeof(r->view_msg), "the fleet's storm view is not known yet");
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->wake, NULL);
	*ret = r;
	return 0;
}

void dg_responder_free(struct dg_responder *r)
{
	if (!r)
		return;
	if (r->thread_running) {
		pthread_mutex_lock(&r->lock);
		r->stop = true;
		pthread_cond_signal(&r->wake);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->thread, NULL);
	}
	for (size_t i = 0; i < r->npend; i++)
		free(r->pend[i].target);
	free(r->pend);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void dg_responder_set_interval(struct dg_responder *r, double interval)
{
	pthread_mutex_lock(&r->lock);
	r->o.interval = interval;
	pthread_mutex_unlock(&r->lock);
}

static double now_of(const struct dg_responder *r)
{
	return r->o.ops.now ? r->o.ops.now(r->o.userdata) : dg_clock_mono();
}

static bool due_locked(const struct dg_episode *e, unsigned need, double now)
{
	return e->active && !e->settled && e->hits >= need && now >= e->not_before;
}

bool dg_responder_hit(struct dg_responder *r, struct dg_episode *e, unsigned source, unsigned need,
		      unsigned at_least, const char *evidence)
{
	double now = now_of(r);
	bool due = false;

	pthread_mutex_lock(&r->lock);
	if (!e->active) {
		unsigned gen = e->gen + 1;
		memset(e, 0, sizeof(*e));
		e->gen = gen;
		e->active = true;
		e->source = source;
		e->since = now;
		snprintf(e->evidence, sizeof(e->evidence), "%s", evidence ? evidence : "");
	}
	if (e->source == source) {
		if (!at_least)
			e->hits++;
		else if (at_least > e->hits)
			e->hits = at_least;
		due = due_locked(e, need, now);
	}
	pthread_mutex_unlock(&r->lock);
	return due;
}

bool dg_responder_due(struct dg_responder *r, struct dg_episode *e, unsigned need)
{
	double now = now_of(r);
	bool due;

	pthread_mutex_lock(&r->lock);
	due = due_locked(e, need, now);
	pthread_mutex_unlock(&r->lock);
	return due;
}

void dg_responder_count(struct dg_responder *r, struct dg_episode *e, unsigned at_least)
{
	pthread_mutex_lock(&r->lock);
	if (e->active && at_least > e->hits)
		e->hits = at_least;
	pthread_mutex_unlock(&r->lock);
}

bool dg_responder_alive(struct dg_responder *r, struct dg_episode *e, unsigned source)
{
	bool had = false;

	pthread_mutex_lock(&r->lock);
	if (e->active && e->source == source) {
		had = e->settled || e->reported;
		e->active = e->settled = false;
		e->hits = e->reported = 0;
		e->not_before = 0;
	}
	pthread_mutex_unlock(&r->lock);
	return had;
}

static enum dg_responder_outcome refusal(enum dg_brakes_verdict v)
{
	switch (v) {
	case DG_BRAKES_COOLDOWN:
		return DG_RESPONDER_COOLDOWN;
	case DG_BRAKES_RATE:
		return DG_RESPONDER_RATE;
	case DG_BRAKES_STORM:
		return DG_RESPONDER_STORM;
	default:
		return DG_RESPONDER_BUSY;
	}
}

/* A view older than this was not refreshed by the fleet thread (stuck, or never started): unknown. */
static double view_max_age(const struct dg_responder *r)
{
	return 3 * r->o.interval + 60;
}

/* The fleet's brakes, after a local GO: the fleet-wide storm (interrupts only, as the local storm brake), then
 * the claim. ACTED here means "the fleet says go" (req->claim WON). */
static enum dg_responder_outcome ask_fleet(struct dg_responder *r, struct dg_responder_request *req,
					   struct dg_error *err)
{
	struct dg_fleet_request fr = { 0 };
	struct dg_brakes_policy p;
	struct dg_error e = { 0 };
	enum fleet_view view;
	double now = now_of(r);

	if (req->action == DG_BRAKES_INTERRUPT) {
		pthread_mutex_lock(&r->lock);
		view = now - r->view_at > view_max_age(r) ? VIEW_UNKNOWN : r->view;
		if (view == VIEW_UNKNOWN && r->view != VIEW_UNKNOWN)
			snprintf(r->view_msg, sizeof(r->view_msg), "the fleet's storm view was not refreshed for "
				 "%.0f s", now - r->view_at);
		if (view != VIEW_CALM)
			dg_error_set(err, DG_UNAVAILABLE, "%s%s", r->view_msg,
				     view == VIEW_UNKNOWN ? ": no automatic interrupt until the fleet answers" : "");
		pthread_mutex_unlock(&r->lock);
		if (view == VIEW_STORM)
			return DG_RESPONDER_STORM;
		if (view == VIEW_UNKNOWN)
			return DG_RESPONDER_NO_FLEET;
	}
	dg_brakes_get_policy(r->o.brakes, req->target, &p);
	fr.target = req->fleet_target ? req->fleet_target : req->target;
	fr.action = req->action == DG_BRAKES_INTERRUPT ? "interrupt" : "capture";
	/* No cooldown still needs a lease: a minute keeps two monitors from acting on one hang at once. */
	fr.cooldown = p.cooldown >= 1 ? p.cooldown : 60;
	fr.max_actions = p.max_actions;
	fr.window = p.window >= 1 ? p.window : 1;
	if (r->fops.claim(r->o.fleet, &fr, &req->claim, &e) < 0) {
		memset(&req->claim, 0, sizeof(req->claim));
		dg_error_set(err, e.status, "fleet brakes could not be consulted: %.900s: no automatic action",
			     e.message);
		return DG_RESPONDER_NO_FLEET;
	}
	if (req->claim.verdict == DG_FLEET_WON)
		return DG_RESPONDER_ACTED;
	dg_error_set(err, DG_REFUSED, "%s", req->claim.reason);
	return req->claim.verdict == DG_FLEET_RATE ? DG_RESPONDER_RATE : DG_RESPONDER_CLAIMED;
}

/* Everything from the brakes' answer to the action. *msg: what a report says. */
static enum dg_responder_outcome ask_and_act(struct dg_responder *r, struct dg_episode *e, unsigned gen,
					     struct dg_responder_request *req, int *ret_act, struct dg_error *err)
{
	struct dg_brakes_decision *d = &req->decision;
	enum dg_responder_outcome o;

	if (dg_brakes_request(r->o.brakes, req->target, req->action, req->captures, d, err) < 0)
		return DG_RESPONDER_FAILED;
	if (d->verdict == DG_BRAKES_DRY_RUN) {
		dg_error_set(err, DG_OK, "%s", d->reason);
		return DG_RESPONDER_DRY_RUN;
	}
	if (d->verdict != DG_BRAKES_GO) {
		dg_error_set(err, DG_UNAVAILABLE, "%s", d->reason);
		return refusal(d->verdict);
	}
	if (r->o.fleet) {
		o = ask_fleet(r, req, err);
		if (o != DG_RESPONDER_ACTED) {
			struct dg_error ce = { 0 };
			/* Not acting after all: no local cooldown, window place or capture slot for it. A state file
			 * that cannot be written keeps the mark: the safe side. */
			dg_brakes_cancel(r->o.brakes, req->target, req->action, req->captures, d, &ce);
			snprintf(d->reason, sizeof(d->reason), "%.*s", (int)sizeof(d->reason) - 1, err->message);
			return o;
		}
	}
	/* Settled from here on, so that no second decision starts while this one records and acts. */
	pthread_mutex_lock(&r->lock);
	if (e->gen == gen)
		e->settled = true;
	pthread_mutex_unlock(&r->lock);
	/* No record, no action. */
	if (r->o.ops.record(r->o.userdata, req, err) < 0) {
		if (req->captures)
			dg_brakes_release(r->o.brakes);
		dg_responder_unclaim(r, req);
		pthread_mutex_lock(&r->lock);
		if (e->gen == gen)
			e->settled = false;
		pthread_mutex_unlock(&r->lock);
		return DG_RESPONDER_UNRECORDED;
	}
	*ret_act = r->o.ops.act(r->o.userdata, req, err);
	return DG_RESPONDER_ACTED;
}

enum dg_responder_outcome dg_responder_decide(struct dg_responder *r, struct dg_episode *e,
					      struct dg_responder_request *req, int *ret_act)
{
	struct dg_episode one_off = { .active = true };
	struct dg_error err = { 0 };
	char evidence[sizeof(e->evidence)];
	enum dg_responder_outcome o;
	bool report;
	unsigned gen;
	int act = 0;
	double now;

	if (!e)
		e = &one_off;
	pthread_mutex_lock(&r->lock);
	gen = e->gen;
	snprintf(evidence, sizeof(evidence), "%s", e->evidence);
	pthread_mutex_unlock(&r->lock);
	if (!req->evidence)
		req->evidence = evidence;
	memset(&req->decision, 0, sizeof(req->decision));
	memset(&req->claim, 0, sizeof(req->claim));

	o = ask_and_act(r, e, gen, req, &act, &err);
	now = now_of(r);

	pthread_mutex_lock(&r->lock);
	report = o != DG_RESPONDER_ACTED && !(e->reported & (1u << o));
	if (e->gen == gen && e->active) {
		e->reported |= 1u << o;
		if (o == DG_RESPONDER_ACTED || o == DG_RESPONDER_DRY_RUN || o == DG_RESPONDER_FAILED)
			e->settled = true;
		else
			e->not_before = now + (req->decision.retry_after > r->o.interval ? req->decision.retry_after :
									       r->o.interval);
	}
	pthread_mutex_unlock(&r->lock);

	if (report && r->o.ops.report)
		r->o.ops.report(r->o.userdata, req, o, err.message);
	if (ret_act)
		*ret_act = act;
	if (req->evidence == evidence)
		req->evidence = NULL; /* the copy ends here */
	return o;
}

void dg_responder_unclaim(struct dg_responder *r, const struct dg_responder_request *req)
{
	struct dg_error e = { 0 };

	if (r->o.fleet && req->claim.verdict == DG_FLEET_WON && req->claim.lease)
		r->fops.unclaim(r->o.fleet, &req->claim, &e); /* best effort: else the lease ends it */
}

void dg_responder_fleet_set(struct dg_responder *r, const char *fleet_target, bool watched, bool suspect)
{
	char *t;

	if (!r->o.fleet || !(t = strdup(fleet_target)))
		return; /* out of memory: that target's entry stays as it was (the view is a few targets off) */
	pthread_mutex_lock(&r->lock);
	if (r->npend == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		struct pending *p = realloc(r->pend, cap * sizeof(*p));
		if (!p) {
			pthread_mutex_unlock(&r->lock);
			free(t);
			return;
		}
		r->pend = p;
		r->cap = cap;
	}
	r->pend[r->npend++] = (struct pending){ t, watched, suspect };
	pthread_mutex_unlock(&r->lock);
}

/* Hand the changes since the last tick to the fleet (its own table; no request). */
static void apply_pending(struct dg_responder *r)
{
	struct pending *p;
	size_t n;

	pthread_mutex_lock(&r->lock);
	p = r->pend;
	n = r->npend;
	r->pend = NULL;
	r->npend = r->cap = 0;
	pthread_mutex_unlock(&r->lock);
	for (size_t i = 0; i < n; i++) {
		r->fops.set(r->o.fleet, p[i].target, p[i].watched, p[i].suspect);
		free(p[i].target);
	}
	free(p);
}

int dg_responder_fleet_tick(struct dg_responder *r, struct dg_error *err)
{
	struct dg_brakes_policy p;
	uint64_t watched = 0, suspect = 0;
	double interval, ttl;
	enum fleet_view view = VIEW_UNKNOWN;
	char msg[sizeof(r->view_msg)];
	struct dg_error e = { 0 };
	int rc;

	if (!r->o.fleet)
		return 0;
	pthread_mutex_lock(&r->lock);
	interval = r->o.interval;
	pthread_mutex_unlock(&r->lock);
	/* A few intervals: one missed publish does not drop this monitor's targets from the fleet's view. */
	ttl = 3 * interval > 10 ? 3 * interval : 10;
	apply_pending(r);
	rc = r->fops.publish(r->o.fleet, ttl, &e);
	if (rc == 0)
		rc = r->fops.counts(r->o.fleet, &watched, &suspect, &e);
	dg_brakes_get_policy(r->o.brakes, NULL, &p);
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "fleet brakes could not be consulted (the fleet-wide storm view): %.900s",
			 e.message);
		dg_error_set(err, e.status ? e.status : DG_UNAVAILABLE, "%s", msg);
	} else if (p.storm_percent < 100 && watched >= p.storm_min_targets && watched > 0 &&
		   (double)suspect * 100 > p.storm_percent * (double)watched) {
		view = VIEW_STORM;
		snprintf(msg, sizeof(msg), "fleet storm brake: %llu of %llu watched targets across the fleet look hung "
			 "(more than %.3g%%): a common fault is more likely than guest faults; not interrupting any guest",
			 (unsigned long long)suspect, (unsigned long long)watched, p.storm_percent);
	} else {
		view = VIEW_CALM;
		snprintf(msg, sizeof(msg), "%llu of %llu watched targets across the fleet look hung",
			 (unsigned long long)suspect, (unsigned long long)watched);
	}
	pthread_mutex_lock(&r->lock);
	r->view = view;
	r->view_at = now_of(r);
	snprintf(r->view_msg, sizeof(r->view_msg), "%s", msg);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

static void *fleet_loop(void *arg)
{
	struct dg_responder *r = arg;

	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		struct timespec ts;
		double interval = r->o.interval > 0.1 ? r->o.interval : 0.1;

		pthread_mutex_unlock(&r->lock);
		dg_responder_fleet_tick(r, NULL);
		pthread_mutex_lock(&r->lock);
		if (r->stop)
			break;
		ts = dg_clock_deadline(CLOCK_REALTIME, interval);
		pthread_cond_timedwait(&r->wake, &r->lock, &ts);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int dg_responder_fleet_start(struct dg_responder *r, struct dg_error *err)
{
	int e;

	if (!r->o.fleet || r->thread_running)
		return 0;
	e = pthread_create(&r->thread, NULL, fleet_loop, r);
	if (e)
		return dg_error_set_errno(err, DG_FAILED, e, "cannot start the fleet thread");
	r->thread_running = true;
	return 0;
}

const char *dg_responder_outcome_name(enum dg_responder_outcome o)
{
	static const char *const names[] = { "acted", "dry-run", "cooldown", "rate", "storm", "busy", "unrecorded",
					     "failed", "claimed", "no-fleet" };

	return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "?";
}
