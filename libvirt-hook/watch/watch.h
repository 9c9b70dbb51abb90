/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <signal.h>
#include <stdbool.h>

#include "diagint/error.h"
#include "diagint/log.h"

/* The hung-domain watcher behind `diagint watch`: subscribes to a libvirt daemon's events, captures guests that
 * panic, interrupts and captures guests that hang (their watchdog fired, their console heartbeat stopped) under
 * the brakes (brakes.h), reconnects when the daemon goes away and captures what crashed meanwhile. Settings:
 * the [watch] section (watch_config.h); docs/watch.md. Runs until *stop is set. */

struct dg_watch_opts {
	const char *uri;          /* NULL: libvirt's default */
	const char *config_path;  /* NULL: the default path, where a missing file means built-in defaults */
	bool dry_run;             /* force DryRun = yes whatever the configuration says */
	dg_log_fn log;
	void *log_userdata;
	volatile sig_atomic_t *stop;   /* set (SIGTERM, SIGINT) to stop: an in-flight capture is aborted cleanly */
	volatile sig_atomic_t *reload; /* set (SIGHUP) to reload the configuration; the watcher clears it */
	/* Service manager status ("READY=1", "STATUS=..."): sd_notify where available. May be NULL. */
	void (*notify)(void *userdata, const char *state);
	void *notify_userdata;
};

/* Returns 0 after a clean stop; -status when it cannot start (bad configuration, brake state or audit log
 * unusable). Losing the daemon is not an error: the watcher waits for it. */
int dg_watch_run(const struct dg_watch_opts *o, struct dg_error *err);
