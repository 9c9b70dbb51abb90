/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The responder (responder.h): hits per episode, the brakes, the record before the action, the action, one
 * report per episode and kind of refusal, and when to ask again. The policy for storms is the one both detectors
 * share: a refused hang is asked about again each interval while it lasts, because a storm (or a rate limit, or a
 * full audit log) may pass while the guest stays hung; saying so once per episode keeps a storm over many guests
 * from flooding the log and the audit trail. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagint/clock.h"
#include "diagint/responder.h"

struct dg_responder {
	struct dg_responder_opts o;
	pthread_mutex_t lock;
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
	pthread_mutex_init(&r->lock, NULL);
	*ret = r;
	return 0;
}

void dg_responder_free(struct dg_responder *r)
{
	if (!r)
		return;
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

/* Everything from the brakes' answer to the action. *msg: what a report says. */
static enum dg_responder_outcome ask_and_act(struct dg_responder *r, struct dg_episode *e, unsigned gen,
					     struct dg_responder_request *req, int *ret_act, struct dg_error *err)
{
	struct dg_brakes_decision *d = &req->decision;

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
	/* Settled from here on, so that no second decision starts while this one records and acts. */
	pthread_mutex_lock(&r->lock);
	if (e->gen == gen)
		e->settled = true;
	pthread_mutex_unlock(&r->lock);
	/* No record, no action. */
	if (r->o.ops.record(r->o.userdata, req, err) < 0) {
		if (req->captures)
			dg_brakes_release(r->o.brakes);
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

const char *dg_responder_outcome_name(enum dg_responder_outcome o)
{
	static const char *const names[] = { "acted", "dry-run", "cooldown", "rate", "storm", "busy", "unrecorded",
					     "failed" };

	return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "?";
}
