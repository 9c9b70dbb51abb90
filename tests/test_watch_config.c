/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The [watch] section: defaults with no configuration, every key, bad values and unknown keys named with
 * file:line:key, domain globs. */
#include <string.h>

#include "diagint/config.h"
#include "diagint/watch_config.h"
#include "tap.h"

static int parse(const char *text, struct dg_config **cfg, struct dg_error *err)
{
	memset(err, 0, sizeof(*err));
	*cfg = NULL;
	return dg_config_parse_string(text, "T.conf", cfg, err);
}

static void bad(const char *text, const char *expect, const char *what)
{
	struct dg_config *cfg;
	struct dg_error err;
	int r = parse(text, &cfg, &err);

	CHECK(r == -DG_USAGE && strstr(err.message, expect), "%s: refused: %s", what, err.message);
	dg_config_free(cfg);
}

int main(void)
{
	struct dg_config *cfg;
	struct dg_error err;
	const struct dg_watch_config *wc;

	wc = dg_config_watch(NULL);
	CHECK(wc->on_panic == DG_WATCH_REACT_CAPTURE, "no configuration: panics are captured");
	CHECK(wc->on_watchdog == DG_WATCH_REACT_INJECT, "no configuration: a fired watchdog means NMI + capture");
	CHECK(!wc->heartbeat[0], "no configuration: no heartbeat probe");
	CHECK(wc->brakes.cooldown == 3600 && wc->after == DG_WATCH_AFTER_PRESERVE, "defaults: 1 h cooldown, preserve");
	CHECK_STR(wc->state_file, DG_WATCH_DEFAULT_STATE, "default state file");

	CHECK(parse("[capture]\nFormat = elf\n", &cfg, &err) == 0, "config without [watch]");
	CHECK(dg_config_watch(cfg) == dg_watch_config_builtin(), "  gives the built-in [watch] defaults");
	dg_config_free(cfg);

	CHECK(parse("[watch]\nCooldown = 10m\nMaxActions = 7\nActionWindow = 2h\nStormPercent = 40%\n"
		    "StormMinDomains = 4\nMaxCaptures = 2\nDryRun = yes\nStateFile = /tmp/x.state\n"
		    "Domains = web-* db-?\nOnPanic = ignore\nOnWatchdog = capture\nAfterCapture = restart\n"
		    "CaptureBeforeNMI = yes\nHeartbeat = diagint-heartbeat\nHeartbeatDomains = web-*\n"
		    "HeartbeatInterval = 1.5\nHeartbeatMisses = 4\nPanicTimeout = 20s\nReconnectMax = 1m\n",
		    &cfg, &err) == 0,
	      "every [watch] key accepted (%s)", err.message);
	wc = dg_config_watch(cfg);
	CHECK(wc->brakes.cooldown == 600 && wc->brakes.max_actions == 7 && wc->brakes.window == 7200, "brake keys");
	CHECK(wc->brakes.storm_percent == 40 && wc->brakes.storm_min_targets == 4 && wc->brakes.max_captures == 2 &&
		      wc->brakes.dry_run,
	      "storm, captures, dry run");
	CHECK_STR(wc->state_file, "/tmp/x.state", "StateFile");
	CHECK(wc->on_panic == DG_WATCH_REACT_IGNORE && wc->on_watchdog == DG_WATCH_REACT_CAPTURE &&
		      wc->after == DG_WATCH_AFTER_RESTART && wc->capture_before_nmi,
	      "reactions");
	CHECK_STR(wc->heartbeat, "diagint-heartbeat", "Heartbeat");
	CHECK(wc->heartbeat_interval == 1.5 && wc->heartbeat_misses == 4 && wc->panic_timeout == 20 &&
		      wc->reconnect_max == 60,
	      "durations and counts");
	CHECK(dg_watch_glob_match(wc->domains, "web-1") && dg_watch_glob_match(wc->domains, "db-7") &&
		      !dg_watch_glob_match(wc->domains, "db-17"),
	      "Domains globs");
	CHECK(dg_watch_glob_match("", "anything"), "empty glob list matches everything");
	dg_config_free(cfg);

	bad("[watch]\nCooldown = soon\n", "T.conf:2: Cooldown 'soon'", "bad duration names file:line:key");
	bad("[watch]\n\nColdown = 1h\n", "T.conf:3: unknown key 'Coldown' in [watch]", "unknown key");
	bad("[watch]\nStormPercent = 150\n", "StormPercent '150'", "percentage over 100");
	bad("[watch]\nOnPanic = inject\n", "OnPanic 'inject' unknown", "OnPanic cannot inject");
	bad("[watch]\nAfterCapture = reboot\n", "AfterCapture 'reboot'", "unknown after-action");
	bad("[watch]\nStateFile = relative\n", "must be an absolute path", "relative StateFile");
	bad("[watch]\nHeartbeatMisses = 0\n", "HeartbeatMisses '0'", "zero misses");
	bad("[watch]\nMaxActions = -1\n", "MaxActions '-1'", "negative count");
	bad("[watchdog]\nX = 1\n", "unknown section [watchdog]", "unknown section lists [watch]");
	return tap_done();
}
