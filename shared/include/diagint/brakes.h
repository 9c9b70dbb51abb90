/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "diagint/error.h"

/* The brakes: what stops an automatic sender (the watcher, the collectd plugin) from interrupting guests it
 * should leave alone. An NMI kills the guest's kernel, so every automatic one passes here first:
 *
 *   - cooldown:     at most one interrupt per target per `cooldown` seconds; kept in a state file so a restarted
 *                   watcher does not forget it just interrupted a guest that hangs again at once;
 *   - rate:         at most `max_actions` actions host-wide per `window` seconds (also in the state file);
 *   - storm:        when more than `storm_percent` of the watched targets look hung at once, the host is the
 *                   likely fault (overload, storage stall): interrupting guests would only destroy evidence;
 *   - concurrency:  at most `max_captures` captures at a time (each one reads a guest's whole RAM);
 *   - dry run:      every brake is evaluated and reported, nothing is done.
 *
 * Pure logic: no libvirt, time comes from an injectable clock, thread-safe (one internal mutex). */

struct dg_brakes_policy {
	double cooldown;            /* seconds between two interrupts of one target; 0: no cooldown */
	unsigned max_actions;       /* host-wide actions per window; 0: no limit */
	double window;              /* seconds */
	double storm_percent;       /* refuse when more than this share of watched targets look hung; >= 100: off */
	unsigned storm_min_targets; /* the storm brake needs at least this many watched targets to mean anything */
	unsigned max_captures;      /* concurrent captures; 0: no limit */
	bool dry_run;
};

/* One NMI per target per hour, 5 actions per hour host-wide, storm above 50% of at least 3 targets, one
 * capture at a time, acting for real. */
void dg_brakes_policy_default(struct dg_brakes_policy *p);

/* Seconds since the epoch. Wall time, not monotonic: the state file outlives the process and the boot. */
typedef double (*dg_brakes_clock_fn)(void *userdata);

struct dg_brakes;

/* state_path NULL: nothing persisted (tests). A missing state file is a first start; its missing directory is
 * created (mode 0755, parents too). The state is written once here, also for a dry-run policy: a state that
 * cannot be written fails now (DG_USAGE, with the fix), at start, not at the first action. Unreadable lines
 * are skipped and counted in *ret_skipped (may be NULL): a damaged file must not keep the watcher from starting,
 * the caller warns. clock NULL: the real wall clock. */
int dg_brakes_new(const struct dg_brakes_policy *p, const char *state_path, dg_brakes_clock_fn clock,
		  void *clock_userdata, struct dg_brakes **ret, unsigned *ret_skipped, struct dg_error *err);
void dg_brakes_free(struct dg_brakes *b);
/* A reload (SIGHUP): new limits, the history (cooldowns, actions in the window, captures in flight) stays. */
void dg_brakes_set_policy(struct dg_brakes *b, const struct dg_brakes_policy *p);

/* The storm brake's view: how many targets are watched, and whether one of them looks hung right now (any
 * failing probe, not only a confirmed hang: a storm shows in the first missed probes). */
void dg_brakes_set_watched(struct dg_brakes *b, unsigned n);
void dg_brakes_set_suspect(struct dg_brakes *b, const char *target, bool suspect);
/* A target's own cooldown (from its metadata) instead of the policy's; < 0: the policy's again. */
void dg_brakes_set_cooldown(struct dg_brakes *b, const char *target, double cooldown);
/* Forget a target's suspect mark (it stopped); its cooldown stays. */
void dg_brakes_forget(struct dg_brakes *b, const char *target);

enum dg_brakes_action {
	DG_BRAKES_INTERRUPT, /* an NMI (then usually a capture): every brake applies */
	DG_BRAKES_CAPTURE,   /* a capture of a guest that already panicked: no cooldown, no storm brake; rate,
			      * concurrency and dry run apply */
};

enum dg_brakes_verdict {
	DG_BRAKES_GO,
	DG_BRAKES_DRY_RUN,  /* every brake passed; dry run: do nothing */
	DG_BRAKES_COOLDOWN,
	DG_BRAKES_RATE,
	DG_BRAKES_STORM,
	DG_BRAKES_BUSY,     /* all capture slots taken: try again when one is released */
};

struct dg_brakes_decision {
	enum dg_brakes_verdict verdict;
	double retry_after;  /* seconds until this brake could let it through (0 for storm/busy: unknown) */
	char reason[256];    /* one line for the log and the audit record */
	double granted_at;   /* GO: when it was recorded, and the target's interrupt before it (dg_brakes_cancel) */
	double prev_last;
};

/* Ask to act. GO: the action is recorded (cooldown starts, counts in the window, state saved) and, when it
 * captures, a capture slot is taken that dg_brakes_release gives back. DRY_RUN: recorded in memory only, so a
 * dry run says once per cooldown what it would do. Refusals record nothing. Returns 0, or -status when the
 * state file cannot be written (the action is then refused: a cooldown we cannot keep is not a cooldown). */
int dg_brakes_request(struct dg_brakes *b, const char *target, enum dg_brakes_action action, bool captures,
		      struct dg_brakes_decision *ret, struct dg_error *err);
void dg_brakes_release(struct dg_brakes *b);
/* Take back a GO whose action did not happen because a later brake (the fleet's, fleet.h) refused it: its
 * cooldown, its place in the window and its capture slot (when it captured), state saved. A refusal elsewhere
 * must not start a local cooldown for an interrupt no one sent. 0 or -status (state file). */
int dg_brakes_cancel(struct dg_brakes *b, const char *target, enum dg_brakes_action action, bool captures,
		     const struct dg_brakes_decision *d, struct dg_error *err);
/* The policy as it applies to target (its own cooldown when it has one); target NULL: the policy. */
void dg_brakes_get_policy(struct dg_brakes *b, const char *target, struct dg_brakes_policy *ret);

/* Seconds left of the target's cooldown (0: none). */
double dg_brakes_cooldown_left(struct dg_brakes *b, const char *target);
unsigned dg_brakes_captures_in_flight(struct dg_brakes *b);

/* "go", "dry-run", "cooldown", "rate", "storm", "busy". */
const char *dg_brakes_verdict_name(enum dg_brakes_verdict v);
