/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared between watch.c (the loop, connection, events, domains, probes) and watch_act.c (acting on one
 * domain on a thread of its own). Not a public interface. */

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
	struct dg_responder *responder; /* the brakes, the record before the action, the reports (watch.c) */
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
		    const char *evidence, const char *dest);
