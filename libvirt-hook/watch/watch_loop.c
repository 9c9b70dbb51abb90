/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The watcher's loop: connect (and reconnect with backoff), reload the configuration, and on each tick hand the
 * queued events (watch_events.c), the due probe rounds and the pending actions (watch_decide.c) their turn, then
 * reap the actions that ended (watch_act.c). The domain table is watch_domains.c's.
 *
 * libvirt calls our event callbacks on its event thread (lv.c); they only queue the event, so everything
 * else happens on this one thread and the domain table needs no lock. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diagint/clock.h"
#include "diagint/doctor.h"
#include "diagint/responder.h"
#include "watch/watch-internal.h"

#define TICK 0.25 /* seconds: how often signals, the queue and due probes are looked at */

static void notify(struct dg_watch *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notify(struct dg_watch *w, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!w->o.notify)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	w->o.notify(w->o.notify_userdata, buf);
}

static void disconnect(struct watch_loop *l)
{
	struct dg_watch *w = l->w;

	if (!w->lv)
		return;
	watch_events_unsubscribe(l);
	/* The probes hold domains of this connection: they start again, from a new baseline, after the reconnect. */
	for (size_t i = 0; i < l->ndoms; i++)
		watch_dom_stop_probes(l, &l->doms[i]);
	dg_vcpu_sampler_unref(l->sampler);
	l->sampler = NULL;
	dg_lv_free(w->lv);
	w->lv = NULL;
	watch_events_clear(l);
}

static void try_connect(struct watch_loop *l)
{
	struct dg_watch *w = l->w;
	struct dg_error err = { 0 };

	if (dg_clock_mono() < l->next_connect)
		return;
	if (dg_lv_open(w->o.uri, &w->lv, &err) < 0) {
		w->lv = NULL;
		if (!l->said_waiting)
			watch_log(w, DG_LOG_WARNING, "%s; retrying with backoff up to every %.3g s", err.message,
				  w->wc.reconnect_max);
		l->said_waiting = true;
		notify(w, "STATUS=waiting for libvirt");
		l->next_connect = dg_clock_mono() + l->backoff;
		l->backoff = fmin(l->backoff * 2, w->wc.reconnect_max);
		return;
	}
	if (!watch_events_subscribe(l)) {
		dg_lv_error(&err, DG_UNAVAILABLE, "cannot subscribe to domain events at %s", dg_lv_uri(w->lv));
		watch_log(w, DG_LOG_WARNING, "%s", err.message);
		disconnect(l);
		l->next_connect = dg_clock_mono() + l->backoff;
		l->backoff = fmin(l->backoff * 2, w->wc.reconnect_max);
		return;
	}
	/* Without it (out of memory) each cputime probe reads through a sampler of its own. */
	if (dg_vcpu_sampler_new(dg_lv_conn(w->lv), TICK / 2, &l->sampler, &err) < 0)
		l->sampler = NULL;
	l->backoff = 1;
	l->said_waiting = false;
	watch_log(w, DG_LOG_INFO, "connected to %s; subscribed to lifecycle and watchdog events", dg_lv_uri(w->lv));
	notify(w, "STATUS=watching %s", dg_lv_uri(w->lv));
	watch_discover(l, true);
}

static size_t reap_workers(struct watch_loop *l)
{
	struct dg_watch *w = l->w;

	for (size_t i = 0; i < w->nworkers;) {
		struct watch_worker *wk = w->workers[i];
		bool done;
		struct watch_dom *d;

		pthread_mutex_lock(&w->lock);
		done = wk->done;
		pthread_mutex_unlock(&w->lock);
		if (!done) {
			i++;
			continue;
		}
		pthread_join(wk->thread, NULL);
		/* A captured crash (a panic we saw or caused) is not captured again by a restarted watcher. */
		if (wk->r == 0 && (wk->panic_seen || wk->kind == WATCH_ACT_CAPTURE))
			watch_handled_add(w, wk->uuid, wk->dom_id);
		d = watch_dom_find(l, wk->uuid);
		if (d) {
			d->busy = false;
			/* Captured (and usually panicked): nothing to probe until it starts again. Restarted by the
			 * after-action: a new run, already picked up by its STARTED event. */
			if (!wk->restarted) {
				d->crash_handled = true;
				watch_dom_stop_probes(l, d);
			}
			if (d->gone) {
				watch_dom_remove(l, d);
				watch_dom_update_watched(l);
			}
		}
		w->workers[i] = w->workers[--w->nworkers];
		free(wk);
	}
	if (!w->nworkers) {
		for (size_t i = 0; i < w->nretired; i++)
			dg_config_free(w->retired[i]);
		w->nretired = 0;
	}
	return w->nworkers;
}


/* ---- configuration ---- */

static void reload(struct watch_loop *l)
{
	struct dg_watch *w = l->w;
	struct dg_config *cfg = NULL, **r;
	struct dg_error err = { 0 };
	const struct dg_watch_config *wc;

	if (dg_config_load(w->o.config_path, &cfg, &err) < 0) {
		watch_log(w, DG_LOG_WARNING, "reload refused, keeping the running configuration: %s", err.message);
		return;
	}
	wc = dg_config_watch(cfg);
	if (strcmp(wc->state_file, w->wc.state_file))
		watch_log(w, DG_LOG_WARNING, "StateFile changed: it takes effect at the next start");
	if (w->nworkers) {
		r = realloc(w->retired, (w->nretired + 1) * sizeof(*r));
		if (!r) {
			dg_config_free(cfg);
			watch_log(w, DG_LOG_WARNING, "reload refused: out of memory");
			return;
		}
		w->retired = r;
		w->retired[w->nretired++] = w->cfg;
	} else {
		dg_config_free(w->cfg);
	}
	w->cfg = cfg;
	{
		char keep[PATH_MAX];
		snprintf(keep, sizeof(keep), "%s", w->wc.state_file);
		w->wc = *wc;
		if (w->o.dry_run)
			w->wc.brakes.dry_run = true;
		snprintf(w->wc.state_file, sizeof(w->wc.state_file), "%s", keep);
	}
	dg_brakes_set_policy(w->brakes, &w->wc.brakes);
	dg_responder_set_interval(w->responder, w->wc.probe_interval);
	watch_log(w, DG_LOG_INFO, "configuration reloaded from %s",
		  dg_config_path(cfg) ? dg_config_path(cfg) : "built-in defaults");
	if (w->lv)
		watch_discover(l, true);
}

/* ---- the loop ---- */

static void wait_tick(struct watch_loop *l, double until)
{
	struct dg_watch *w = l->w;
	struct timespec ts;
	double secs = until - dg_clock_mono();

	if (secs > TICK)
		secs = TICK;
	if (secs <= 0)
		return;
	ts = dg_clock_deadline(CLOCK_REALTIME, secs);
	pthread_mutex_lock(&w->lock);
	if (!l->head && !l->conn_lost)
		pthread_cond_timedwait(&w->cond, &w->lock, &ts);
	pthread_mutex_unlock(&w->lock);
}

static int setup(struct dg_watch *w, struct dg_error *err)
{
	unsigned char key[1024];
	size_t keylen = 0;
	unsigned skipped = 0;
	int r;

	r = dg_config_load(w->o.config_path, &w->cfg, err);
	if (r < 0)
		return r;
	w->wc = *dg_config_watch(w->cfg);
	if (w->o.dry_run)
		w->wc.brakes.dry_run = true;
	/* Creates the state's directory and writes the state once: an unwritable StateFile fails the start. */
	r = dg_brakes_new(&w->wc.brakes, w->wc.state_file, NULL, NULL, &w->brakes,
			  &skipped, err);
	if (r == 0)
		r = watch_fleet_open(w, err);
	if (r < 0)
		return r;
	{
		struct dg_responder_opts ro = {
			.brakes = w->brakes,
			.interval = w->wc.probe_interval,
			.ops = watch_responder_ops,
			.userdata = w,
			.fleet = w->fleet,
		};
		r = dg_responder_new(&ro, &w->responder, err);
		if (r < 0)
			return r;
	}
	watch_handled_load(w);
	if (skipped)
		watch_log(w, DG_LOG_WARNING, "brake state %s: %u unreadable line%s skipped", w->wc.state_file, skipped,
			  skipped == 1 ? "" : "s");
	/* Automatic actions are recorded like anyone's: no usable audit log, no watcher. */
	r = dg_audit_key_load(NULL, key, sizeof(key), &keylen, err);
	if (r < 0)
		return r;
	r = dg_audit_log_open(dg_audit_path(NULL), keylen ? key : NULL, keylen, 0, &w->audit, err);
	if (r < 0)
		return r;
	return 0;
}

int dg_watch_run(const struct dg_watch_opts *o, struct dg_error *err)
{
	struct dg_watch w = { .o = *o };
	struct watch_loop l = { .w = &w, .cb_life = -1, .cb_wd = -1, .cb_meta = -1, .backoff = 1, .sock_fd = -1 };
	pthread_condattr_t ca;
	int r;

	l.tail = &l.head;
	pthread_mutex_init(&w.lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_REALTIME);
	pthread_cond_init(&w.cond, &ca);
	pthread_condattr_destroy(&ca);

	r = setup(&w, err);
	if (r < 0)
		goto out;
	watch_log(&w, DG_LOG_INFO, "watcher started (configuration: %s%s; brakes: cooldown %.0f s, %u actions per "
		  "%.0f s, storm above %.3g%%, %u capture%s at a time)",
		  dg_config_path(w.cfg) ? dg_config_path(w.cfg) : "built-in defaults",
		  w.wc.brakes.dry_run ? "; DRY RUN" : "", w.wc.brakes.cooldown, w.wc.brakes.max_actions,
		  w.wc.brakes.window, w.wc.brakes.storm_percent, w.wc.brakes.max_captures,
		  w.wc.brakes.max_captures == 1 ? "" : "s");
	watch_fleet_start(&w);
	watch_sock_open(&l);
	l.doctor = watch_doctor_start(&w);
	notify(&w, "READY=1");

	while (!(o->stop && *o->stop)) {
		double now = dg_clock_mono(), next = now + TICK;
		bool lost;

		if (o->reload && *o->reload) {
			*o->reload = 0;
			reload(&l);
		}
		if (!w.lv)
			try_connect(&l);
		pthread_mutex_lock(&w.lock);
		lost = l.conn_lost;
		pthread_mutex_unlock(&w.lock);
		if (w.lv && (lost || virConnectIsAlive(dg_lv_conn(w.lv)) != 1)) {
			/* Actions in flight fail fast on a dead connection; the connection is freed after them. */
			if (!reap_workers(&l)) {
				watch_log(&w, DG_LOG_WARNING, "lost the connection to %s; reconnecting",
					  dg_lv_uri(w.lv));
				notify(&w, "STATUS=reconnecting");
				disconnect(&l);
				l.next_connect = dg_clock_mono() + 1;
			}
		}
		for (struct watch_event *e; (e = watch_events_take(&l));) {
			if (w.lv)
				watch_event_handle(&l, e);
			free(e);
		}
		now = dg_clock_mono();
		if (w.lv) {
			watch_run_probes(&l, now);
			watch_start_actions(&l);
		}
		reap_workers(&l);
		for (size_t i = 0; i < l.ndoms; i++)
			if (l.doms[i].nprobes && l.doms[i].next_probe < next)
				next = l.doms[i].next_probe;
		if (!w.lv && l.next_connect < next)
			next = l.next_connect;
		wait_tick(&l, next);
	}

	watch_log(&w, DG_LOG_INFO, "stopping%s", w.nworkers ? ": aborting the captures in flight" : "");
	notify(&w, "STOPPING=1");
	w.cancel = 1;
	while (reap_workers(&l)) {
		pthread_mutex_lock(&w.lock);
		{
			struct timespec ts = dg_clock_deadline(CLOCK_REALTIME, 0.2);

			pthread_cond_timedwait(&w.cond, &w.lock, &ts);
		}
		pthread_mutex_unlock(&w.lock);
	}
	r = 0;
out:
	watch_doctor_stop(l.doctor);
	watch_sock_close(&l);
	for (size_t i = 0; i < l.ndoms; i++)
		watch_dom_stop_probes(&l, &l.doms[i]);
	free(l.doms);
	l.doms = NULL;
	l.ndoms = 0;
	disconnect(&l);
	watch_events_clear(&l);
	for (size_t i = 0; i < w.nretired; i++)
		dg_config_free(w.retired[i]);
	free(w.retired);
	free(w.workers);
	free(w.handled);
	dg_audit_log_free(w.audit);
	dg_responder_free(w.responder);
	dg_fleet_free(w.fleet); /* withdraws this watcher's storm entries */
	dg_brakes_free(w.brakes);
	dg_config_free(w.cfg);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return r;
}
