/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The [watch] section: defaults with no configuration, every key, bad values and unknown keys named with
 * file:line:key, domain globs. */
#include <string.h>

#include "diagint/config.h"
#include "diagint/watch_config.h"
#include "watch/watch_meta.h"
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
	CHECK(wc->probe_interval == 1.5 && wc->probe_misses == 4 && wc->panic_timeout == 20 &&
		      wc->reconnect_max == 60,
	      "durations and counts");
	CHECK(dg_watch_glob_match(wc->domains, "web-1") && dg_watch_glob_match(wc->domains, "db-7") &&
		      !dg_watch_glob_match(wc->domains, "db-17"),
	      "Domains globs");
	CHECK(dg_watch_glob_match("", "anything"), "empty glob list matches everything");
	dg_config_free(cfg);

	/* The probes: Heartbeat alone keeps meaning the heartbeat probe; Probes chooses; ProbeDomains narrows. */
	wc = dg_config_watch(NULL);
	CHECK(dg_watch_config_probes(wc, "any") == 0 && wc->agent_timeout == 5 && wc->cputime_min == 0 &&
		      wc->probe_interval == 5 && wc->probe_misses == 3,
	      "no configuration: no probes; agent timeout 5 s, any vCPU time counts, 3 x 5 s");
	CHECK(parse("[watch]\nHeartbeat = hb\n", &cfg, &err) == 0 &&
		      dg_watch_config_probes(dg_config_watch(cfg), "x") == DG_PROBE_HEARTBEAT,
	      "Heartbeat alone: the heartbeat probe everywhere");
	dg_config_free(cfg);
	CHECK(parse("[watch]\nProbes = cputime, agent\nProbeDomains = db-*\nProbeInterval = 500ms\n"
		    "ProbeMisses = 6\nAgentTimeout = 3s\nCpuTimeMin = 10ms\n", &cfg, &err) == 0,
	      "probe keys accepted (%s)", err.message);
	wc = dg_config_watch(cfg);
	CHECK(dg_watch_config_probes(wc, "db-1") == (DG_PROBE_CPUTIME | DG_PROBE_AGENT) &&
		      dg_watch_config_probes(wc, "web-1") == 0,
	      "Probes for the domains ProbeDomains matches, none for others");
	CHECK(wc->probe_interval == 0.5 && wc->probe_misses == 6 && wc->agent_timeout == 3 && wc->cputime_min == 0.01,
	      "ProbeInterval, ProbeMisses, AgentTimeout, CpuTimeMin");
	dg_config_free(cfg);
	CHECK(parse("[watch]\nHeartbeat = hb\nProbes = none\n", &cfg, &err) == 0 &&
		      dg_watch_config_probes(dg_config_watch(cfg), "x") == 0,
	      "Probes = none wins over Heartbeat");
	dg_config_free(cfg);
	bad("[watch]\nProbes = heartbeat ping\n", "Probes: unknown probe 'ping' (known: heartbeat, cputime, agent",
	    "unknown probe named with the known ones");
	bad("[watch]\nAgentTimeout = 0\n", "AgentTimeout '0' is not a duration between 1 s and 5 min",
	    "agent timeout too short");
	bad("[watch]\nCpuTimeMin = lots\n", "CpuTimeMin 'lots'", "bad CpuTimeMin");
	bad("[watch]\nProbeMisses = 0\n", "ProbeMisses '0'", "zero misses under the new name");

	CHECK_STR(dg_config_watch(NULL)->socket, DG_WATCH_DEFAULT_SOCKET, "default hook socket");
	CHECK(!dg_config_watch(NULL)->hook_refuse_start, "the hook never refuses a start by default");
	CHECK(parse("[watch]\nSocket = /tmp/w.sock\nHookRefuseStart = yes\n", &cfg, &err) == 0, "hook keys");
	wc = dg_config_watch(cfg);
	CHECK(!strcmp(wc->socket, "/tmp/w.sock") && wc->hook_refuse_start, "Socket, HookRefuseStart");
	dg_config_free(cfg);
	CHECK(parse("[watch]\nSocket =\n", &cfg, &err) == 0 && !dg_config_watch(cfg)->socket[0], "empty Socket: off");
	dg_config_free(cfg);
	bad("[watch]\nSocket = rel.sock\n", "Socket 'rel.sock' must be an absolute path", "relative socket");
	bad("[watch]\nCooldown = soon\n", "T.conf:2: Cooldown 'soon'", "bad duration names file:line:key");
	bad("[watch]\n\nColdown = 1h\n", "T.conf:3: unknown key 'Coldown' in [watch]", "unknown key");
	bad("[watch]\nStormPercent = 150\n", "StormPercent '150'", "percentage over 100");
	bad("[watch]\nOnPanic = inject\n", "OnPanic 'inject' unknown", "OnPanic cannot inject");
	bad("[watch]\nAfterCapture = reboot\n", "AfterCapture 'reboot'", "unknown after-action");
	bad("[watch]\nStateFile = relative\n", "must be an absolute path", "relative StateFile");
	bad("[watch]\nHeartbeatMisses = 0\n", "HeartbeatMisses '0'", "zero misses");
	bad("[watch]\nMaxActions = -1\n", "MaxActions '-1'", "negative count");
	bad("[watchdog]\nX = 1\n", "unknown section [watchdog]", "unknown section lists [watch]");
	{
		struct dg_watch_meta m;
		struct dg_error err = { 0 };
		const char *e = err.message;
		const char *ns = "xmlns:d='" DG_WATCH_META_NS "'";
		char x[1024];

		CHECK(dg_watch_meta_parse(NULL, &m, &err) == 0 && !m.present && m.enabled && m.cooldown < 0,
		      "metadata: none means defaults");
		snprintf(x, sizeof(x), "<d:watch %s enabled='no' heartbeat='hb' heartbeat-interval='2s' "
			 "heartbeat-misses='4' cooldown='30m' destination='/srv/dumps'/>", ns);
		CHECK(dg_watch_meta_parse(x, &m, &err) == 0 && m.present && !m.enabled && m.heartbeat_set &&
			      !strcmp(m.heartbeat, "hb") && m.probe_interval == 2 && m.probe_misses == 4 &&
			      m.cooldown == 1800 && !strcmp(m.destination, "/srv/dumps"),
		      "metadata: every attribute (%s)", e);
		snprintf(x, sizeof(x), "<d:watch %s heartbeat=''/>", ns);
		CHECK(dg_watch_meta_parse(x, &m, &err) == 0 && m.heartbeat_set && !m.heartbeat[0],
		      "metadata: heartbeat='' turns the probe off");
		snprintf(x, sizeof(x), "<d:watch %s probes='cputime agent' probe-interval='250ms' probe-misses='5'/>", ns);
		CHECK(dg_watch_meta_parse(x, &m, &err) == 0 && m.probes_set &&
			      m.probes == (DG_PROBE_CPUTIME | DG_PROBE_AGENT) && m.probe_interval == 0.25 &&
			      m.probe_misses == 5 && !m.heartbeat_set,
		      "metadata: probes, probe-interval, probe-misses (%s)", e);
		snprintf(x, sizeof(x), "<d:watch %s probes=''/>", ns);
		CHECK(dg_watch_meta_parse(x, &m, &err) == 0 && m.probes_set && !m.probes,
		      "metadata: probes='' turns every probe off");
		snprintf(x, sizeof(x), "<d:watch %s probes='cpu'/>", ns);
		CHECK(dg_watch_meta_parse(x, &m, &err) == -DG_USAGE && strstr(e, "probes='cpu'") &&
			      strstr(e, "unknown probe 'cpu'") && !m.probes_set,
		      "metadata: unknown probe reported, defaults kept: %s", e);
		snprintf(x, sizeof(x), "<d:watch %s colddown='1h'/>", ns);
		CHECK(dg_watch_meta_parse(x, &m, &err) == -DG_USAGE && strstr(e, "unknown attribute 'colddown'") &&
			      m.enabled && !m.present,
		      "metadata: unknown attribute reported, defaults kept: %s", e);
		snprintf(x, sizeof(x), "<d:watch %s cooldown='soon'/>", ns);
		CHECK(dg_watch_meta_parse(x, &m, &err) == -DG_USAGE && strstr(e, "cooldown='soon'"), "bad cooldown: %s", e);
		snprintf(x, sizeof(x), "<d:watch %s destination='rel'/>", ns);
		CHECK(dg_watch_meta_parse(x, &m, &err) == -DG_USAGE && strstr(e, "destination"), "bad destination: %s", e);
		CHECK(dg_watch_meta_parse("<watch cooldown='5m'/>", &m, &err) == 0 && m.cooldown == 300,
		      "as libvirt returns it: without the namespace (%s)", e);
		CHECK(dg_watch_meta_parse("<x:watch xmlns:x='urn:other'/>", &m, &err) == -DG_USAGE &&
			      strstr(e, "namespace"),
		      "another namespace: %s", e);
		CHECK(dg_watch_meta_parse("<policy/>", &m, &err) == -DG_USAGE, "another element: %s", e);
		CHECK(dg_watch_meta_parse("<d:watch", &m, &err) == -DG_USAGE && strstr(e, "well-formed"),
		      "malformed: %s", e);
	}
	return tap_done();
}
