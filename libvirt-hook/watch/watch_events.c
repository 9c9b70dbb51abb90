/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The watcher's events: libvirt's (lifecycle, watchdog, metadata, a closed connection) on libvirt's event thread
 * and the libvirt hook's messages on a socket thread of their own only queue them; the loop's thread takes them
 * from the queue and handles them here, changing the domain table (watch_domains.c). */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "diagint/clock.h"
#include "diagint/responder.h"
#include "watch/watch-internal.h"

/* Not a libvirt event id: a message from the libvirt hook (event: 1 started, 0 stopped/released). */
#define EVENT_ID_HOOK (-1)

/* ---- events (libvirt's event thread, the hook's socket thread) ---- */

static void queue_raw(struct watch_loop *l, int id, int event, int detail, const char *name, const char *uuid)
{
	struct watch_event *e = calloc(1, sizeof(*e));

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

static void queue_event(struct watch_loop *l, virDomainPtr dom, int id, int event, int detail)
{
	char uuid[VIR_UUID_STRING_BUFLEN];

	if (virDomainGetUUIDString(dom, uuid) < 0)
		uuid[0] = '\0';
	queue_raw(l, id, event, detail, virDomainGetName(dom), uuid);
}

/* The hook's messages, "OP UUID NAME", on a thread of their own (a blocking read with a short timeout). */
static void *sock_main(void *arg)
{
	struct watch_loop *l = arg;
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

void watch_sock_open(struct watch_loop *l)
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

void watch_sock_close(struct watch_loop *l)
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
	struct watch_loop *l = opaque;

	(void)conn;
	(void)reason;
	pthread_mutex_lock(&l->w->lock);
	l->conn_lost = true;
	pthread_cond_broadcast(&l->w->cond);
	pthread_mutex_unlock(&l->w->lock);
}

/* ---- the connection's events ---- */

bool watch_events_subscribe(struct watch_loop *l)
{
	virConnectPtr conn = dg_lv_conn(l->w->lv);

	l->cb_life = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
						      VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), l, NULL);
	l->cb_wd = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_WATCHDOG,
						    VIR_DOMAIN_EVENT_CALLBACK(on_watchdog), l, NULL);
	/* Older daemons lack the metadata event: then a metadata change takes effect at the next (re)start. */
	l->cb_meta = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_METADATA_CHANGE,
						      VIR_DOMAIN_EVENT_CALLBACK(on_metadata), l, NULL);
	l->close_cb = virConnectRegisterCloseCallback(conn, on_close, l, NULL) == 0;
	return l->cb_life >= 0 && l->cb_wd >= 0;
}

void watch_events_unsubscribe(struct watch_loop *l)
{
	virConnectPtr conn = dg_lv_conn(l->w->lv);

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
}

struct watch_event *watch_events_take(struct watch_loop *l)
{
	struct watch_event *e;

	pthread_mutex_lock(&l->w->lock);
	e = l->head;
	if (e) {
		l->head = e->next;
		if (!l->head)
			l->tail = &l->head;
	}
	pthread_mutex_unlock(&l->w->lock);
	return e;
}

void watch_events_clear(struct watch_loop *l)
{
	struct watch_event *e;

	pthread_mutex_lock(&l->w->lock);
	l->conn_lost = false;
	while ((e = l->head)) {
		l->head = e->next;
		free(e);
	}
	l->tail = &l->head;
	pthread_mutex_unlock(&l->w->lock);
}

/* ---- events (the loop's thread) ---- */

void watch_event_handle(struct watch_loop *l, const struct watch_event *e)
{
	struct dg_watch *w = l->w;
	struct watch_dom *d = watch_dom_find(l, e->uuid);

	if (e->id == EVENT_ID_HOOK) {
		if (!d)
			for (size_t i = 0; i < l->ndoms && !d; i++)
				if (!strcmp(l->doms[i].name, e->name))
					d = &l->doms[i];
		if (e->event)
			watch_dom_started(l, e->uuid, e->name, "told by the hook");
		else if (d)
			watch_dom_stopped(l, d, "told by the hook");
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
				watch_dom_started(l, e->uuid, e->name, "its metadata changed");
		} else if (!watch_dom_load_meta(l, dom, d->name, &m)) {
			watch_log(w, DG_LOG_INFO, "%s: its metadata now says enabled=\"no\"", d->name);
			watch_dom_stopped(l, d, "disabled by its metadata");
		} else {
			d->meta = m;
			dg_brakes_set_cooldown(w->brakes, d->name, m.cooldown);
			watch_log(w, DG_LOG_INFO, "%s: metadata changed; its policy is read again", d->name);
			if (virDomainGetState(dom, &state, NULL, 0) == 0 && state != VIR_DOMAIN_CRASHED && !d->busy)
				watch_dom_start_probes(l, d, dom);
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
		watch_dom_request(d, w->wc.on_watchdog == DG_WATCH_REACT_INJECT ? WATCH_ACT_INJECT : WATCH_ACT_CAPTURE,
			"the guest's watchdog fired (libvirt WATCHDOG event, action %d)", e->event);
		return;
	}
	switch (e->event) {
	case VIR_DOMAIN_EVENT_STARTED:
		watch_dom_started(l, e->uuid, e->name, "libvirt event");
		return;
	case VIR_DOMAIN_EVENT_STOPPED:
		if (d)
			watch_dom_stopped(l, d, "libvirt event");
		return;
	case VIR_DOMAIN_EVENT_CRASHED:
		if (!d || d->busy || d->crash_handled) {
			if (d) {
				d->crash_handled = true; /* our own NMI's panic, or one already captured */
				watch_dom_stop_probes(l, d);
			}
			return;
		}
		d->crash_handled = true;
		watch_dom_stop_probes(l, d);
		if (w->wc.on_panic == DG_WATCH_REACT_IGNORE) {
			watch_log(w, DG_LOG_INFO, "%s: panicked (CRASHED event, detail %d); OnPanic = ignore: not "
				  "capturing it", d->name, e->detail);
			return;
		}
		watch_log(w, DG_LOG_WARNING, "%s: panicked (CRASHED event, detail %d); capturing it", d->name,
			  e->detail);
		watch_dom_request(d, WATCH_ACT_CAPTURE, "the guest panicked (libvirt CRASHED event, detail %d)", e->detail);
		d->from_panic_event = true;
		return;
	default:
		return; /* SUSPENDED/RESUMED around every dump, DEFINED, ...: nothing to do */
	}
}

