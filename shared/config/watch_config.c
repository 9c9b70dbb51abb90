/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "diagint/parse.h"
#include "diagint/watch_config.h"

void dg_watch_config_default(struct dg_watch_config *c)
{
	memset(c, 0, sizeof(*c));
	dg_brakes_policy_default(&c->brakes);
	snprintf(c->state_file, sizeof(c->state_file), "%s", DG_WATCH_DEFAULT_STATE);
	c->on_panic = DG_WATCH_REACT_CAPTURE;
	/* A watchdog that fired is the guest itself saying it hangs: the strongest hang signal there is. */
	c->on_watchdog = DG_WATCH_REACT_INJECT;
	c->after = DG_WATCH_AFTER_PRESERVE;
	c->probe_interval = 5;
	c->probe_misses = 3;
	c->agent_timeout = 5;
	c->panic_timeout = 10;
	c->reconnect_max = 30;
	snprintf(c->socket, sizeof(c->socket), "%s", DG_WATCH_DEFAULT_SOCKET);
}

static struct dg_watch_config builtin;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static void builtin_init(void)
{
	dg_watch_config_default(&builtin);
}

const struct dg_watch_config *dg_watch_config_builtin(void)
{
	pthread_once(&builtin_once, builtin_init);
	return &builtin;
}

static int parse_count(const char *value, unsigned max, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno || end == value || *end || value[0] == '-' || v > max)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

static int parse_percent(const char *value, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(value, &end);
	if (*end == '%')
		end++;
	if (errno || end == value || *end || v < 0 || v > 100)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int copy(char *dst, size_t size, const char *value)
{
	if (strlen(value) >= size)
		return -EINVAL;
	memcpy(dst, value, strlen(value) + 1);
	return 0;
}

int dg_watch_config_entry(struct dg_watch_config *c, const char *key, const char *value, struct dg_error *err)
{
	double d;

	if (!strcasecmp(key, "Cooldown")) {
		if (dg_config_parse_seconds(value, &c->brakes.cooldown) < 0)
			return dg_error_set(err, DG_USAGE, "%s '%s' is not a duration (e.g. 3600, 1h; 0 = none)", key, value);
	} else if (!strcasecmp(key, "MaxActions")) {
		if (parse_count(value, 100000, &c->brakes.max_actions) < 0)
			return dg_error_set(err, DG_USAGE, "%s '%s' is not a count (0 = no limit)", key, value);
	} else if (!strcasecmp(key, "ActionWindow")) {
		if (dg_config_parse_seconds(value, &d) < 0 || d < 1)
			return dg_error_set(err, DG_USAGE, "%s '%s' is not a duration of at least 1 s", key, value);
		c->brakes.window = d;
	} else if (!strcasecmp(key, "StormPercent")) {
		if (parse_percent(value, &c->brakes.storm_percent) < 0)
			return dg_error_set(err, DG_USAGE, "%s '%s' is not a percentage 0-100 (100 = off)", key, value);
	} else if (!strcasecmp(key, "StormMinDomains")) {
		if (parse_count(value, 1000000, &c->brakes.storm_min_targets) < 0)
			return dg_error_set(err, DG_USAGE, "%s '%s' is not a count (0 to 1000000)", key, value);
	} else if (!strcasecmp(key, "MaxCaptures")) {
		if (parse_count(value, 1000, &c->brakes.max_captures) < 0)
			return dg_error_set(err, DG_USAGE, "%s '%s' is not a count (0 = no limit)", key, value);
	} else if (!strcasecmp(key, "DryRun")) {
		if (dg_config_parse_bool(value, &c->brakes.dry_run) < 0)
			return dg_error_set(err, DG_USAGE, "%s '%s' is not a boolean (yes/no)", key, value);
	} else if (!strcasecmp(key, "StateFile")) {
		if (value[0] != '/' || copy(c->state_file, sizeof(c->state_file), value) < 0)
			return dg_error_set(err, DG_USAGE, "%s '%s' must be an absolute path", key, value);
	} else if (!strcasecmp(key, "Domains")) {
		if (copy(c->domains, sizeof(c->domains), value) < 0)
			return dg_error_set(err, DG_USAGE, "%s is too long%.0s", key, value);
	} else if (!strcasecmp(key, "OnPanic") || !strcasecmp(key, "OnWatchdog")) {
		bool panic = !strcasecmp(key, "OnPanic");
		enum dg_watch_reaction *r = panic ? &c->on_panic : &c->on_watchdog;
		if (!strcasecmp(value, "ignore"))
			*r = DG_WATCH_REACT_IGNORE;
		else if (!strcasecmp(value, "capture"))
			*r = DG_WATCH_REACT_CAPTURE;
		else if (!panic && !strcasecmp(value, "inject"))
			*r = DG_WATCH_REACT_INJECT;
		else
			return dg_error_set(err, DG_USAGE,
				    panic ? "%s '%s' unknown (use capture or ignore)"
					  : "%s '%s' unknown (use inject, capture or ignore)",
				    key, value);
	} else if (!strcasecmp(key, "AfterCapture")) {
		if (!strcasecmp(value, "preserve"))
			c->after = DG_WATCH_AFTER_PRESERVE;
		else if (!strcasecmp(value, "restart"))
			c->after = DG_WATCH_AFTER_RESTART;
		else if (!strcasecmp(value, "destroy"))
			c->after = DG_WATCH_AFTER_DESTROY;
		else
			return dg_error_set(err, DG_USAGE, "%s '%s' unknown (use preserve, restart or destroy)", key, value);
	} else if (!strcasecmp(key, "CaptureBeforeNMI")) {
		if (dg_config_parse_bool(value, &c->capture_before_nmi) < 0)
			return dg_error_set(err, DG_USAGE, "%s '%s' is not a boolean (yes/no)", key, value);
	} else if (!strcasecmp(key, "Probes")) {
		struct dg_error e = { 0 };
		if (dg_probe_kinds_parse(value, &c->probes, &e) < 0)
			return dg_error_set(err, DG_USAGE, "%s: %s", key, e.message);
		c->probes_set = true;
	} else if (!strcasecmp(key, "Heartbeat")) {
		if (copy(c->heartbeat, sizeof(c->heartbeat), value) < 0)
			return dg_error_set(err, DG_USAGE, "%s is too long (at most 255 bytes)%.0s", key, value);
	} else if (!strcasecmp(key, "ProbeDomains") || !strcasecmp(key, "HeartbeatDomains")) {
		if (copy(c->probe_domains, sizeof(c->probe_domains), value) < 0)
			return dg_error_set(err, DG_USAGE, "%s is too long%.0s", key, value);
	} else if (!strcasecmp(key, "ProbeInterval") || !strcasecmp(key, "HeartbeatInterval")) {
		if (dg_config_parse_seconds(value, &d) < 0 || d < 0.1 || d > 86400)
			return dg_error_set(err, DG_USAGE, "%s '%s' is not a duration between 0.1 s and 1 d", key, value);
		c->probe_interval = d;
	} else if (!strcasecmp(key, "ProbeMisses") || !strcasecmp(key, "HeartbeatMisses")) {
		if (parse_count(value, 1000, &c->probe_misses) < 0 || c->probe_misses < 1)
			return dg_error_set(err, DG_USAGE, "%s '%s' is not a count of at least 1", key, value);
	} else if (!strcasecmp(key, "AgentTimeout")) {
		if (dg_config_parse_seconds(value, &d) < 0 || d < 1 || d > 300)
			return dg_error_set(err, DG_USAGE, "%s '%s' is not a duration between 1 s and 5 min (whole seconds)", key,
				    value);
		c->agent_timeout = (int)d;
	} else if (!strcasecmp(key, "CpuTimeMin")) {
		if (dg_config_parse_seconds(value, &d) < 0 || d > 3600)
			return dg_error_set(err, DG_USAGE, "%s '%s' is not a duration (e.g. 0, 10ms: vCPU time per interval)", key,
				    value);
		c->cputime_min = d;
	} else if (!strcasecmp(key, "PanicTimeout")) {
		if (dg_config_parse_seconds(value, &d) < 0 || d < 0.1 || d > 3600)
			return dg_error_set(err, DG_USAGE, "%s '%s' is not a duration between 0.1 s and 1 h", key, value);
		c->panic_timeout = d;
	} else if (!strcasecmp(key, "ReconnectMax")) {
		if (dg_config_parse_seconds(value, &d) < 0 || d < 1 || d > 3600)
			return dg_error_set(err, DG_USAGE, "%s '%s' is not a duration between 1 s and 1 h", key, value);
		c->reconnect_max = d;
	} else if (!strcasecmp(key, "Socket")) {
		if ((value[0] && value[0] != '/') || copy(c->socket, sizeof(c->socket), value) < 0)
			return dg_error_set(err, DG_USAGE, "%s '%s' must be an absolute path of at most 107 bytes (empty: off)",
				    key, value);
	} else if (!strcasecmp(key, "HookRefuseStart")) {
		if (dg_config_parse_bool(value, &c->hook_refuse_start) < 0)
			return dg_error_set(err, DG_USAGE, "%s '%s' is not a boolean (yes/no)", key, value);
	} else {
		return 0;
	}
	return 1;
}

unsigned dg_watch_config_probes(const struct dg_watch_config *c, const char *name)
{
	if (!dg_watch_glob_match(c->probe_domains, name))
		return 0;
	if (c->probes_set)
		return c->probes;
	return c->heartbeat[0] ? DG_PROBE_HEARTBEAT : 0;
}

bool dg_watch_glob_match(const char *globs, const char *name)
{
	char buf[1024], *save = NULL, *g;
	bool any = false;

	snprintf(buf, sizeof(buf), "%s", globs);
	for (g = strtok_r(buf, " \t", &save); g; g = strtok_r(NULL, " \t", &save)) {
		any = true;
		if (!fnmatch(g, name, 0))
			return true;
	}
	return !any;
}
