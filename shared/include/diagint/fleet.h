/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diagint/error.h"

/* Fleet brakes: the brakes of brakes.h decided by every monitor together, through etcd v3 (its JSON gateway over
 * libcurl), so that two collectd instances, or the watchers of two hypervisors, send ONE interrupt per hang.
 *
 *   - claim:   before an interrupt or a capture, one transaction "no claim on this target -> create it with a
 *              lease as long as the cooldown". Exactly one monitor wins; the others learn who holds it and since
 *              when, and do not act. The lease ends the claim by itself: no target stays blocked beyond the
 *              cooldown, also when the winner dies.
 *   - rate:    at most max_actions claims fleet-wide per window: max_actions slot keys, each taken in the SAME
 *              transaction as the claim and leased for the window. Exact, no race: a slot is free or not.
 *   - storm:   each monitor publishes what it watches and what it suspects under its own lease (kept alive by
 *              every publish, so a dead monitor's entries expire); counts come from range count_only.
 *   - fail safe: no answer, no quorum, no permission -> a negative status (DG_UNAVAILABLE, DG_DENIED, ...) and a
 *              message; the caller then does no AUTOMATIC action. A person's command may go on (it says so).
 *
 * Keys under KeyPrefix (default "/diagint/"); docs/fleet.md lists them with their leases and the etcd role.
 * A struct dg_fleet holds a mutex: one may be shared by threads (each call waits for the one before). */

#define DG_FLEET_MAX_ENDPOINTS 8
#define DG_FLEET_MONITOR_MAX 128

/* [fleet] in diagint.conf, named as etcdctl's flags are (--endpoints, --cacert, --cert, --key, --user,
 * --password, --dial-timeout, --command-timeout). */
struct dg_fleet_config {
	char endpoints[DG_FLEET_MAX_ENDPOINTS][256]; /* http(s)://HOST:PORT, tried in order, the last good first */
	unsigned n_endpoints;
	char cacert[PATH_MAX];     /* "" = the system store; TLS is always verified */
	char cert[PATH_MAX];       /* client certificate (PEM), with key */
	char key[PATH_MAX];
	char user[128];            /* etcd user (role-based access); needs https */
	char password[256];        /* only from a configuration file no one else can read (see diagint.conf(5)) */
	char key_prefix[128];      /* "/diagint/" */
	double dial_timeout;       /* seconds per connection attempt; 2 like etcdctl */
	double command_timeout;    /* seconds for a whole operation, failover included; 5 like etcdctl */
	bool require_fleet;        /* RequireFleet: a person's command refuses (status 5) when etcd cannot answer */
	char monitor[DG_FLEET_MONITOR_MAX]; /* Monitor: the watcher's (collectd's) name in the fleet; "": KIND@HOST */
};

void dg_fleet_config_default(struct dg_fleet_config *c);
/* One "Key = value" of [fleet]: 1 taken, 0 unknown key, -1 bad value (errbuf says why). */
int dg_fleet_config_entry(struct dg_fleet_config *c, const char *key, const char *value, char *errbuf, size_t len);
/* The whole section, once read: endpoints given, credentials only over https, Cert with Key. 0 or -1. */
int dg_fleet_config_check(const struct dg_fleet_config *c, char *errbuf, size_t len);

/* The name a monitor of this kind ("watch", "collectd") has in the fleet: Monitor when set, else KIND@HOSTNAME
 * (characters a fleet name cannot hold become '_'). A person's command is "cli:USER@HOST:PID" (cli/). */
void dg_fleet_monitor_name(const struct dg_fleet_config *c, const char *kind, char *buf, size_t len);

struct dg_config;
/* [fleet] of a loaded configuration; NULL when it has none (the local state file alone decides). */
const struct dg_fleet_config *dg_config_fleet(const struct dg_config *cfg);

struct dg_fleet;

/* monitor: who this process is in the fleet's eyes ("watch@kvm7", "collectd@mon-2", "cli:alice@kvm7:4242"):
 * printable, no '/', at most DG_FLEET_MONITOR_MAX - 1 bytes. Connects lazily: no request is made here. */
int dg_fleet_new(const struct dg_fleet_config *c, const char *monitor, struct dg_fleet **ret, struct dg_error *err);
/* Withdraws this monitor's published entries (revokes its lease) when it published any, best effort. */
void dg_fleet_free(struct dg_fleet *f);

struct dg_fleet_request {
	const char *target;      /* "libvirt:web-1", "aws:us-east-1/i-..." */
	const char *action;      /* "inject", "capture", "send", "watch-nmi", ... (kept in the claim) */
	double cooldown;         /* the claim's lease, seconds (>= 1) */
	unsigned max_actions;    /* fleet-wide claims per window; 0 = no fleet-wide rate */
	double window;           /* seconds (>= 1 when max_actions) */
};

enum dg_fleet_verdict {
	DG_FLEET_WON,      /* this monitor holds the claim: act */
	DG_FLEET_CLAIMED,  /* another claim holds the target (holder, since, until): do not act */
	DG_FLEET_RATE,     /* every fleet-wide action slot of the window is taken: do not act */
};

struct dg_fleet_claim {
	enum dg_fleet_verdict verdict;
	char target[512];
	char holder[DG_FLEET_MONITOR_MAX]; /* the monitor that holds it (ours when WON) */
	char action[32];
	double since;            /* when the claim was made (epoch seconds, the holder's clock) */
	double until;            /* when its lease ends at the latest */
	int64_t lease;           /* WON: our claim's lease (dg_fleet_unclaim revokes it) */
	int64_t slot_lease;      /* WON with a rate: the action slot's lease */
	char reason[1024];       /* one line for the log and the audit record */
};

/* Ask the fleet. 0 with ret->verdict, or -status (DG_UNAVAILABLE: no endpoint answered within CommandTimeout,
 * or etcd has no quorum; DG_DENIED: etcd refused the credentials or the role; DG_USAGE: a bad request). On a
 * negative status the caller must not act automatically. */
int dg_fleet_claim(struct dg_fleet *f, const struct dg_fleet_request *req, struct dg_fleet_claim *ret,
		   struct dg_error *err);
/* Give a won claim (and its action slot) back: the action certainly did not happen (the target was not found,
 * a precondition refused it before the interrupt). Never after an interrupt that may have been delivered. */
int dg_fleet_unclaim(struct dg_fleet *f, const struct dg_fleet_claim *c, struct dg_error *err);

/* The storm brake's view, fleet-wide. dg_fleet_set records locally what this monitor watches and suspects;
 * dg_fleet_publish sends only what changed since the last publish (puts and deletes, 128 per transaction) under
 * this monitor's lease of ttl seconds, and keeps the lease alive: call it every interval with ttl a few
 * intervals long. A lease found expired (etcd lost it, the monitor stalled) is granted again and everything is
 * published again. */
int dg_fleet_set(struct dg_fleet *f, const char *target, bool watched, bool suspect);
int dg_fleet_publish(struct dg_fleet *f, double ttl, struct dg_error *err);
/* (monitor, target) pairs watched and suspected across the fleet, from two range count_only requests. A target
 * watched by two monitors counts twice on both sides, so the share is the fleet's view. */
int dg_fleet_counts(struct dg_fleet *f, uint64_t *ret_watched, uint64_t *ret_suspect, struct dg_error *err);

/* Requests made, and endpoint switches, so far (tests, the bench). */
void dg_fleet_stats(const struct dg_fleet *f, unsigned long *ret_requests, unsigned long *ret_failovers);
const char *dg_fleet_verdict_name(enum dg_fleet_verdict v);
