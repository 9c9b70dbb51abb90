/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the collectd plugin's three files: diagint.c (registration, configuration, life cycle), detect.c
 * (collectd's callbacks: host maps and detection episodes, in memory under dg_cd.lock) and worker.c (the
 * queue's worker: the brakes, the audit record, the interrupt, the notifications back into collectd). */
#pragma once

#include "core/daemon/collectd.h"
#include "core/daemon/configfile.h"
#include "core/daemon/plugin.h"
#include "core/utils/common/common.h"

#include <math.h>
#include <pthread.h>
#include <time.h>

#include "diagint/audit.h"
#include "diagint/clock.h"
#include "diagint/doctor.h"
#include "diagint/brakes.h"
#include "diagint/error.h"
#include "diagint/inject.h"
#include "diagint/liveness.h"
#include "diagint/lv.h"
#include "diagint/record.h"
#include "diagint/responder.h"
#include "diagint/send.h"
#include "diagint/strindex.h"
#include "diagint/target.h"
#include "diagint/workq.h"

#define DG_CD_PLUGIN "diagint"
#define DG_CD_DEFAULT_STATE "/var/lib/diagint/collectd-brakes.state"
/* After a detection the worker waits until no new target has looked hung for this long (at most
 * DG_CD_SETTLE_MAX) before deciding (the queue's settle wait, workq.h): the threshold plugin reports the expiries
 * of one timeout pass one after the other, and the storm brake must see all of them, not only the first. */
#define DG_CD_SETTLE 0.1
#define DG_CD_SETTLE_MAX 1.0
/* The threshold plugin reports silent hosts in the pass after their timeout, so hosts that fell silent a few
 * milliseconds apart may be reported a whole interval apart. For the storm brake a host counts as unhealthy once
 * it has sent nothing for this many intervals, before its FAILURE arrives. */
#define DG_CD_QUIET 1.5

enum {
	DG_CD_DETECT_MISSING = 1 << 0,
	DG_CD_DETECT_PING = 1 << 1,
	DG_CD_DETECT_NOTIF = 1 << 2,
};

enum dg_cd_counter {
	DG_CD_SENT,
	DG_CD_FAILED,
	DG_CD_SUPP_COOLDOWN,
	DG_CD_SUPP_RATE,
	DG_CD_SUPP_STORM,
	DG_CD_SUPP_BUSY,
	DG_CD_DRY_RUN,
	DG_CD_DROPPED,
	DG_CD_NCOUNTERS,
};

extern const char *const dg_cd_counter_names[DG_CD_NCOUNTERS];

struct dg_cd_target {
	/* Configuration. */
	char *name;
	char *host;
	char *ping_host;
	char *interrupt;      /* validated at configuration time; parsed again on the worker (keeps this small) */
	char *capture;        /* libvirt only: destination of the capture after the NMI */
	char *notif_plugin;   /* NULL: any */
	char *notif_type;     /* NULL: any */
	int notif_severity;   /* NOTIF_FAILURE or NOTIF_WARNING (WARNING matches FAILURE too) */
	unsigned detect;
	unsigned hits_needed;
	double ping_max_droprate;
	double ping_max_latency; /* ms; 0: not checked */

	/* State, under dg_cd.lock. */
	struct dg_episode ep; /* in the responder's hands; ep.active (changed only under dg_cd.lock) = suspect */
	struct dg_liveness live; /* the host's values on the wall clock; live.quiet: silent for over DG_CD_QUIET
				  * intervals, not yet reported missing: storm evidence */
	double last_latency;  /* ms, from the ping plugin */
	bool marked;          /* what the brakes were last told: ep.active || live.quiet */
};

struct dg_cd_state {
	/* Configuration. */
	struct dg_brakes_policy policy;
	char *audit_path;
	char *state_path;
	char *cacert;
	char *libvirt_uri;
	struct dg_send_endpoint endpoints[DG_SEND_MAX_ENDPOINTS];
	unsigned n_endpoints;
	double request_timeout;
	int retries;
	double shutdown_timeout;
	unsigned queue_size;
	bool check_at_start;  /* run diagint doctor's checks for every target when the worker starts */
	struct dg_send_opts send_opts; /* as the sender has them, for the start-up checks */
	struct dg_fleet_config *fleet_cfg; /* <Fleet>: NULL, the local brakes alone */
	struct dg_cd_target *targets;
	size_t n_targets;
	bool configured;
	bool registered;
	unsigned detect_all;  /* union of the targets' Detect */

	/* Runtime. */
	struct dg_strindex *by_host; /* targets by Host */
	struct dg_strindex *by_ping; /* targets by PingHost (Detect "ping" only) */
	struct dg_brakes *brakes;
	struct dg_responder *responder; /* hits, brakes, fleet, record before the action, reports (worker.c) */
	struct dg_fleet *fleet;
	struct dg_sender *sender;
	struct dg_lv *lv;
	struct dg_audit_log *audit;
	pthread_mutex_t lock;
	pthread_t worker;
	bool worker_running;
	volatile sig_atomic_t cancel; /* a capture in progress stops at the next block (inject.h) */
	struct dg_workq *queue; /* targets (by index) waiting for the worker, under dg_cd.lock */
	unsigned unhealthy;
	bool storm_notified;
	char inflight[DG_TARGET_MAX]; /* the request the worker is in, for the shutdown record */
	char inflight_evidence[512];
	uint64_t counters[DG_CD_NCOUNTERS];
};

extern struct dg_cd_state dg_cd;

/* detect.c */
void dg_cd_fmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int dg_cd_maps_build(void);
int dg_cd_write(const data_set_t *ds, const value_list_t *vl, user_data_t *ud);
int dg_cd_missing(const value_list_t *vl, user_data_t *ud);
int dg_cd_notification(const notification_t *n, user_data_t *ud);
int dg_cd_read(user_data_t *ud);
void dg_cd_scan_quiet_locked(double now);

/* worker.c */
void *dg_cd_worker(void *arg);
extern const struct dg_responder_ops dg_cd_responder_ops;
int dg_cd_audit(const char *action, const char *target, const char *reason, const char *evidence,
		enum dg_audit_result result, const char *error, const char *request_id, int attempts,
		const struct dg_dump_record *rec, struct dg_error *ret_err);
void dg_cd_notify(int severity, const struct dg_cd_target *t, const char *type_instance, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
