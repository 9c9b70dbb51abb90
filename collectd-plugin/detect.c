/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The collectd plugin's detection: collectd calls the write, missing and notification callbacks from its own
 * threads (main loop, write threads, unixsock connections); they only look up the host's targets and update
 * their episodes (the responder's hit counting) in memory under dg_cd.lock, and queue a target for the worker
 * (worker.c) when the responder says a decision is due. The read callback, once per interval, counts a lasting
 * silence and queues again the hangs whose refusal may have passed. */
#include "dg_cd.h"

/* The plugin's state (dg_cd.h), defined here, in the file the other two call. */
const char *const dg_cd_counter_names[DG_CD_NCOUNTERS] = {
	"sent", "failed", "suppressed-cooldown", "suppressed-rate", "suppressed-storm", "suppressed-busy",
	"dry_run", "dropped",
};

struct dg_cd_state dg_cd = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.request_timeout = 30,
	.retries = -1,
	.shutdown_timeout = 5,
	.queue_size = 1024,
	.check_at_start = true,
};

/* Evidence and messages are cut to their buffers on purpose (collectd's names are short, messages are not). */
void dg_cd_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* ---- host name maps: a lookup per dispatched value must stay cheap at 10,000 targets ---------------------- */

/* Every target of a host, in the configuration's order: one lookup per dispatched value. */
int dg_cd_maps_build(void)
{
	if (dg_strindex_new(dg_cd.n_targets, &dg_cd.by_host) < 0 || dg_strindex_new(dg_cd.n_targets, &dg_cd.by_ping) < 0)
		return -1;
	for (size_t i = 0; i < dg_cd.n_targets; i++) {
		struct dg_cd_target *t = &dg_cd.targets[i];
		dg_strindex_add(dg_cd.by_host, t->host, t);
		if (t->detect & DG_CD_DETECT_PING)
			dg_strindex_add(dg_cd.by_ping, t->ping_host, t);
	}
	return 0;
}

/* ---- detection (collectd's threads: memory only, under dg_cd.lock) ----------------------------------------- */

static void dg_cd_enqueue_locked(struct dg_cd_target *t)
{
	static bool complained;

	if (dg_workq_push(dg_cd.queue, (size_t)(t - dg_cd.targets)) >= 0)
		return;
	dg_cd.counters[DG_CD_DROPPED]++;
	if (!complained) {
		complained = true;
		WARNING(DG_CD_PLUGIN " plugin: the decision queue is full (QueueSize %u): %s waits for the next "
			"interval; raise QueueSize if this repeats.", dg_cd.queue_size, t->name);
	}
}

/* Tell the brakes whether t looks unhealthy now, only when that changed (their lookup is linear). */
static void dg_cd_mark_locked(struct dg_cd_target *t)
{
	bool want = t->ep.active || t->live.quiet;

	if (want != t->marked) {
		t->marked = want;
		dg_brakes_set_suspect(dg_cd.brakes, t->interrupt, want);
		dg_responder_fleet_set(dg_cd.responder, t->interrupt, true, want);
	}
}

/* One more sign that t hangs, counted by the responder. The first starts an episode and marks the target a
 * suspect for the storm brake; enough of them (Hits) queue it for a decision. */
static void dg_cd_hit_locked(struct dg_cd_target *t, unsigned source, const char *evidence)
{
	double now = dg_clock_real();
	bool start = !t->ep.active;
	char ev[sizeof(t->ep.evidence)], since[32];

	if (start) {
		dg_clock_iso_utc(now, since, sizeof(since));
		dg_cd_fmt(ev, sizeof(ev), "%s; detected at %s", evidence, since);
	}
	if (dg_responder_hit(dg_cd.responder, &t->ep, source, t->hits_needed, 0, start ? ev : NULL))
		dg_cd_enqueue_locked(t);
	if (start) {
		dg_cd.unhealthy++;
		dg_workq_activity(dg_cd.queue);
		dg_cd_mark_locked(t);
	}
}

static void dg_cd_recover_locked(struct dg_cd_target *t, unsigned source)
{
	if (!t->ep.active || t->ep.source != source)
		return;
	dg_cd.unhealthy--;
	if (dg_responder_alive(dg_cd.responder, &t->ep, source))
		INFO(DG_CD_PLUGIN " plugin: %s (%s) looks alive again.", t->name, t->host);
	dg_cd_mark_locked(t);
}

static void dg_cd_ping_value_locked(struct dg_cd_target *t, const value_list_t *vl)
{
	double v = vl->values[0].gauge;
	char ev[256];
	bool bad;

	if (!strcmp(vl->type, "ping")) {
		t->last_latency = v;
		return;
	}
	if (strcmp(vl->type, "ping_droprate") != 0)
		return;
	/* One verdict per ping round (the drop rate comes once per interval), so Hits counts intervals. */
	bad = isnan(v) || v > t->ping_max_droprate ||
	      (t->ping_max_latency > 0 && (isnan(t->last_latency) || t->last_latency > t->ping_max_latency));
	if (!bad) {
		dg_cd_recover_locked(t, DG_CD_DETECT_PING);
		return;
	}
	snprintf(ev, sizeof(ev), "ping %s from %s: drop rate %.2f (limit %.2f), latency %.1f ms (limit %s%.0f)",
		 t->ping_host, vl->host, v, t->ping_max_droprate, t->last_latency,
		 t->ping_max_latency > 0 ? "" : "none, ", t->ping_max_latency);
	dg_cd_hit_locked(t, DG_CD_DETECT_PING, ev);
}

int dg_cd_write(const data_set_t *ds, const value_list_t *vl, user_data_t *ud)
{
	struct dg_cd_target *t;
	double now = dg_clock_real();

	(void)ds;
	(void)ud;
	pthread_mutex_lock(&dg_cd.lock);
	for (size_t it = 0; (t = dg_strindex_next(dg_cd.by_host, vl->host, &it));) {
		if (dg_liveness_seen(&t->live, now, CDTIME_T_TO_DOUBLE(vl->interval)))
			dg_cd_mark_locked(t);
		dg_cd_recover_locked(t, DG_CD_DETECT_MISSING);
	}
	if ((dg_cd.detect_all & DG_CD_DETECT_PING) && !strcmp(vl->plugin, "ping") && vl->values_len == 1)
		for (size_t it = 0; (t = dg_strindex_next(dg_cd.by_ping, vl->type_instance, &it));)
			dg_cd_ping_value_locked(t, vl);
	pthread_mutex_unlock(&dg_cd.lock);
	return 0;
}

static void dg_cd_missing_seen(const char *host, const char *what, double now)
{
	struct dg_cd_target *t;
	char ev[768], last[32];

	for (size_t it = 0; (t = dg_strindex_next(dg_cd.by_host, host, &it));) {
		/* A silence counts only when nothing at all came from the host meanwhile: one stopped plugin on a
		 * live host is not a hang. */
		if (!(t->detect & DG_CD_DETECT_MISSING) || t->ep.active ||
		    !dg_liveness_silent(&t->live, now, CDTIME_T_TO_DOUBLE(plugin_get_interval())))
			continue;
		if (t->live.last_seen > 0) {
			dg_clock_iso_utc(t->live.last_seen, last, sizeof(last));
			dg_cd_fmt(ev, sizeof(ev), "%s; last value from %s at %s", what, host, last);
		} else {
			dg_cd_fmt(ev, sizeof(ev), "%s; no value from %s since this plugin started", what, host);
		}
		dg_cd_hit_locked(t, DG_CD_DETECT_MISSING, ev);
	}
}

/* Before a decision: which watched hosts have gone quiet (see DG_CD_QUIET). */
void dg_cd_scan_quiet_locked(double now)
{
	for (size_t i = 0; i < dg_cd.n_targets; i++) {
		struct dg_cd_target *t = &dg_cd.targets[i];

		if ((t->detect & DG_CD_DETECT_MISSING) &&
		    dg_liveness_update_quiet(&t->live, now, CDTIME_T_TO_DOUBLE(plugin_get_interval()), DG_CD_QUIET))
			dg_cd_mark_locked(t);
	}
}

int dg_cd_missing(const value_list_t *vl, user_data_t *ud)
{
	char ev[256];
	double now = dg_clock_real();

	(void)ud;
	dg_cd_fmt(ev, sizeof(ev), "values stopped: %s/%s%s%s/%s%s%s last updated %.1f s ago", vl->host, vl->plugin,
		 vl->plugin_instance[0] ? "-" : "", vl->plugin_instance, vl->type, vl->type_instance[0] ? "-" : "",
		 vl->type_instance, now - CDTIME_T_TO_DOUBLE(vl->time));
	pthread_mutex_lock(&dg_cd.lock);
	dg_cd_missing_seen(vl->host, ev, now);
	pthread_mutex_unlock(&dg_cd.lock);
	return 0;
}

int dg_cd_notification(const notification_t *n, user_data_t *ud)
{
	struct dg_cd_target *t;
	double now = dg_clock_real();
	char ev[512];

	(void)ud;
	if (!strcmp(n->plugin, DG_CD_PLUGIN))
		return 0; /* our own */
	dg_cd_fmt(ev, sizeof(ev), "notification %s host=%s plugin=%s type=%s: %s",
		 n->severity == NOTIF_FAILURE ? "FAILURE" : n->severity == NOTIF_WARNING ? "WARNING" : "OKAY", n->host,
		 n->plugin, n->type, n->message);
	pthread_mutex_lock(&dg_cd.lock);
	/* The threshold plugin's missing-value FAILURE comes once per silence; its OKAY follows the first value
	 * again, which the write callback has already seen. */
	if (n->severity == NOTIF_FAILURE && strstr(n->message, "has not been updated for"))
		dg_cd_missing_seen(n->host, ev, now);
	for (size_t it = 0; (t = dg_strindex_next(dg_cd.by_host, n->host, &it));) {
		if (!(t->detect & DG_CD_DETECT_NOTIF) || (t->notif_plugin && strcmp(t->notif_plugin, n->plugin)) ||
		    (t->notif_type && strcmp(t->notif_type, n->type)))
			continue;
		if (n->severity == NOTIF_OKAY)
			dg_cd_recover_locked(t, DG_CD_DETECT_NOTIF); /* an OKAY without a FAILURE before: nothing */
		else if (n->severity == NOTIF_FAILURE || t->notif_severity == NOTIF_WARNING)
			dg_cd_hit_locked(t, DG_CD_DETECT_NOTIF, ev);
	}
	pthread_mutex_unlock(&dg_cd.lock);
	return 0;
}

/* ---- values back into collectd ------------------------------------------------------------------------------- */

static void dg_cd_dispatch(const char *type, const char *type_instance, value_t v)
{
	value_list_t vl = VALUE_LIST_INIT;

	vl.values = &v;
	vl.values_len = 1;
	sstrncpy(vl.plugin, DG_CD_PLUGIN, sizeof(vl.plugin));
	sstrncpy(vl.type, type, sizeof(vl.type));
	sstrncpy(vl.type_instance, type_instance, sizeof(vl.type_instance));
	plugin_dispatch_values(&vl);
}

/* Once per interval: silence that lasts counts as further hits (Hits for Detect "missing" counts intervals),
 * a hang is asked about again while it lasts (responder.h), and the counters go out as values. */
int dg_cd_read(user_data_t *ud)
{
	uint64_t c[DG_CD_NCOUNTERS];
	double now = dg_clock_real();
	unsigned unhealthy;
	size_t qlen;

	(void)ud;
	pthread_mutex_lock(&dg_cd.lock);
	for (size_t i = 0; i < dg_cd.n_targets; i++) {
		struct dg_cd_target *t = &dg_cd.targets[i];
		if (!t->ep.active || dg_workq_queued(dg_cd.queue, i))
			continue;
		if (t->ep.source == DG_CD_DETECT_MISSING)
			dg_responder_count(dg_cd.responder, &t->ep, dg_liveness_intervals(&t->live, t->ep.since, now,
							CDTIME_T_TO_DOUBLE(plugin_get_interval())));
		/* Enough hits, or a refusal whose time to ask again has come (also a target a full queue turned away). */
		if (dg_responder_due(dg_cd.responder, &t->ep, t->hits_needed))
			dg_cd_enqueue_locked(t);
	}
	/* A storm is over when the share of unhealthy targets is back under the limit: the next one notifies. */
	if (dg_cd.storm_notified && 100.0 * dg_cd.unhealthy <= dg_cd.policy.storm_percent * (double)dg_cd.n_targets)
		dg_cd.storm_notified = false;
	memcpy(c, dg_cd.counters, sizeof(c));
	unhealthy = dg_cd.unhealthy;
	qlen = dg_workq_len(dg_cd.queue);
	pthread_mutex_unlock(&dg_cd.lock);

	for (int i = 0; i < DG_CD_NCOUNTERS; i++)
		dg_cd_dispatch("derive", dg_cd_counter_names[i], (value_t){ .derive = (derive_t)c[i] });
	dg_cd_dispatch("queue_length", "", (value_t){ .gauge = (gauge_t)qlen });
	dg_cd_dispatch("count", "unhealthy", (value_t){ .gauge = (gauge_t)unhealthy });
	return 0;
}

