/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared by the watcher's files. Not a public interface. Who calls whom (no cycles):
 *   watch_loop.c (connection, reload, the loop)  -> watch_events.c, watch_decide.c, watch_domains.c, helpers
 *   watch_events.c (the event thread, the queue)  -> watch_domains.c
 *   watch_decide.c (probe rounds -> responder)    -> watch_domains.c, watch_act.c
 *   watch_domains.c (the table, probes)           -> watch_doctor.c, watch_handled.c
 *   all of them                                   -> watch_log.c (leaf) */

#include <pthread.h>
#include <stdbool.h>

#include <libvirt/libvirt.h>

#include "diagint/audit.h"
#include "diagint/brakes.h"
#include "diagint/config.h"
#include "diagint/lv.h"
#include "watch/probe.h"
#include "diagint/record.h"
#include "diagint/responder.h"
#include "watch/watch.h"
#include "watch/watch_meta.h"
#include "diagint/watch_config.h"

enum watch_act_kind {
	WATCH_ACT_CAPTURE, /* capture only (a guest that panicked, or OnWatchdog=capture) */
	WATCH_ACT_INJECT,  /* a hang: NMI, wait for the panic, capture */
};

struct watch_worker {
	pthread_t thread;
	struct dg_watch *w;
	enum watch_act_kind kind;
	char name[256];
	char uuid[VIR_UUID_STRING_BUFLEN];
	char evidence[512];
	char dest[1024];             /* the domain's own destination (metadata); "": the configuration's */
	const struct dg_config *cfg; /* the configuration when the action started (kept alive until it ends) */
	bool done;                   /* under w->lock */
	int r;
	bool panic_seen;
	bool restarted;              /* AfterCapture = restart succeeded: a new run of the guest */
	int dom_id;                  /* the domain's id when captured (-1: unknown) */
	bool nmi_sent, captured;     /* by any step: the claim stays */
	struct dg_fleet_claim claim; /* the fleet's, given back when nothing was sent nor captured */
};

struct watch_handled {
	char uuid[VIR_UUID_STRING_BUFLEN];
	int id;
};

struct dg_watch {
	struct dg_watch_opts o;
	struct dg_config *cfg;
	struct dg_watch_config wc;
	struct dg_config **retired; /* replaced by a reload while an action still used them */
	size_t nretired;
	struct dg_brakes *brakes;
	struct dg_responder *responder; /* the brakes, the record before the action, the reports (watch_decide.c) */
	struct dg_fleet *fleet;         /* [fleet]; NULL: the local brakes alone (watch_fleet.c) */
	char monitor[DG_FLEET_MONITOR_MAX];
	struct dg_audit_log *audit;
	struct dg_lv *lv;
	volatile sig_atomic_t cancel; /* aborts in-flight captures on stop */
	pthread_mutex_t lock;         /* the event queue, conn_lost, worker->done, logging */
	pthread_cond_t cond;
	struct watch_worker **workers;
	size_t nworkers;
	struct watch_handled *handled; /* crashes already captured (watch_handled.c) */
	size_t nhandled;
};

/* The watcher's two detectors, for the responder: only the one that started an episode counts hits in it. */
enum { WATCH_SRC_PROBES = 1, WATCH_SRC_WATCHDOG = 2 };


struct watch_probe {
	struct dg_probe p;
	bool armed;          /* seen alive once: misses count only from then (boot takes a while) */
	unsigned misses;
	double first_miss;   /* monotonic time of the first miss of the current run */
};

struct watch_dom {
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
	struct watch_probe probes[3];
	unsigned nprobes;
	virDomainPtr dom;    /* held while probing: its state decides whether a miss counts */
	bool paused_said;
	double next_probe;
	double interval;     /* this domain's probe interval and misses ([watch] or its metadata) */
	unsigned need;
	struct dg_watch_meta meta;
	struct dg_episode ep; /* the hang the probes or the watchdog reported, in the responder's hands */
};

struct watch_event {
	struct watch_event *next;
	int id; /* VIR_DOMAIN_EVENT_ID_LIFECYCLE / _WATCHDOG */
	int event, detail;
	char name[256];
	char uuid[VIR_UUID_STRING_BUFLEN];
};

struct watch_loop {
	struct dg_watch *w;
	struct watch_dom *doms;
	size_t ndoms;
	struct watch_event *head, **tail; /* under w->lock */
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

/* ---- watch_domains.c: the table (the loop's thread only) ---- */

struct watch_dom *watch_dom_find(struct watch_loop *l, const char *uuid);
/* Seen alive (or gone): the hang episode, whoever started it, is over. True when it had a decision. */
bool watch_dom_end_episode(struct dg_watch *w, struct watch_dom *d);
void watch_dom_start_probes(struct watch_loop *l, struct watch_dom *d, virDomainPtr dom);
void watch_dom_stop_probes(struct watch_loop *l, struct watch_dom *d);
/* The domain's <metadata> policy. Returns false when it says enabled="no"; a bad element is reported and
 * ignored. */
bool watch_dom_load_meta(struct watch_loop *l, virDomainPtr dom, const char *name, struct dg_watch_meta *m);
/* Ask for an action on the domain (started by watch_start_actions); an interrupt covers a capture. */
void watch_dom_request(struct watch_dom *d, enum watch_act_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Drop it from the table, or mark it gone while an action runs on it. */
void watch_dom_remove(struct watch_loop *l, struct watch_dom *d);
void watch_dom_update_watched(struct watch_loop *l);
/* Every running domain: new ones watched, vanished ones dropped, crashed ones captured. */
void watch_discover(struct watch_loop *l, bool reset_probes);
void watch_dom_started(struct watch_loop *l, const char *uuid, const char *name, const char *source);
void watch_dom_stopped(struct watch_loop *l, struct watch_dom *d, const char *source);

/* ---- watch_events.c: libvirt's events and the hook's messages, queued for the loop ---- */

/* Subscribe to the connection's events. false: the lifecycle or watchdog event is missing. */
bool watch_events_subscribe(struct watch_loop *l);
void watch_events_unsubscribe(struct watch_loop *l);
/* The oldest queued event (the caller frees it), or NULL. */
struct watch_event *watch_events_take(struct watch_loop *l);
/* Forget every queued event and a lost connection. */
void watch_events_clear(struct watch_loop *l);
void watch_event_handle(struct watch_loop *l, const struct watch_event *e);
void watch_sock_open(struct watch_loop *l);
void watch_sock_close(struct watch_loop *l);

/* ---- watch_decide.c: probe rounds and requests -> the responder ---- */

void watch_run_probes(struct watch_loop *l, double now);
void watch_start_actions(struct watch_loop *l);
/* The responder's callbacks (userdata: the struct dg_watch): the record, the action, the reports. */
extern const struct dg_responder_ops watch_responder_ops;

/* ---- watch_log.c, watch_doctor.c, watch_handled.c, watch_act.c ---- */

void watch_log(struct dg_watch *w, enum dg_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The doctor's checks, once per domain when it is first watched (watch_doctor.c). enqueue and stop accept NULL. */
struct watch_doctor;
struct watch_doctor *watch_doctor_start(struct dg_watch *w);
void watch_doctor_enqueue(struct watch_doctor *d, const char *name);
void watch_doctor_stop(struct watch_doctor *d);

/* Record an automatic decision or outcome. Returns 0 or -status (an action whose record cannot be written must
 * not happen). */
int watch_audit(struct dg_watch *w, const char *action, const char *name, const char *reason,
		const char *evidence, enum dg_audit_result result, const char *error, const struct dg_dump_record *rec);

/* The fleet (watch_fleet.c): [fleet] at start (a bad one fails it), the first view and the fleet thread once the
 * responder exists, a guest's fleet name (libvirt-uuid:UUID), and the storm view's entries. No-ops without it. */
int watch_fleet_open(struct dg_watch *w, struct dg_error *err);
void watch_fleet_start(struct dg_watch *w);
const char *watch_fleet_name(const char *uuid, char *buf, size_t len);
void watch_fleet_watched(struct dg_watch *w, const char *uuid, bool watched);
/* Whether a domain looks hung, for the storm brake: the local brakes and the fleet's view. */
void watch_set_suspect(struct dg_watch *w, const char *name, const char *uuid, bool suspect);

void watch_handled_load(struct dg_watch *w);
bool watch_handled_has(const struct dg_watch *w, const char *uuid, int id);
void watch_handled_add(struct dg_watch *w, const char *uuid, int id);

/* Start acting on one domain (the brakes already said go). */
int watch_act_start(struct dg_watch *w, enum watch_act_kind kind, const char *name, const char *uuid,
		    const char *evidence, const char *dest, const struct dg_fleet_claim *claim);
