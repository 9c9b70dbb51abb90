/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fleet brakes for the interrupting commands (fleet_cli.h, fleet.h). */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "diagint/fleet.h"
#include "diagint/watch_config.h"
#include "fleet_cli.h"

#define MIN_CLAIM 60.0

void dg_cli_fleet_init(struct dg_cli_fleet *fl, const struct dg_config *cfg, bool require_flag)
{
	const struct dg_fleet_config *fc = dg_config_fleet(cfg);

	memset(fl, 0, sizeof(*fl));
	fl->cfg = cfg;
	fl->require = require_flag || (fc && fc->require_fleet);
}

/* "cli:alice@kvm7:4242": who acts, where, which run. */
static void monitor_name(char *out, size_t len)
{
	const char *user = getenv("SUDO_USER");
	struct passwd *pw;
	char host[128] = "localhost";

	if (!user || !*user) {
		pw = getpwuid(getuid());
		user = pw ? pw->pw_name : "unknown";
	}
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	snprintf(out, len, "cli:%s@%s:%d", user, host, (int)getpid());
	for (char *p = out; *p; p++)
		if (*p == '/' || (unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			*p = '_';
}

static void note(struct dg_authz *az, const char *fmt, const char *text)
{
	size_t used = strlen(az->ev.evidence);

	snprintf(az->ev.evidence + used, sizeof(az->ev.evidence) - used, fmt, used ? "; " : "", text);
}

int dg_cli_fleet_claim(struct dg_cli_fleet *fl, const char *target, const char *action, struct dg_authz *az,
		       struct dg_cli_fleet_ticket *ret, struct dg_error *err)
{
	const struct dg_fleet_config *fc = dg_config_fleet(fl->cfg);
	const struct dg_watch_config *wc = dg_config_watch(fl->cfg);
	struct dg_fleet_request req = { target, action, wc->brakes.cooldown, 0, 0 };
	struct dg_fleet_claim c;
	struct dg_error e = { 0 };
	char monitor[DG_FLEET_MONITOR_MAX];
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!fc)
		return 0;
	if (req.cooldown < MIN_CLAIM)
		req.cooldown = req.cooldown > 0 ? (req.cooldown < 1 ? 1 : req.cooldown) : MIN_CLAIM;
	if (!fl->fleet && !fl->failed) {
		monitor_name(monitor, sizeof(monitor));
		if ((r = dg_fleet_new(fc, monitor, &fl->fleet, err)) < 0)
			return r;
	}
	r = fl->failed ? -(int)fl->failure.status : dg_fleet_claim(fl->fleet, &req, &c, &e);
	if (r < 0 && !fl->failed && e.status != DG_UNAVAILABLE) {
		*err = e;
		return r; /* credentials, role, TLS: the operator must fix the configuration */
	}
	if (r < 0) {
		if (!fl->failed) {
			fl->failed = true;
			fl->failure = e;
			if (!fl->require)
				fprintf(stderr, "%s: warning: fleet brakes could not be consulted, acting anyway because a person "
					"asked (--require-fleet refuses instead): %s\n", dg_cli_prog, e.message);
		}
		if (fl->require)
			return dg_error_set(err, DG_UNAVAILABLE, "%s: %s refused: fleet brakes are required (%s) and could "
					    "not be consulted: %s", target, action,
					    fc->require_fleet ? "RequireFleet = yes" : "--require-fleet", fl->failure.message);
		note(az, "%sfleet brakes could not be consulted: %s", fl->failure.message);
		return 0;
	}
	if (c.verdict != DG_FLEET_WON) {
		note(az, "%sfleet: %s", c.reason);
		return dg_error_set(err, DG_REFUSED, "%s refused by the fleet brakes: %s", target, c.reason);
	}
	note(az, "%sfleet: %s", c.reason);
	ret->won = true;
	ret->lease = c.lease;
	ret->slot_lease = c.slot_lease;
	return 0;
}

void dg_cli_fleet_unclaim(struct dg_cli_fleet *fl, struct dg_cli_fleet_ticket *t)
{
	struct dg_fleet_claim c = { .verdict = DG_FLEET_WON };
	struct dg_error e = { 0 };

	if (!fl->fleet || !t->won)
		return;
	c.lease = t->lease;
	c.slot_lease = t->slot_lease;
	/* Nothing happened to the target: give the claim back so the next attempt is not refused by our own. */
	if (dg_fleet_unclaim(fl->fleet, &c, &e) < 0)
		fprintf(stderr, "%s: warning: the fleet claim stays until its cooldown ends: %s\n", dg_cli_prog, e.message);
	t->won = false;
}

void dg_cli_fleet_close(struct dg_cli_fleet *fl)
{
	dg_fleet_free(fl->fleet);
	fl->fleet = NULL;
}
