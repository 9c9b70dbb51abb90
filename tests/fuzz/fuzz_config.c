/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* diagint.conf: dg_config_parse_string over [capture], [domain:NAME] and [watch], and the value parsers alone.
 * Invariants: a known status and a message on failure; on success every policy field within its documented
 * bounds (durations bounded at parse time, strings terminated), for the domains the file names and others. */
#include <math.h>

#include "diagint/config.h"
#include "diagint/watch_config.h"
#include "fuzz.h"

static void check_policy(const struct dg_capture_policy *p)
{
	FZ_CHECK(fz_terminated(p->dest, sizeof(p->dest)) && fz_terminated(p->format, sizeof(p->format)),
		 "unterminated dest or format");
	FZ_CHECK(p->stall_timeout >= 0 && p->stall_timeout <= 86400 && !isnan(p->stall_timeout),
		 "StallTimeout %g outside [0, 1 day]", p->stall_timeout);
	FZ_CHECK(p->flood_window <= 366u * 86400, "FloodWindow %u over a year", p->flood_window);
	FZ_CHECK(!p->max_use.is_percent || (p->max_use.percent >= 0 && p->max_use.percent <= 100),
		 "MaxUse %g%%", p->max_use.percent);
	FZ_CHECK(!p->keep_free.is_percent || (p->keep_free.percent >= 0 && p->keep_free.percent <= 100),
		 "KeepFree %g%%", p->keep_free.percent);
}

static void check_watch(const struct dg_watch_config *w)
{
	FZ_CHECK(fz_terminated(w->state_file, sizeof(w->state_file)) && fz_terminated(w->domains, sizeof(w->domains)) &&
			 fz_terminated(w->heartbeat, sizeof(w->heartbeat)) &&
			 fz_terminated(w->probe_domains, sizeof(w->probe_domains)) &&
			 fz_terminated(w->socket, sizeof(w->socket)),
		 "an unterminated [watch] string");
	FZ_CHECK(isfinite(w->probe_interval) && w->probe_interval >= 0 && w->probe_interval <= 366.0 * 86400,
		 "ProbeInterval %g", w->probe_interval);
	FZ_CHECK(isfinite(w->brakes.cooldown) && w->brakes.cooldown >= 0 && isfinite(w->brakes.window) &&
			 w->brakes.window >= 0 && isfinite(w->panic_timeout) && w->panic_timeout >= 0 &&
			 isfinite(w->reconnect_max) && w->reconnect_max >= 0 && isfinite(w->cputime_min) &&
			 w->cputime_min >= 0,
		 "a [watch] duration not finite or negative");
	FZ_CHECK(!isnan(w->brakes.storm_percent), "StormPercent NaN");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_config *cfg = NULL;
	struct dg_error err = { 0 };
	struct dg_capture_policy pol;
	struct dg_size_limit lim;
	char *text = fz_strndup(data, size);
	uint64_t bytes;
	double secs;
	bool b;
	int r;

	r = dg_config_parse_string(text, "fuzz.conf", &cfg, &err);
	fz_check_status(r, &err);
	if (r == 0) {
		FZ_CHECK(cfg != NULL, "success without a configuration");
		dg_config_capture_policy(cfg, "web-1", &pol);
		check_policy(&pol);
		dg_config_capture_policy(cfg, NULL, &pol);
		check_policy(&pol);
		/* Every [domain:NAME] the text names. */
		for (const char *p = text; (p = strstr(p, "[domain:")); p++) {
			char name[256];
			size_t n = strcspn(p + 8, "]\n");
			if (n >= sizeof(name))
				continue;
			memcpy(name, p + 8, n);
			name[n] = '\0';
			dg_config_capture_policy(cfg, name, &pol);
			check_policy(&pol);
		}
		check_watch(dg_config_watch(cfg));
		dg_config_free(cfg);
	} else {
		FZ_CHECK(err.status == DG_USAGE || err.status == DG_FAILED, "status %d for a bad configuration",
			 err.status);
	}
	/* The value parsers alone, on the first line. */
	text[strcspn(text, "\n")] = '\0';
	if (dg_config_parse_size(text, &bytes) == 0)
		FZ_CHECK(bytes == 0 || text[0] != '-', "negative size %s read as %llu", text, (unsigned long long)bytes);
	if (dg_config_parse_seconds(text, &secs) == 0)
		FZ_CHECK(isfinite(secs) && secs >= 0, "duration %s read as %g", text, secs);
	if (dg_config_parse_limit(text, &lim) == 0)
		FZ_CHECK(!lim.is_percent || (lim.percent >= 0 && lim.percent <= 100), "limit %s read as %g%%", text,
			 lim.percent);
	dg_config_parse_bool(text, &b);
	free(text);
	return 0;
}
