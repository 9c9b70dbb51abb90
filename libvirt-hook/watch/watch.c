/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The watcher's loop: connect (and reconnect with backoff), subscribe to LIFECYCLE and WATCHDOG events,
 * keep the table of watched domains, run the probes, hand suspected hangs to the responder (responder.h: the
 * brakes, the record before the action, the reports), which starts actions through watch_act.c.
 *
 * libvirt calls our event callbacks on its event thread (lv.c); they only queue the event, so everything
 * else happens on this one thread and the domain table needs no lock. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <time.h>

#include "diagint/clock.h"
#include "diagint/audit_query.h"
#include "diagint/doctor.h"
#include "diagint/responder.h"
#include "watch/watch_meta.h"
#include "watch/watch-internal.h"

#define TICK 0.25 /* seconds: how often signals, the queue and due probes are looked at */
/* Not a libvirt event id: a message from the libvirt hook (event: 1 started, 0 stopped/released). */
#define EVENT_ID_HOOK (-1)
/* The watcher's two detectors, for the responder: only the one that started an episode counts hits in it. */
enum { WATCH_SRC_PROBES = 1, WATCH_SRC_WATCHDOG = 2 };

struct wprobe {
	struct dg_probe p;
	bool armed;          /* seen alive once: misses count only from then (boot takes a while) */
	unsigned misses;
	double first_miss;   /* monotonic time of the first miss of the current run */
};

struct wdom {
	char name[256];
	char uuid[VIR_UUID_STRING_BUFLEN];
	bool seen;           /* found by the latest discovery */
	bool busy;           /* an action runs on it */
	bool gone;           /* stopped while busy: dropped when the action ends */
	bool crash_handled;  /* this crash is captured (or ours): until it starts again */
	bool pending;
	bool from_panic_event; /* the pending capture answers a CRASHED event (someone may be capturing already) */
	enum watch_act_kind pending_kind;
	char evidence[512];
	/* the active probes (heartbeat, cputime, agent): a hang is every armed one missing `need` times in a row */
	struct wprobe probes[3];
	unsigned nprobes;
	virDomainPtr dom;    /* held while probing: its state decides whether a miss counts */
	bool paused_said;
	double next_probe;
	double interval;     /* this domain's probe interval and misses ([watch] or its metadata) */
	unsigned need;
	struct dg_watch_meta meta;
	struct dg_episode ep; /* the hang the probes or the watchdog reported, in the responder's hands */
};

struct event {
	struct event *next;
	int id; /* VIR_DOMAIN_EVENT_ID_LIFECYCLE / _WATCHDOG */
	int event, detail;
	char name[256];
	char uuid[VIR_UUID_STRING_BUFLEN];
};

struct loop {
	struct dg_watch *w;
	struct wdom *doms;
	size_t ndoms;
	struct event *head, **tail; /* under w->lock */
	bool conn_lost;             /* under w->lock */
	int cb_life, cb_wd, cb_meta;
	bool close_cb;
	double next_connect;
	double backoff;
	bool said_waiting;
	int sock_fd;          /* the hook's datagrams; -1: none */
	pthread_t sock_thread;
	bool sock_running;
	volatile bool quit;
	struct watch_doctor *doctor; /* readiness checks, started at the first connect */
	struct dg_vcpu_sampler *sampler; /* vCPU time of every domain in one call, for the cputime probes */
};

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

/* ---- events (libvirt's event thread) ---- */

static void queue_raw(struct loop *l, int id, int event, int detail, const char *name, const char *uuid)
{
	struct event *e = calloc(1, sizeof(*e));

	if (!e)
		return;
	e->id = id;
	e->event = event;
	e->detail = detail;
	snprintf(e->name, sizeof(e->name), "%s", name ? name : "");
	snprintf(e->uuid, sizeof(e->uuid), "%s", uuid ? uuid : "");
	pthread_mutex_lock(&l->w->lock);
	*l->tail = e;
	l->tail = &e->next;
	pthread_cond_broadcast(&l->w->cond);
	pthread_mutex_unlock(&l->w->lock);
}

static void queue_event(struct loop *l, virDomainPtr dom, int id, int event, int detail)
{
	char uuid[VIR_UUID_STRING_BUFLEN];

	if (virDomainGetUUIDString(dom, uuid) < 0)
		uuid[0] = '\0';
	queue_raw(l, id, event, detail, virDomainGetName(dom), uuid);
}

/* The hook's messages, "OP UUID NAME", on a thread of their own (a blocking read with a short timeout). */
static void *sock_main(void *arg)
{
	struct loop *l = arg;
	char buf[600];

	while (!l->quit) {
		ssize_t n = recv(l->sock_fd, buf, sizeof(buf) - 1, 0);
		char op[16], uuid[VIR_UUID_STRING_BUFLEN];
		int off = 0;

		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (sscanf(buf, "%15s %36s %n", op, uuid, &off) < 2 || !off || !buf[off])
			continue;
		queue_raw(l, EVENT_ID_HOOK, !strcmp(op, "started"), 0, buf + off, strcmp(uuid, "-") ? uuid : "");
	}
	return NULL;
}

static void sock_open(struct loop *l)
{
	struct dg_watch *w = l->w;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 0, .tv_usec = 250000 };
	char dir[sizeof(sa.sun_path)];

	l->sock_fd = -1;
	if (!w->wc.socket[0])
		return;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", w->wc.socket);
	snprintf(dir, sizeof(dir), "%s", w->wc.socket);
	mkdir(dirname(dir), 0700); /* /run/diagint: root's; the hook runs as root */
	unlink(sa.sun_path);
	l->sock_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (l->sock_fd < 0 || bind(l->sock_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    setsockopt(l->sock_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		watch_log(w, DG_LOG_WARNING, "cannot listen for the libvirt hook on %s: %s; relying on events only",
			  w->wc.socket, strerror(errno));
		if (l->sock_fd >= 0)
			close(l->sock_fd);
		l->sock_fd = -1;
		return;
	}
	chmod(sa.sun_path, 0600);
	l->sock_running = pthread_create(&l->sock_thread, NULL, sock_main, l) == 0;
}

static void sock_close(struct loop *l)
{
	l->quit = true;
	if (l->sock_running)
		pthread_join(l->sock_thread, NULL);
	l->sock_running = false;
	if (l->sock_fd >= 0) {
		close(l->sock_fd);
		unlink(l->w->wc.socket);
	}
	l->sock_fd = -1;
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	(void)conn;
	queue_event(opaque, dom, VIR_DOMAIN_EVENT_ID_LIFECYCLE, event, detail);
	return 0;
}

static int on_watchdog(virConnectPtr conn, virDomainPtr dom, int action, void *opaque)
{
	(void)conn;
	queue_event(opaque, dom, VIR_DOMAIN_EVENT_ID_WATCHDOG, action, 0);
	return 0;
}

static void on_metadata(virConnectPtr conn, virDomainPtr dom, int type, const char *nsuri, void *opaque)
{
	(void)conn;
	if (type == VIR_DOMAIN_METADATA_ELEMENT && nsuri && !strcmp(nsuri, DG_WATCH_META_NS))
		queue_event(opaque, dom, VIR_DOMAIN_EVENT_ID_METADATA_CHANGE, 0, 0);
}

static void on_close(virConnectPtr conn, int reason, void *opaque)
{
	struct loop *l = opaque;

	(void)conn;
	(void)reason;
	pthread_mutex_lock(&l->w->lock);
	l->conn_lost = true;
	pthread_cond_broadcast(&l->w->cond);
	pthread_mutex_unlock(&l->w->lock);
}

/* ---- the domain table ---- */

static struct wdom *find_dom(struct loop *l, const char *uuid)
{
	for (size_t i = 0; i < l->ndoms; i++)
		if (!strcmp(l->doms[i].uuid, uuid))
			return &l->doms[i];
	return NULL;
}

/* Seen alive (or gone): the hang episode, whoever started it, is over. True when it had a decision. */
static bool end_episode(struct dg_watch *w, struct wdom *d)
{
	bool had = false;

	if (!w->responder)
		return false;
	had |= dg_responder_alive(w->responder, &d->ep, WATCH_SRC_PROBES);
	had |= dg_responder_alive(w->responder, &d->ep, WATCH_SRC_WATCHDOG);
	return had;
}

static void stop_probe(struct loop *l, struct wdom *d)
{
	for (unsigned i = 0; i < d->nprobes; i++)
		dg_probe_free(&d->probes[i].p);
	d->nprobes = 0;
	if (d->dom)
		virDomainFree(d->dom);
	d->dom = NULL;
	d->paused_said = false;
	end_episode(l->w, d);
	watch_set_suspect(l->w, d->name, d->uuid, false);
}

/* What the probes need from the domain's XML (the serial log file, the agent channel), as the doctor reads it. */
static void xml_facts(virDomainPtr dom, struct dg_domxml *x)
{
	char *xml = virDomainGetXMLDesc(dom, 0);
	struct dg_error err = { 0 };

	if (!xml || dg_domxml_parse(xml, x, &err) < 0)
		memset(x, 0, sizeof(*x)); /* no file, no channel: the probes that need them say so and stay off */
	free(xml);
}

static bool add_probe(struct wdom *d, int r, struct dg_probe *p)
{
	if (r < 0)
		return false;
	memset(&d->probes[d->nprobes], 0, sizeof(d->probes[0]));
	d->probes[d->nprobes++].p = *p;
	return true;
}

static void start_probe(struct loop *l, struct wdom *d, virDomainPtr dom)
{
	struct dg_watch *w = l->w;
	struct dg_error err = { 0 };
	struct dg_probe p;
	const char *pattern = d->meta.heartbeat_set ? d->meta.heartbeat : w->wc.heartbeat;
	unsigned mask = d->meta.probes_set ? d->meta.probes : dg_watch_config_probes(&w->wc, d->name);
	struct dg_domxml x;
	char kinds[64];

	stop_probe(l, d);
	/* The domain's own metadata wins over [watch]; heartbeat="TEXT" alone turns its probe on, "" off. */
	if (d->meta.heartbeat_set && !d->meta.probes_set)
		mask = pattern[0] ? mask | DG_PROBE_HEARTBEAT : mask & ~(unsigned)DG_PROBE_HEARTBEAT;
	d->interval = d->meta.probe_interval > 0 ? d->meta.probe_interval : w->wc.probe_interval;
	d->need = d->meta.probe_misses ? d->meta.probe_misses : w->wc.probe_misses;
	if (!mask)
		return;
	xml_facts(dom, &x);
	if ((mask & DG_PROBE_HEARTBEAT) && !pattern[0]) {
		watch_log(w, DG_LOG_WARNING, "%s: heartbeat probe off: no text to look for (set Heartbeat in [watch] or "
			  "heartbeat=\"...\" in its metadata)", d->name);
		mask &= ~(unsigned)DG_PROBE_HEARTBEAT;
	}
	if ((mask & DG_PROBE_HEARTBEAT) && !x.serial_log[0]) {
		watch_log(w, DG_LOG_WARNING,
			  "%s: no <serial type='file'> log in its definition: heartbeat probe off for it", d->name);
		mask &= ~(unsigned)DG_PROBE_HEARTBEAT;
	}
	if ((mask & DG_PROBE_AGENT) && !x.agent_channel) {
		watch_log(w, DG_LOG_WARNING, "%s: no guest agent channel in its definition: agent probe off for it (add "
			  "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel> and run "
			  "qemu-guest-agent in the guest)", d->name);
		mask &= ~(unsigned)DG_PROBE_AGENT;
	}
	if (mask & DG_PROBE_HEARTBEAT) {
		if (add_probe(d, dg_probe_heartbeat_new(x.serial_log, pattern, &p, &err), &p))
			watch_log(w, DG_LOG_INFO, "%s: heartbeat probe on %s ('%s' every %.3g s, hang after %u misses)",
				  d->name, x.serial_log, pattern, d->interval, d->need);
		else
			watch_log(w, DG_LOG_WARNING, "%s: heartbeat probe off: %s", d->name, err.message);
	}
	if (mask & DG_PROBE_CPUTIME) {
		uint64_t min_ns = (uint64_t)(w->wc.cputime_min * 1e9);
		if (add_probe(d, l->sampler ? dg_probe_cputime_sampled_new(l->sampler, dom, min_ns, &p, &err)
					    : dg_probe_cputime_new(dom, min_ns, &p, &err), &p))
			watch_log(w, DG_LOG_INFO, "%s: cputime probe on (its vCPUs must use more than %.3g ms of CPU time "
				  "every %.3g s, hang after %u misses)%s", d->name, w->wc.cputime_min * 1e3, d->interval,
				  d->need, d->interval * d->need < 10 ? "; libvirt counts vCPU time in 10 ms steps: with a "
				  "window under 10 s a very idle guest can look hung (15 s or more is safer)" : "");
		else
			watch_log(w, DG_LOG_WARNING, "%s: cputime probe off: %s", d->name, err.message);
	}
	if (mask & DG_PROBE_AGENT) {
		int timeout = (int)fmin(w->wc.agent_timeout, fmax(1, ceil(d->interval)));
		if (add_probe(d, dg_probe_agent_new(dom, timeout, &p, &err), &p))
			watch_log(w, DG_LOG_INFO, "%s: agent probe on (guest-ping answered within %d s, every %.3g s, hang "
				  "after %u misses)%s", d->name, timeout, d->interval, d->need,
				  mask == DG_PROBE_AGENT ? "; alone a weak signal: a stopped or starved agent looks like a "
				  "hung guest (libvirt#590), combine it with cputime or heartbeat" : "");
		else
			watch_log(w, DG_LOG_WARNING, "%s: agent probe off: %s", d->name, err.message);
	}
	if (!d->nprobes)
		return;
	if (virDomainRef(dom) == 0)
		d->dom = dom;
	if (d->nprobes > 1)
		watch_log(w, DG_LOG_INFO, "%s: probes %s: a hang needs every one of them to miss %u times in a row",
			  d->name, dg_probe_kinds_format(mask, kinds, sizeof(kinds)), d->need);
	/* The first look only takes a baseline (where the log ends, the vCPU time now, the first ping). */
	for (unsigned i = 0; i < d->nprobes; i++)
		dg_probe_check(&d->probes[i].p, &err);
	/* On a grid of the interval, not from now: every domain with the same interval is looked at in the same
	 * tick, so their cputime probes share one libvirt call. */
	d->next_probe = (floor(dg_clock_mono() / d->interval) + 1) * d->interval;
}

/* The domain's <metadata> policy. Returns false when it says enabled="no". A bad element is reported and
 * ignored: the domain is then watched with the configuration file's settings. */
static bool load_meta(struct loop *l, virDomainPtr dom, const char *name, struct dg_watch_meta *m)
{
	char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, DG_WATCH_META_NS, 0);
	char e[512];

	if (dg_watch_meta_parse(xml, m, e, sizeof(e)) < 0)
		watch_log(l->w, DG_LOG_WARNING, "%s: bad diagint metadata (%s): %s; using the configuration file's "
			  "settings for it", name, DG_WATCH_META_NS, e);
	free(xml);
	return m->enabled;
}

static void request(struct wdom *d, enum watch_act_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void request(struct wdom *d, enum watch_act_kind kind, const char *fmt, ...)
{
	va_list ap;

	if (d->pending && d->pending_kind == WATCH_ACT_INJECT)
		return; /* an interrupt already asked for covers a capture too */
	d->pending = true;
	d->pending_kind = kind;
	va_start(ap, fmt);
	vsnprintf(d->evidence, sizeof(d->evidence), fmt, ap);
	va_end(ap);
}

static struct wdom *add_dom(struct loop *l, virDomainPtr dom, bool *added)
{
	char uuid[VIR_UUID_STRING_BUFLEN];
	const char *name = virDomainGetName(dom);
	struct dg_watch_meta meta;
	struct wdom *d;

	*added = false;
	if (!name || virDomainGetUUIDString(dom, uuid) < 0)
		return NULL;
	if (!dg_watch_glob_match(l->w->wc.domains, name))
		return NULL;
	d = find_dom(l, uuid);
	if (d)
		return d;
	if (!load_meta(l, dom, name, &meta)) {
		watch_log(l->w, DG_LOG_INFO, "%s: its metadata says enabled=\"no\": not watching it", name);
		return NULL;
	}
	d = realloc(l->doms, (l->ndoms + 1) * sizeof(*d));
	if (!d)
		return NULL;
	l->doms = d;
	d = &l->doms[l->ndoms++];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->uuid, sizeof(d->uuid), "%s", uuid);
	d->meta = meta;
	dg_brakes_set_cooldown(l->w->brakes, d->name, meta.cooldown);
	watch_fleet_watched(l->w, d->uuid, true);
	*added = true;
	watch_doctor_enqueue(l->doctor, d->name);
	return d;
}

static void remove_dom(struct loop *l, struct wdom *d)
{
	if (d->busy) {
		d->gone = true; /* its worker still refers to it by UUID; dropped when the action ends */
		return;
	}
	stop_probe(l, d);
	watch_fleet_watched(l->w, d->uuid, false);
	*d = l->doms[--l->ndoms];
}

static void update_watched(struct loop *l)
{
	dg_brakes_set_watched(l->w->brakes, (unsigned)l->ndoms);
}

/* Every running domain: new ones are watched, vanished ones dropped, crashed ones captured (they crashed while
 * we were not connected: no event will ever tell us). */
static void discover(struct loop *l, bool reset_probes)
{
	struct dg_watch *w = l->w;
	virDomainPtr *list = NULL;
	int n = virConnectListAllDomains(dg_lv_conn(w->lv), &list, VIR_CONNECT_LIST_DOMAINS_ACTIVE);

	if (n < 0) {
		struct dg_error err = { 0 };
		dg_lv_error(&err, DG_UNAVAILABLE, "cannot list domains");
		watch_log(w, DG_LOG_WARNING, "%s", err.message);
		return;
	}
	for (size_t i = 0; i < l->ndoms; i++)
		l->doms[i].seen = false;
	for (int i = 0; i < n; i++) {
		bool added;
		struct wdom *d = add_dom(l, list[i], &added);
		int state = 0, reason = 0;

		if (d) {
			d->seen = true;
			if (virDomainGetState(list[i], &state, &reason, 0) < 0)
				state = VIR_DOMAIN_NOSTATE;
			/* A crashed guest prints nothing: probing it would only raise the same hang again. */
			if ((added || reset_probes) && state != VIR_DOMAIN_CRASHED && !d->crash_handled)
				start_probe(l, d, list[i]);
			if (state == VIR_DOMAIN_CRASHED && !d->crash_handled &&
			    watch_handled_has(w, d->uuid, virDomainGetID(list[i])))
				d->crash_handled = true; /* captured before a restart of the watcher */
			if (state == VIR_DOMAIN_CRASHED &&
			    !d->crash_handled && !d->busy && w->wc.on_panic != DG_WATCH_REACT_IGNORE) {
				watch_log(w, DG_LOG_WARNING, "%s: found crashed (it panicked while we were not watching)",
					  d->name);
				request(d, WATCH_ACT_CAPTURE, "found in the crashed state on connect");
			}
		}
		virDomainFree(list[i]);
	}
	free(list);
	for (size_t i = 0; i < l->ndoms;) {
		if (!l->doms[i].seen && !l->doms[i].busy)
			remove_dom(l, &l->doms[i]);
		else
			i++;
	}
	update_watched(l);
	watch_log(w, DG_LOG_INFO, "watching %zu running domain%s", l->ndoms, l->ndoms == 1 ? "" : "s");
}

/* ---- connection ---- */

static void disconnect(struct loop *l)
{
	struct dg_watch *w = l->w;
	virConnectPtr conn;
	struct event *e;

	if (!w->lv)
		return;
	conn = dg_lv_conn(w->lv);
	if (l->cb_life >= 0)
		virConnectDomainEventDeregisterAny(conn, l->cb_life);
	if (l->cb_wd >= 0)
		virConnectDomainEventDeregisterAny(conn, l->cb_wd);
	if (l->cb_meta >= 0)
		virConnectDomainEventDeregisterAny(conn, l->cb_meta);
	if (l->close_cb)
		virConnectUnregisterCloseCallback(conn, on_close);
	l->cb_life = l->cb_wd = l->cb_meta = -1;
	l->close_cb = false;
	/* The probes hold domains of this connection: they start again, from a new baseline, after the reconnect. */
	for (size_t i = 0; i < l->ndoms; i++)
		stop_probe(l, &l->doms[i]);
	dg_vcpu_sampler_unref(l->sampler);
	l->sampler = NULL;
	dg_lv_free(w->lv);
	w->lv = NULL;
	pthread_mutex_lock(&w->lock);
	l->conn_lost = false;
	while ((e = l->head)) {
		l->head = e->next;
		free(e);
	}
	l->tail = &l->head;
	pthread_mutex_unlock(&w->lock);
}

static void try_connect(struct loop *l)
{
	struct dg_watch *w = l->w;
	struct dg_error err = { 0 };
	virConnectPtr conn;

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
	conn = dg_lv_conn(w->lv);
	l->cb_life = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
						      VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), l, NULL);
	l->cb_wd = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_WATCHDOG,
						    VIR_DOMAIN_EVENT_CALLBACK(on_watchdog), l, NULL);
	/* Older daemons lack the metadata event: then a metadata change takes effect at the next (re)start. */
	l->cb_meta = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_METADATA_CHANGE,
						      VIR_DOMAIN_EVENT_CALLBACK(on_metadata), l, NULL);
	l->close_cb = virConnectRegisterCloseCallback(conn, on_close, l, NULL) == 0;
	if (l->cb_life < 0 || l->cb_wd < 0) {
		dg_lv_error(&err, DG_UNAVAILABLE, "cannot subscribe to domain events at %s", dg_lv_uri(w->lv));
		watch_log(w, DG_LOG_WARNING, "%s", err.message);
		disconnect(l);
		l->next_connect = dg_clock_mono() + l->backoff;
		l->backoff = fmin(l->backoff * 2, w->wc.reconnect_max);
		return;
	}
	/* Without it (out of memory) each cputime probe reads through a sampler of its own. */
	if (dg_vcpu_sampler_new(conn, TICK / 2, &l->sampler, &err) < 0)
		l->sampler = NULL;
	l->backoff = 1;
	l->said_waiting = false;
	watch_log(w, DG_LOG_INFO, "connected to %s; subscribed to lifecycle and watchdog events", dg_lv_uri(w->lv));
	notify(w, "STATUS=watching %s", dg_lv_uri(w->lv));
	discover(l, true);
}

/* ---- events (this thread) ---- */

/* From a STARTED event or the hook, whichever comes first (the hook runs before the start completes). */
static void dom_started(struct loop *l, const char *uuid, const char *name, const char *source)
{
	struct dg_watch *w = l->w;
	virDomainPtr dom = uuid[0] ? virDomainLookupByUUIDString(dg_lv_conn(w->lv), uuid)
				   : virDomainLookupByName(dg_lv_conn(w->lv), name);
	struct wdom *d;
	bool added;

	if (!dom)
		return;
	d = add_dom(l, dom, &added);
	if (d) {
		if (added)
			watch_log(w, DG_LOG_INFO, "%s: started; watching it (%s)", d->name, source);
		d->crash_handled = false;
		if (added || d->gone || !d->nprobes)
			start_probe(l, d, dom);
		d->gone = false;
		update_watched(l);
	}
	virDomainFree(dom);
}

static void dom_stopped(struct loop *l, struct wdom *d, const char *source)
{
	if (d->gone)
		return; /* said already (the hook's stopped and release, then libvirt's event) */
	watch_log(l->w, DG_LOG_INFO, "%s: stopped; no longer watching it (%s)", d->name, source);
	d->pending = false;
	remove_dom(l, d);
	update_watched(l);
}

static void handle_event(struct loop *l, const struct event *e)
{
	struct dg_watch *w = l->w;
	struct wdom *d = find_dom(l, e->uuid);

	if (e->id == EVENT_ID_HOOK) {
		if (!d)
			for (size_t i = 0; i < l->ndoms && !d; i++)
				if (!strcmp(l->doms[i].name, e->name))
					d = &l->doms[i];
		if (e->event)
			dom_started(l, e->uuid, e->name, "told by the hook");
		else if (d)
			dom_stopped(l, d, "told by the hook");
		return;
	}
	if (e->id == VIR_DOMAIN_EVENT_ID_METADATA_CHANGE) {
		virDomainPtr dom = virDomainLookupByUUIDString(dg_lv_conn(w->lv), e->uuid);
		struct dg_watch_meta m;
		int state = 0;

		if (!dom)
			return;
		if (!d) {
			/* Perhaps enabled again: watch it if it runs. */
			if (virDomainIsActive(dom) == 1)
				dom_started(l, e->uuid, e->name, "its metadata changed");
		} else if (!load_meta(l, dom, d->name, &m)) {
			watch_log(w, DG_LOG_INFO, "%s: its metadata now says enabled=\"no\"", d->name);
			dom_stopped(l, d, "disabled by its metadata");
		} else {
			d->meta = m;
			dg_brakes_set_cooldown(w->brakes, d->name, m.cooldown);
			watch_log(w, DG_LOG_INFO, "%s: metadata changed; its policy is read again", d->name);
			if (virDomainGetState(dom, &state, NULL, 0) == 0 && state != VIR_DOMAIN_CRASHED && !d->busy)
				start_probe(l, d, dom);
		}
		virDomainFree(dom);
		return;
	}
	if (e->id == VIR_DOMAIN_EVENT_ID_WATCHDOG) {
		if (!d || d->busy)
			return;
		if (w->wc.on_watchdog == DG_WATCH_REACT_IGNORE) {
			watch_log(w, DG_LOG_INFO, "%s: watchdog fired (action %d); OnWatchdog = ignore: not acting",
				  d->name, e->event);
			return;
		}
		watch_log(w, DG_LOG_WARNING, "%s: watchdog fired (action %d)", d->name, e->event);
		watch_set_suspect(w, d->name, d->uuid, true);
		/* A detector of its own (one event is enough), unless the probes' episode already runs. */
		if (d->ep.active && d->ep.source != WATCH_SRC_WATCHDOG ? dg_clock_mono() < d->ep.not_before :
		    !dg_responder_hit(w->responder, &d->ep, WATCH_SRC_WATCHDOG, 1, 0, "the guest's watchdog fired"))
			return;
		request(d, w->wc.on_watchdog == DG_WATCH_REACT_INJECT ? WATCH_ACT_INJECT : WATCH_ACT_CAPTURE,
			"the guest's watchdog fired (libvirt WATCHDOG event, action %d)", e->event);
		return;
	}
	switch (e->event) {
	case VIR_DOMAIN_EVENT_STARTED:
		dom_started(l, e->uuid, e->name, "libvirt event");
		return;
	case VIR_DOMAIN_EVENT_STOPPED:
		if (d)
			dom_stopped(l, d, "libvirt event");
		return;
	case VIR_DOMAIN_EVENT_CRASHED:
		if (!d || d->busy || d->crash_handled) {
			if (d) {
				d->crash_handled = true; /* our own NMI's panic, or one already captured */
				stop_probe(l, d);
			}
			return;
		}
		d->crash_handled = true;
		stop_probe(l, d);
		if (w->wc.on_panic == DG_WATCH_REACT_IGNORE) {
			watch_log(w, DG_LOG_INFO, "%s: panicked (CRASHED event, detail %d); OnPanic = ignore: not "
				  "capturing it", d->name, e->detail);
			return;
		}
		watch_log(w, DG_LOG_WARNING, "%s: panicked (CRASHED event, detail %d); capturing it", d->name,
			  e->detail);
		request(d, WATCH_ACT_CAPTURE, "the guest panicked (libvirt CRASHED event, detail %d)", e->detail);
		d->from_panic_event = true;
		return;
	default:
		return; /* SUSPENDED/RESUMED around every dump, DEFINED, ...: nothing to do */
	}
}

/* A miss counts only while the guest runs: a paused guest (virsh suspend, a migration, a snapshot) or one
 * suspended to RAM shows no sign of life and is not hung. */
static bool dom_running(struct wdom *d)
{
	int state = VIR_DOMAIN_NOSTATE;

	if (!d->dom || virDomainGetState(d->dom, &state, NULL, 0) < 0)
		return true; /* cannot tell: the misses decide, as they would without this check */
	return state == VIR_DOMAIN_RUNNING;
}

static void probe_round(struct loop *l, struct wdom *d, double now)
{
	struct dg_watch *w = l->w;
	unsigned armed = 0, missing = 0, least = UINT_MAX;
	double since = now;
	char why[384] = "";
	size_t off = 0;

	for (unsigned i = 0; i < d->nprobes; i++) {
		struct wprobe *p = &d->probes[i];
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
		end_episode(w, d);
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
		end_episode(w, d);
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
	request(d, WATCH_ACT_INJECT, "%s, %u consecutive checks (%.1f s)", why, least, now - since + d->interval);
}

static void run_probes(struct loop *l, double now)
{
	for (size_t i = 0; i < l->ndoms; i++) {
		struct wdom *d = &l->doms[i];

		if (!d->nprobes || d->busy || now < d->next_probe)
			continue;
		d->next_probe = (floor(now / d->interval) + 1) * d->interval; /* stays on the grid */
		probe_round(l, d, now);
	}
}

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
static bool operator_is_capturing(struct dg_watch *w, const struct wdom *d)
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
	struct wdom *d = req->data;
	bool interrupt = req->action == DG_BRAKES_INTERRUPT;

	if (watch_act_start(w, d->pending_kind, d->name, d->uuid, req->evidence, d->meta.destination) < 0) {
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

static void start_actions(struct loop *l)
{
	struct dg_watch *w = l->w;

	for (size_t i = 0; i < l->ndoms && w->lv; i++) {
		struct wdom *d = &l->doms[i];
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

static size_t reap_workers(struct loop *l)
{
	struct dg_watch *w = l->w;

	for (size_t i = 0; i < w->nworkers;) {
		struct watch_worker *wk = w->workers[i];
		bool done;
		struct wdom *d;

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
		d = find_dom(l, wk->uuid);
		if (d) {
			d->busy = false;
			/* Captured (and usually panicked): nothing to probe until it starts again. Restarted by the
			 * after-action: a new run, already picked up by its STARTED event. */
			if (!wk->restarted) {
				d->crash_handled = true;
				stop_probe(l, d);
			}
			if (d->gone) {
				remove_dom(l, d);
				update_watched(l);
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

static void reload(struct loop *l)
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
		discover(l, true);
}

/* ---- the loop ---- */

static void wait_tick(struct loop *l, double until)
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
			.ops = { .record = authorize, .act = act, .report = report },
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
	struct loop l = { .w = &w, .cb_life = -1, .cb_wd = -1, .cb_meta = -1, .backoff = 1, .sock_fd = -1 };
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
	sock_open(&l);
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
		for (;;) {
			struct event *e;
			pthread_mutex_lock(&w.lock);
			e = l.head;
			if (e) {
				l.head = e->next;
				if (!l.head)
					l.tail = &l.head;
			}
			pthread_mutex_unlock(&w.lock);
			if (!e)
				break;
			if (w.lv)
				handle_event(&l, e);
			free(e);
		}
		now = dg_clock_mono();
		if (w.lv) {
			run_probes(&l, now);
			start_actions(&l);
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
	sock_close(&l);
	for (size_t i = 0; i < l.ndoms; i++)
		stop_probe(&l, &l.doms[i]);
	free(l.doms);
	l.doms = NULL;
	l.ndoms = 0;
	disconnect(&l);
	{
		struct event *e;
		while ((e = l.head)) {
			l.head = e->next;
			free(e);
		}
	}
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
