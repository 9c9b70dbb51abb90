/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Acting on one domain, on a thread of its own so that the loop keeps probing the others while a capture
 * reads a guest's whole RAM: optionally capture the hung state, NMI, wait for the panic, capture, then the
 * after-action. Every step's outcome goes to the audit log. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagint/inject.h"
#include "watch/watch-internal.h"

struct inject_log_ctx {
	struct dg_watch *w;
	const char *name;
};

static void inject_log(void *ud, enum dg_log_level level, const char *message)
{
	struct inject_log_ctx *c = ud;

	/* Progress redraws make sense on a terminal, not in a journal. */
	if (level == DG_LOG_PROGRESS)
		return;
	watch_log(c->w, level, "%s: %s", c->name, message);
}

static void after_action(struct watch_worker *wk, const struct dg_watch_config *wc)
{
	struct dg_watch *w = wk->w;
	virConnectPtr conn = dg_lv_conn(w->lv);
	virDomainPtr dom;
	const char *what = wc->after == DG_WATCH_AFTER_RESTART ? "restart" : "destroy";
	char *xml = NULL;
	int r = -1, persistent;

	if (wc->after == DG_WATCH_AFTER_PRESERVE)
		return;
	dom = virDomainLookupByUUIDString(conn, wk->uuid);
	if (!dom) {
		watch_log(w, DG_LOG_WARNING, "%s: gone before the after-action (%s)", wk->name, what);
		return;
	}
	persistent = virDomainIsPersistent(dom);
	/* A transient domain is gone once destroyed: keep its definition to start it again. */
	if (wc->after == DG_WATCH_AFTER_RESTART && persistent != 1)
		xml = virDomainGetXMLDesc(dom, 0);
	if (virDomainDestroy(dom) == 0) {
		r = 0;
		if (wc->after == DG_WATCH_AFTER_RESTART) {
			if (persistent == 1) {
				r = virDomainCreate(dom);
			} else {
				virDomainPtr d2 = xml ? virDomainCreateXML(conn, xml, 0) : NULL;
				r = d2 ? 0 : -1;
				if (d2)
					virDomainFree(d2);
			}
		}
	}
	if (r == 0) {
		wk->restarted = wc->after == DG_WATCH_AFTER_RESTART;
		watch_log(w, DG_LOG_INFO, "%s: after-action %s done", wk->name, what);
		watch_audit(w, what, wk->name, "watch: AfterCapture", wk->evidence, DG_AUDIT_OK, NULL, NULL);
	} else {
		virErrorPtr e = virGetLastError();
		const char *msg = e && e->message ? e->message : "unknown error";
		watch_log(w, DG_LOG_WARNING, "%s: after-action %s failed: %s", wk->name, what, msg);
		watch_audit(w, what, wk->name, "watch: AfterCapture", wk->evidence, DG_AUDIT_FAILED, msg, NULL);
	}
	free(xml);
	virDomainFree(dom);
}

static int run_inject(struct watch_worker *wk, bool nmi, const char *action)
{
	struct dg_watch *w = wk->w;
	const struct dg_watch_config *wc = dg_config_watch(wk->cfg);
	struct inject_log_ctx lc = { w, wk->name };
	struct dg_inject_opts o = {
		.dest = wk->dest[0] ? wk->dest : NULL,
		.config = wk->cfg,
		.cancel = &w->cancel,
		.nmi = nmi,
		.capture = true,
		.timeout = wc->panic_timeout,
		.trigger = "watch",
		.log = inject_log,
		.log_userdata = &lc,
	};
	struct dg_dump_record rec;
	struct dg_error err = { 0 };
	int r;

	dg_record_init(&rec, "watch");
	r = dg_inject(w->lv, wk->uuid, &o, &rec, &err);
	if (rec.panic_seen)
		wk->panic_seen = true;
	wk->nmi_sent |= rec.nmi_sent;
	wk->captured |= rec.captured;
	if (r == 0)
		wk->dom_id = rec.domain_id;
	if (r == 0) {
		watch_log(w, DG_LOG_INFO, "%s: %s done: %s%s", wk->name, action, rec.path[0] ? rec.path : rec.dest,
			  !nmi ? "" : rec.panic_seen ? " (NMI sent, panic seen)" : " (NMI sent, no panic seen)");
		watch_audit(w, action, wk->name, "watch", wk->evidence, DG_AUDIT_OK, NULL, &rec);
	} else {
		watch_log(w, DG_LOG_WARNING, "%s: %s failed: %s", wk->name, action, err.message);
		watch_audit(w, action, wk->name, "watch", wk->evidence, dg_audit_result_from_status(-r), err.message,
			    &rec);
	}
	return r;
}

static void *worker_main(void *arg)
{
	struct watch_worker *wk = arg;
	const struct dg_watch_config *wc = dg_config_watch(wk->cfg);
	int r = 0;

	if (wk->kind == WATCH_ACT_INJECT && wc->capture_before_nmi) {
		/* The hung state itself is often the better evidence: the NMI changes what the vCPUs were doing. */
		r = run_inject(wk, false, "capture");
	}
	if (r == 0 || wk->kind == WATCH_ACT_INJECT)
		r = run_inject(wk, wk->kind == WATCH_ACT_INJECT, wk->kind == WATCH_ACT_INJECT ? "inject" : "capture");
	/* A failed capture keeps the guest as it is: its memory may still be wanted. */
	if (r == 0 && !wk->w->cancel)
		after_action(wk, wc);
	dg_brakes_release(wk->w->brakes);
	/* No NMI left and nothing was captured (the guest vanished, libvirt refused): another watcher may act. */
	if (r < 0 && !wk->nmi_sent && !wk->captured && wk->w->fleet && wk->claim.lease)
		dg_fleet_unclaim(wk->w->fleet, &wk->claim, NULL);
	pthread_mutex_lock(&wk->w->lock);
	wk->r = r;
	wk->done = true;
	pthread_cond_broadcast(&wk->w->cond);
	pthread_mutex_unlock(&wk->w->lock);
	return NULL;
}

int watch_act_start(struct dg_watch *w, enum watch_act_kind kind, const char *name, const char *uuid,
		    const char *evidence, const char *dest, const struct dg_fleet_claim *claim)
{
	struct watch_worker *wk = calloc(1, sizeof(*wk)), **list;

	if (!wk)
		return -DG_FAILED;
	list = realloc(w->workers, (w->nworkers + 1) * sizeof(*list));
	if (!list) {
		free(wk);
		return -DG_FAILED;
	}
	w->workers = list;
	wk->w = w;
	wk->kind = kind;
	wk->cfg = w->cfg;
	wk->dom_id = -1;
	snprintf(wk->name, sizeof(wk->name), "%s", name);
	snprintf(wk->uuid, sizeof(wk->uuid), "%s", uuid);
	snprintf(wk->evidence, sizeof(wk->evidence), "%s", evidence);
	snprintf(wk->dest, sizeof(wk->dest), "%s", dest ? dest : "");
	if (claim)
		wk->claim = *claim;
	if (pthread_create(&wk->thread, NULL, worker_main, wk) != 0) {
		free(wk);
		return -DG_FAILED;
	}
	w->workers[w->nworkers++] = wk;
	return 0;
}
