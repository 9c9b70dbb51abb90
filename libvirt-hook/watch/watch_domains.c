/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The watcher's table of watched domains: which running domains it watches (discovery, started, stopped, their
 * metadata), the probes started and stopped on each, and the action a domain waits for. Runs on the loop's
 * thread only, so the table needs no lock. Calls nothing of the loop, events or decisions. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagint/clock.h"
#include "diagint/domxml.h"
#include "diagint/responder.h"
#include "watch/watch_meta.h"
#include "watch/watch-internal.h"

struct watch_dom *watch_dom_find(struct watch_loop *l, const char *uuid)
{
	for (size_t i = 0; i < l->ndoms; i++)
		if (!strcmp(l->doms[i].uuid, uuid))
			return &l->doms[i];
	return NULL;
}

/* Seen alive (or gone): the hang episode, whoever started it, is over. True when it had a decision. */
bool watch_dom_end_episode(struct dg_watch *w, struct watch_dom *d)
{
	bool had = false;

	if (!w->responder)
		return false;
	had |= dg_responder_alive(w->responder, &d->ep, WATCH_SRC_PROBES);
	had |= dg_responder_alive(w->responder, &d->ep, WATCH_SRC_WATCHDOG);
	return had;
}

void watch_dom_stop_probes(struct watch_loop *l, struct watch_dom *d)
{
	for (unsigned i = 0; i < d->nprobes; i++)
		dg_probe_free(&d->probes[i].p);
	d->nprobes = 0;
	if (d->dom)
		virDomainFree(d->dom);
	d->dom = NULL;
	d->paused_said = false;
	watch_dom_end_episode(l->w, d);
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

static bool add_probe(struct watch_dom *d, int r, struct dg_probe *p)
{
	if (r < 0)
		return false;
	memset(&d->probes[d->nprobes], 0, sizeof(d->probes[0]));
	d->probes[d->nprobes++].p = *p;
	return true;
}

void watch_dom_start_probes(struct watch_loop *l, struct watch_dom *d, virDomainPtr dom)
{
	struct dg_watch *w = l->w;
	struct dg_error err = { 0 };
	struct dg_probe p;
	const char *pattern = d->meta.heartbeat_set ? d->meta.heartbeat : w->wc.heartbeat;
	unsigned mask = d->meta.probes_set ? d->meta.probes : dg_watch_config_probes(&w->wc, d->name);
	struct dg_domxml x;
	char kinds[64];

	watch_dom_stop_probes(l, d);
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
bool watch_dom_load_meta(struct watch_loop *l, virDomainPtr dom, const char *name,
			 struct dg_watch_meta *m)
{
	char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, DG_WATCH_META_NS, 0);
	struct dg_error err = { 0 };

	if (dg_watch_meta_parse(xml, m, &err) < 0)
		watch_log(l->w, DG_LOG_WARNING, "%s: bad diagint metadata (%s): %s; using the configuration file's "
			  "settings for it", name, DG_WATCH_META_NS, err.message);
	free(xml);
	return m->enabled;
}

void watch_dom_request(struct watch_dom *d, enum watch_act_kind kind, const char *fmt, ...)
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

static struct watch_dom *add_dom(struct watch_loop *l, virDomainPtr dom, bool *added)
{
	char uuid[VIR_UUID_STRING_BUFLEN];
	const char *name = virDomainGetName(dom);
	struct dg_watch_meta meta;
	struct watch_dom *d;

	*added = false;
	if (!name || virDomainGetUUIDString(dom, uuid) < 0)
		return NULL;
	if (!dg_watch_glob_match(l->w->wc.domains, name))
		return NULL;
	d = watch_dom_find(l, uuid);
	if (d)
		return d;
	if (!watch_dom_load_meta(l, dom, name, &meta)) {
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

void watch_dom_remove(struct watch_loop *l, struct watch_dom *d)
{
	if (d->busy) {
		d->gone = true; /* its worker still refers to it by UUID; dropped when the action ends */
		return;
	}
	watch_dom_stop_probes(l, d);
	watch_fleet_watched(l->w, d->uuid, false);
	*d = l->doms[--l->ndoms];
}

void watch_dom_update_watched(struct watch_loop *l)
{
	dg_brakes_set_watched(l->w->brakes, (unsigned)l->ndoms);
}

/* Every running domain: new ones are watched, vanished ones dropped, crashed ones captured (they crashed while
 * we were not connected: no event will ever tell us). */
void watch_discover(struct watch_loop *l, bool reset_probes)
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
		struct watch_dom *d = add_dom(l, list[i], &added);
		int state = 0, reason = 0;

		if (d) {
			d->seen = true;
			if (virDomainGetState(list[i], &state, &reason, 0) < 0)
				state = VIR_DOMAIN_NOSTATE;
			/* A crashed guest prints nothing: probing it would only raise the same hang again. */
			if ((added || reset_probes) && state != VIR_DOMAIN_CRASHED && !d->crash_handled)
				watch_dom_start_probes(l, d, list[i]);
			if (state == VIR_DOMAIN_CRASHED && !d->crash_handled &&
			    watch_handled_has(w, d->uuid, virDomainGetID(list[i])))
				d->crash_handled = true; /* captured before a restart of the watcher */
			if (state == VIR_DOMAIN_CRASHED &&
			    !d->crash_handled && !d->busy && w->wc.on_panic != DG_WATCH_REACT_IGNORE) {
				watch_log(w, DG_LOG_WARNING, "%s: found crashed (it panicked while we were not watching)",
					  d->name);
				watch_dom_request(d, WATCH_ACT_CAPTURE, "found in the crashed state on connect");
			}
		}
		virDomainFree(list[i]);
	}
	free(list);
	for (size_t i = 0; i < l->ndoms;) {
		if (!l->doms[i].seen && !l->doms[i].busy)
			watch_dom_remove(l, &l->doms[i]);
		else
			i++;
	}
	watch_dom_update_watched(l);
	watch_log(w, DG_LOG_INFO, "watching %zu running domain%s", l->ndoms, l->ndoms == 1 ? "" : "s");
}


/* From a STARTED event or the hook, whichever comes first (the hook runs before the start completes). */
void watch_dom_started(struct watch_loop *l, const char *uuid, const char *name, const char *source)
{
	struct dg_watch *w = l->w;
	virDomainPtr dom = uuid[0] ? virDomainLookupByUUIDString(dg_lv_conn(w->lv), uuid)
				   : virDomainLookupByName(dg_lv_conn(w->lv), name);
	struct watch_dom *d;
	bool added;

	if (!dom)
		return;
	d = add_dom(l, dom, &added);
	if (d) {
		if (added)
			watch_log(w, DG_LOG_INFO, "%s: started; watching it (%s)", d->name, source);
		d->crash_handled = false;
		if (added || d->gone || !d->nprobes)
			watch_dom_start_probes(l, d, dom);
		d->gone = false;
		watch_dom_update_watched(l);
	}
	virDomainFree(dom);
}

void watch_dom_stopped(struct watch_loop *l, struct watch_dom *d, const char *source)
{
	if (d->gone)
		return; /* said already (the hook's stopped and release, then libvirt's event) */
	watch_log(l->w, DG_LOG_INFO, "%s: stopped; no longer watching it (%s)", d->name, source);
	d->pending = false;
	watch_dom_remove(l, d);
	watch_dom_update_watched(l);
}
