/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The watcher's decisions: a round of a domain's probes says whether it is hung; a hang (or a panic or watchdog
 * the events asked about) goes to the responder (responder.h: the brakes, the record before the action, the
 * reports), whose callbacks here record it and start the action through watch_act.c. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diagint/audit_query.h"
#include "diagint/clock.h"
#include "diagint/responder.h"
#include "watch/watch-internal.h"

/* ---- probe rounds ---- */

/* A miss counts only while the guest runs: a paused guest (virsh suspend, a migration, a snapshot) or one
 * suspended to RAM shows no sign of life and is not hung. */
static bool dom_running(struct watch_dom *d)
{
	int state = VIR_DOMAIN_NOSTATE;

	if (!d->dom || virDomainGetState(d->dom, &state, NULL, 0) < 0)
		return true; /* cannot tell: the misses decide, as they would without this check */
	return state == VIR_DOMAIN_RUNNING;
}

static void probe_round(struct watch_loop *l, struct watch_dom *d, double now)
{
	struct dg_watch *w = l->w;
	unsigned armed = 0, missing = 0, least = UINT_MAX;
	double since = now;
	char why[384] = "";
	size_t off = 0;

	for (unsigned i = 0; i < d->nprobes; i++) {
		struct watch_probe *p = &d->probes[i];
		struct dg_error err = { 0 };
		int r = dg_probe_check(&p->p, &err);

		if (r == 1) {
			if (!p->armed)
				watch_log(w, DG_LOG_INFO, "%s: first %s seen; a hang is now %u missed checks", d->name,
					  p->p.ops->sign, d->need);
			else if (p->misses)
				watch_log(w, DG_LOG_INFO, "%s: %s back after %u miss%s", d->name, p->p.ops->sign, p->misses,
					  p->misses == 1 ? "" : "es");
			p->armed = true;
			p->misses = 0;
		} else if (p->armed) {
			if (!p->misses++)
				p->first_miss = now;
			/* Said once per run of misses: an agent that is gone says the same thing every interval. */
			if (r < 0 && p->misses == 1)
				watch_log(w, DG_LOG_WARNING, "%s: %s probe: %s", d->name, p->p.ops->name, err.message);
		}
		if (!p->armed)
			continue;
		armed++;
		if (p->misses) {
			missing++;
			least = p->misses < least ? p->misses : least;
			since = p->first_miss < since ? p->first_miss : since;
			if (off < sizeof(why)) {
				int n = snprintf(why + off, sizeof(why) - off, "%s%s probe: %s", off ? "; " : "",
						 p->p.ops->name, p->p.ops->miss);
				off += n > 0 ? (size_t)n : 0;
			}
		}
	}
	if (!armed || missing < armed) {
		/* Some armed probe still sees it alive (or none has seen it alive yet): not hung. */
		watch_dom_end_episode(w, d);
		watch_set_suspect(w, d->name, d->uuid, false);
		return;
	}
	if (!dom_running(d)) {
		if (!d->paused_said)
			watch_log(w, DG_LOG_INFO, "%s: not running (paused or suspended): its probes count no misses until "
				  "it runs again", d->name);
		d->paused_said = true;
		for (unsigned i = 0; i < d->nprobes; i++)
			d->probes[i].misses = 0;
		watch_dom_end_episode(w, d);
		watch_set_suspect(w, d->name, d->uuid, false);
		return;
	}
	d->paused_said = false;
	watch_set_suspect(w, d->name, d->uuid, true);
	/* The responder counts the hang (hits = the least misses of any probe) and says when to ask the brakes:
	 * once it is long enough, and again each interval while a refusal lasts. */
	if (!dg_responder_hit(w->responder, &d->ep, WATCH_SRC_PROBES, d->need, least, why) || d->pending)
		return;
	if (!(d->ep.reported & (1u << DG_RESPONDER_STORM)))
		watch_log(w, DG_LOG_WARNING, "%s: hung: %s, %u checks in a row (%.1f s)", d->name, why, least,
			  now - since + d->interval);
	watch_dom_request(d, WATCH_ACT_INJECT, "%s, %u consecutive checks (%.1f s)", why, least, now - since + d->interval);
}

void watch_run_probes(struct watch_loop *l, double now)
{
	for (size_t i = 0; i < l->ndoms; i++) {
		struct watch_dom *d = &l->doms[i];

		if (!d->nprobes || d->busy || now < d->next_probe)
			continue;
		d->next_probe = (floor(now / d->interval) + 1) * d->interval; /* stays on the grid */
		probe_round(l, d, now);
	}
}

/* ---- a capture someone else makes ---- */

static int found_operator(void *ud, const char *line, size_t len, json_object *rec)
{
	const char *comp = dg_audit_rec_str(rec, "actor.component"), *ev = dg_audit_rec_str(rec, "evidence");

	(void)line;
	(void)len;
	if (comp && strcmp(comp, "watcher") && ev && (strstr(ev, "inject") || strstr(ev, "send"))) {
		*(bool *)ud = true;
		return 1;
	}
	return 0;
}

/* An operator's `diagint inject NAME` makes the guest panic too, and captures it itself: its authorization
 * record (written before its NMI) says so. Without this check every such inject would end in two dumps. */
static bool operator_is_capturing(struct dg_watch *w, const struct watch_dom *d)
{
	struct dg_audit_filter f = { .action = "authorize", .result = "ok" };
	char since[64], glob[600], id[32] = "", *o = glob;
	const char *idents[3] = { d->name, d->uuid, id };
	virDomainPtr dom = virDomainLookupByUUIDString(dg_lv_conn(w->lv), d->uuid);
	bool found = false;

	/* The operator may have named it by its numeric id (virsh-style): the id it has now, while it sits crashed. */
	if (dom) {
		unsigned n = virDomainGetID(dom);
		if (n != (unsigned)-1)
			snprintf(id, sizeof(id), "%u", n);
		virDomainFree(dom);
	}
	if (dg_audit_parse_time("-120s", time(NULL), since, sizeof(since), NULL) < 0)
		return false;
	f.since = since;
	for (int i = 0; i < 3 && !found; i++) {
		if (!idents[i][0])
			continue;
		/* The filter's target is a glob: a name's own *, ? and [ must match only themselves. */
		o = glob + snprintf(glob, sizeof(glob), "libvirt:");
		for (const char *c = idents[i]; *c && o < glob + sizeof(glob) - 3; c++) {
			if (strchr("*?[\\", *c))
				*o++ = '\\';
			*o++ = *c;
		}
		*o = '\0';
		f.target = glob;
		dg_audit_query(dg_audit_log_path(w->audit), &f, found_operator, &found, NULL);
	}
	return found;
}

/* ---- the responder's callbacks (responder.h): the record, the action, the reports ---- */

static int authorize(void *ud, const struct dg_responder_request *req, struct dg_error *err)
{
	/* The decision is on record before anything is done: an action that cannot be recorded does not happen. */
	if (watch_audit(ud, "authorize", req->target, "watch: every brake passed", req->evidence, DG_AUDIT_OK, NULL,
			NULL) < 0)
		return dg_error_set(err, DG_FAILED, "the action could not be recorded");
	return 0;
}

static int act(void *ud, const struct dg_responder_request *req, struct dg_error *err)
{
	struct dg_watch *w = ud;
	struct watch_dom *d = req->data;
	bool interrupt = req->action == DG_BRAKES_INTERRUPT;

	if (watch_act_start(w, d->pending_kind, d->name, d->uuid, req->evidence, d->meta.destination,
			    &req->claim) < 0) {
		dg_brakes_release(w->brakes);
		dg_responder_unclaim(w->responder, req); /* nothing was sent: another watcher may act */
		watch_log(w, DG_LOG_WARNING, "%s: not acting: the action could not be recorded or started", d->name);
		return dg_error_set(err, DG_FAILED, "the action could not be started");
	}
	d->busy = true;
	if (interrupt)
		d->crash_handled = true;
	watch_log(w, DG_LOG_INFO, "%s: %s (%s)", d->name, interrupt ? "sending an NMI and capturing" : "capturing",
		  req->evidence);
	return 0;
}

static void report(void *ud, const struct dg_responder_request *req, enum dg_responder_outcome o,
		   const char *message)
{
	struct dg_watch *w = ud;
	const char *action = req->action == DG_BRAKES_INTERRUPT ? "inject" : "capture";

	switch (o) {
	case DG_RESPONDER_FAILED:
		watch_log(w, DG_LOG_WARNING, "%s: not acting: %s", req->target, message);
		watch_audit(w, action, req->target, "watch: brake state unusable", req->evidence, DG_AUDIT_FAILED,
			    message, NULL);
		break;
	case DG_RESPONDER_UNRECORDED:
		watch_log(w, DG_LOG_WARNING, "%s: not acting: the action could not be recorded or started",
			  req->target);
		break;
	case DG_RESPONDER_DRY_RUN:
		watch_log(w, DG_LOG_WARNING, "%s: dry run: would %s (%s)", req->target,
			  req->action == DG_BRAKES_INTERRUPT ? "send an NMI and capture" : "capture", req->evidence);
		watch_audit(w, action, req->target, req->decision.reason, req->evidence, DG_AUDIT_DRY_RUN, NULL, NULL);
		break;
	case DG_RESPONDER_COOLDOWN:
	case DG_RESPONDER_RATE:
	case DG_RESPONDER_STORM:
		watch_log(w, DG_LOG_WARNING, "%s: refused by the brakes: %s", req->target, req->decision.reason);
		watch_audit(w, action, req->target, req->decision.reason, req->evidence, DG_AUDIT_SUPPRESSED, NULL,
			    NULL);
		break;
	case DG_RESPONDER_CLAIMED:
	case DG_RESPONDER_NO_FLEET:
		watch_log(w, DG_LOG_WARNING, "%s: refused by the fleet brakes: %s", req->target, message);
		watch_audit(w, action, req->target, message, req->evidence, DG_AUDIT_SUPPRESSED, NULL, NULL);
		break;
	default:
		break; /* busy: it waits for a capture slot, nothing to say */
	}
}

const struct dg_responder_ops watch_responder_ops = { .record = authorize, .act = act, .report = report };

/* ---- pending requests -> the responder ---- */

void watch_start_actions(struct watch_loop *l)
{
	struct dg_watch *w = l->w;

	for (size_t i = 0; i < l->ndoms && w->lv; i++) {
		struct watch_dom *d = &l->doms[i];
		bool interrupt;

		if (!d->pending || d->busy)
			continue;
		interrupt = d->pending_kind == WATCH_ACT_INJECT;
		if (!interrupt && d->from_panic_event && w->audit && operator_is_capturing(w, d)) {
			watch_log(w, DG_LOG_INFO, "%s: an operator's diagint inject caused this panic and captures it "
				  "(its audit record); not capturing it twice", d->name);
			d->pending = d->from_panic_event = false;
			continue;
		}
		d->from_panic_event = false;
		/* A hang is the episode's (asked again while it lasts, refusals said once); a capture after a panic is
		 * a one-off. */
		char fleet_name[64];
		struct dg_responder_request req = {
			.target = d->name,
			.fleet_target = watch_fleet_name(d->uuid, fleet_name, sizeof(fleet_name)),
			.action = interrupt ? DG_BRAKES_INTERRUPT : DG_BRAKES_CAPTURE,
			.captures = true,
			.evidence = d->evidence,
			.data = d,
		};
		if (dg_responder_decide(w->responder, interrupt ? &d->ep : NULL, &req, NULL) == DG_RESPONDER_BUSY)
			continue; /* stays pending: it waits for a capture slot */
		d->pending = false;
	}
}
