/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "diagint/brakes.h"
#include "diagint/probe_kinds.h"

/* The [watch] section of diagint.conf: what `diagint watch` reacts to and the brakes it obeys. Every key is
 * optional; with none at all the watcher captures every running domain that panics, into the default
 * destination, and interrupts nothing by itself except on a WATCHDOG event (the guest's own watchdog fired). */

struct dg_config;

#define DG_WATCH_DEFAULT_STATE "/var/lib/diagint/watch.state"
#define DG_WATCH_DEFAULT_SOCKET "/run/diagint/watch.sock"

enum dg_watch_after {
	DG_WATCH_AFTER_PRESERVE, /* leave the crashed guest as it is (someone may want to look at it live) */
	DG_WATCH_AFTER_RESTART,  /* destroy and start it again */
	DG_WATCH_AFTER_DESTROY,
};

enum dg_watch_reaction {
	DG_WATCH_REACT_IGNORE,
	DG_WATCH_REACT_CAPTURE, /* capture only, no NMI */
	DG_WATCH_REACT_INJECT,  /* NMI, wait for the panic, capture */
};

struct dg_watch_config {
	struct dg_brakes_policy brakes;   /* Cooldown, MaxActions, ActionWindow, StormPercent, StormMinDomains,
					   * MaxCaptures, DryRun */
	char state_file[PATH_MAX];        /* StateFile: where cooldowns survive restarts */
	char domains[1024];               /* Domains: space-separated globs of domain names; "" = every domain */
	enum dg_watch_reaction on_panic;    /* OnPanic: capture (default) or ignore */
	enum dg_watch_reaction on_watchdog; /* OnWatchdog: inject (default), capture or ignore */
	enum dg_watch_after after;        /* AfterCapture: preserve (default), restart, destroy */
	bool capture_before_nmi;          /* CaptureBeforeNMI: also keep the hung state before interrupting */
	/* Probes = heartbeat cputime agent: the active probes for domains matching ProbeDomains. Not set: the
	 * heartbeat probe when Heartbeat is set, else none. With several, a hang needs all of them to agree. */
	unsigned probes;                  /* DG_PROBE_* mask */
	bool probes_set;
	char heartbeat[256];              /* Heartbeat: text that must keep appearing in the serial log; "" = off */
	char probe_domains[1024];         /* ProbeDomains (or HeartbeatDomains): globs; "" = every watched domain */
	double probe_interval;            /* ProbeInterval (or HeartbeatInterval): seconds between two looks (5) */
	unsigned probe_misses;            /* ProbeMisses (or HeartbeatMisses): misses in a row = hung (default 3) */
	int agent_timeout;                /* AgentTimeout: seconds a guest-ping may take (default 5) */
	double cputime_min;               /* CpuTimeMin: vCPU time per interval at or below which is a miss (0) */
	double panic_timeout;             /* PanicTimeout: wait this long for the panic after an NMI (default 10) */
	double reconnect_max;             /* ReconnectMax: longest pause between two reconnect tries (default 30) */
	char socket[108];                 /* Socket: where the libvirt hook tells the watcher of starts and stops */
	bool hook_refuse_start;           /* HookRefuseStart: the hook refuses a start without room for a dump */
};

void dg_watch_config_default(struct dg_watch_config *c);

/* One `Key = value` of [watch]. 1: taken; 0: not a [watch] key; -DG_USAGE: bad value, message in err. */
int dg_watch_config_entry(struct dg_watch_config *c, const char *key, const char *value, struct dg_error *err);

/* The built-in defaults, shared and read-only. */
const struct dg_watch_config *dg_watch_config_builtin(void);
/* The [watch] settings of a loaded configuration (defaults when it has no [watch] or cfg is NULL). */
const struct dg_watch_config *dg_config_watch(const struct dg_config *cfg);

/* The probes [watch] gives a domain (before its metadata has a say): Probes, or heartbeat when only Heartbeat
 * is set; 0 when ProbeDomains does not match it. */
unsigned dg_watch_config_probes(const struct dg_watch_config *c, const char *name);

/* True when name matches one of the space-separated globs (an empty list matches everything). */
bool dg_watch_glob_match(const char *globs, const char *name);
