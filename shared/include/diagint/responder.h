/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "diagint/brakes.h"
#include "diagint/error.h"
#include "diagint/fleet.h"

/* The responder: where every detector (the watcher's probes and events, the collectd plugin's missing values,
 * pings and notifications) hands a suspected hang. It owns, once for all of them:
 *
 *   - hits per episode: an episode starts with the first sign of a hang and ends when the target is seen alive;
 *     only the detector that started it counts hits in it;
 *   - the decision: the brakes, then the record that authorizes the action BEFORE the action (no record, no
 *     action), then the action through a callback;
 *   - the storm policy: while the hang lasts it is asked about again each interval (a storm, a rate limit, a
 *     cooldown, a full audit log may pass), and each kind of refusal is reported once per episode;
 *   - retry timing: not before the brake may let go, and not more often than the interval.
 *
 * With a fleet (fleet.h, docs/fleet.md) it also asks every other monitor, after the local brakes said GO and before
 * the record: the fleet-wide storm view (published by a thread of its own each interval), then one claim per
 * target (the cooldown as its lease, MaxActions per ActionWindow as fleet-wide slots). A claim held by another
 * monitor, a fleet-wide rate, a fleet that cannot answer: no automatic action, reported once per episode, asked
 * again each interval; the local GO is taken back (dg_brakes_cancel).
 *
 * An acted-on, dry-run or failed episode is settled: nothing more until the target is seen alive again.
 * Time and actions are injected, so one unit test drives the policy both detectors share. Thread-safe: episodes
 * are updated under the responder's mutex; callbacks run without it. */

/* One target's episode, owned by the caller (zero-initialized: none). Read its fields under the caller's own
 * lock only for display; the responder's functions change them. */
struct dg_episode {
	bool active;        /* a hang episode is running */
	bool settled;       /* acted, dry run or failed: nothing more until alive again */
	unsigned source;    /* the detector that started it */
	unsigned hits;
	double since;       /* responder clock */
	double not_before;  /* asked again no earlier than this (responder clock) */
	unsigned reported;  /* 1u << enum dg_responder_outcome: reported in this episode */
	unsigned gen;       /* counts episodes: a decision that outlived its episode leaves the next alone */
	char evidence[512]; /* what started it */
};

enum dg_responder_outcome {
	DG_RESPONDER_ACTED,      /* recorded, then act() ran (0 or its own -status in the return value) */
	DG_RESPONDER_DRY_RUN,    /* every brake passed, DryRun: nothing done; settled */
	DG_RESPONDER_COOLDOWN,   /* refused by a brake: asked again later */
	DG_RESPONDER_RATE,
	DG_RESPONDER_STORM,
	DG_RESPONDER_BUSY,       /* every capture slot taken */
	DG_RESPONDER_UNRECORDED, /* the authorizing record could not be written: nothing done; asked again later */
	DG_RESPONDER_FAILED,     /* the brakes' state is unusable, or act() failed: settled */
	DG_RESPONDER_CLAIMED,    /* the fleet: another monitor holds the target's claim ("claimed by M at T") */
	DG_RESPONDER_NO_FLEET,   /* the fleet could not be consulted (no quorum, unreachable, refused us), or its
				  * storm view is unknown: no automatic action; asked again later */
};

/* One decision: what the callbacks see. */
struct dg_responder_request {
	const char *target;             /* the brakes' name for it */
	enum dg_brakes_action action;
	bool captures;                  /* takes a capture slot (the caller releases it when the capture ends) */
	const char *evidence;           /* NULL: the episode's */
	void *data;                     /* the caller's, for its callbacks */
	const char *fleet_target;       /* the fleet's name for it ("libvirt-uuid:UUID"); NULL: target */
	struct dg_brakes_decision decision; /* set by dg_responder_decide */
	struct dg_fleet_claim claim;    /* set by dg_responder_decide with a fleet: WON when it holds the claim */
};

struct dg_responder_ops {
	/* Seconds on a monotonic clock; NULL: dg_clock_mono. */
	double (*now)(void *userdata);
	/* Write the record that authorizes the action. 0, or -status: then nothing is done. */
	int (*record)(void *userdata, const struct dg_responder_request *req, struct dg_error *err);
	/* Act (NMI, cloud interrupt, capture), or start acting. 0 or -status; the outcome is the caller's to audit. */
	int (*act)(void *userdata, const struct dg_responder_request *req, struct dg_error *err);
	/* Once per episode and outcome, for everything but ACTED: log, audit, notify. message: the brake's reason or
	 * the error. */
	void (*report)(void *userdata, const struct dg_responder_request *req, enum dg_responder_outcome o,
		       const char *message);
};

/* The fleet calls (fleet.h), replaceable for the unit tests; NULL members: fleet.h's own. */
struct dg_responder_fleet_ops {
	int (*claim)(struct dg_fleet *f, const struct dg_fleet_request *req, struct dg_fleet_claim *ret,
		     struct dg_error *err);
	int (*unclaim)(struct dg_fleet *f, const struct dg_fleet_claim *c, struct dg_error *err);
	int (*set)(struct dg_fleet *f, const char *target, bool watched, bool suspect);
	int (*publish)(struct dg_fleet *f, double ttl, struct dg_error *err);
	int (*counts)(struct dg_fleet *f, uint64_t *ret_watched, uint64_t *ret_suspect, struct dg_error *err);
};

struct dg_responder_opts {
	struct dg_brakes *brakes;
	double interval; /* seconds: a refused episode is asked again no more often than this */
	struct dg_responder_ops ops;
	void *userdata;
	struct dg_fleet *fleet; /* NULL: the local brakes alone decide (no request is made); owned by the caller */
	const struct dg_responder_fleet_ops *fleet_ops; /* NULL: fleet.h's */
};

struct dg_responder;

int dg_responder_new(const struct dg_responder_opts *o, struct dg_responder **ret, struct dg_error *err);
void dg_responder_free(struct dg_responder *r); /* accepts NULL */
void dg_responder_set_interval(struct dg_responder *r, double interval);

/* A sign that the target hangs, from detector `source`. The first starts an episode and keeps `evidence`.
 * at_least 0: one more hit; else the detector's own count (consecutive misses), which the hits rise to.
 * Another detector's signs do not count in a running episode. Returns true when a decision is due: `need` hits,
 * not settled, and not before the retry time. */
bool dg_responder_hit(struct dg_responder *r, struct dg_episode *e, unsigned source, unsigned need,
		      unsigned at_least, const char *evidence);
/* The same test without a new hit (a periodic look while the hang lasts). */
bool dg_responder_due(struct dg_responder *r, struct dg_episode *e, unsigned need);
/* Raise the hit count without starting an episode (0 when there is none): a silence that lasts. */
void dg_responder_count(struct dg_responder *r, struct dg_episode *e, unsigned at_least);
/* Detector `source` sees the target alive: its episode ends. True when there was one that got a decision or a
 * report (the caller may say "alive again"). */
bool dg_responder_alive(struct dg_responder *r, struct dg_episode *e, unsigned source);

/* Decide about the episode e (NULL: a one-off, always reported, e.g. the capture after a panic). Asks the
 * brakes; GO: record(), then act(). From the record on, act() owns the capture slot (it releases it when the
 * capture ends, also when it fails); when the record fails the responder gives it back. Returns the outcome;
 * *ret_act (may be NULL) gets act()'s result. One decider per episode at a time. */
enum dg_responder_outcome dg_responder_decide(struct dg_responder *r, struct dg_episode *e,
					      struct dg_responder_request *req, int *ret_act);

/* Give back the claim of a decision whose action certainly did not happen (the target was not found, the
 * provider refused before any interrupt): another monitor may act at once. Never after an interrupt that may have
 * been delivered. No-op without a fleet or a won claim. */
void dg_responder_unclaim(struct dg_responder *r, const struct dg_responder_request *req);

/* The fleet's storm view (no-op without a fleet): what this monitor watches and suspects, by the fleet's name
 * of each target. Local only; published by the fleet thread. */
void dg_responder_fleet_set(struct dg_responder *r, const char *fleet_target, bool watched, bool suspect);
/* One publish and one count (blocks up to the fleet's CommandTimeout, twice): the storm view for the next
 * decisions. 0, or -status: the view is unknown and no automatic interrupt is made until one succeeds. The
 * fleet thread calls it each interval; unit tests call it themselves. */
int dg_responder_fleet_tick(struct dg_responder *r, struct dg_error *err);
/* Start the fleet thread (no-op without a fleet): a tick now, then each interval, until dg_responder_free. */
int dg_responder_fleet_start(struct dg_responder *r, struct dg_error *err);

/* "acted", "dry-run", "cooldown", "rate", "storm", "busy", "unrecorded", "failed", "claimed", "no-fleet". */
const char *dg_responder_outcome_name(enum dg_responder_outcome o);
