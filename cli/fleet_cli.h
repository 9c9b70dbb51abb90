/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "authz.h"
#include "diagint/config.h"
#include "diagint/error.h"

/* The fleet brakes for a person's command (inject, capture, send), when diagint.conf has [fleet]:
 *
 *   struct dg_cli_fleet fl;
 *   dg_cli_fleet_init(&fl, cfg, require_fleet_option);        // no I/O
 *   ... dg_authz_begin(&az, ...) ...
 *   r = dg_cli_fleet_claim(&fl, target, "inject", &az, &ticket, &err);
 *   if (r < 0) -> record the refusal (dg_authz_end*) and exit with err.status (6 claimed, 5 fleet required)
 *   ... act ...
 *   if (the action certainly did not happen) dg_cli_fleet_unclaim(&fl, &ticket);
 *   dg_cli_fleet_close(&fl);
 *
 * The claim lasts [watch] Cooldown (at least 60 s when Cooldown is 0: two people acting at once still get one
 * interrupt). When etcd cannot answer, the command goes on with a warning on stderr and the reason in the audit
 * record's evidence, unless --require-fleet or RequireFleet = yes (then status 5). etcd is asked at most until it
 * first fails: one `send` to 10,000 targets waits CommandTimeout once, not per target. */

struct dg_fleet;

struct dg_cli_fleet {
	const struct dg_config *cfg;
	struct dg_fleet *fleet;
	bool require;
	bool failed;              /* etcd could not answer: not asked again in this run */
	struct dg_error failure;
};

struct dg_cli_fleet_ticket {
	bool won;
	int64_t lease, slot_lease;
};

void dg_cli_fleet_init(struct dg_cli_fleet *fl, const struct dg_config *cfg, bool require_flag);
/* 0: go on (claim won, no [fleet], or etcd unreachable and not required: warned, noted in az's evidence);
 * -DG_REFUSED: another monitor holds the target (err names it and since when); -DG_UNAVAILABLE: required and
 * etcd cannot answer; other -status: the [fleet] section or the credentials are wrong. */
int dg_cli_fleet_claim(struct dg_cli_fleet *fl, const char *target, const char *action, struct dg_authz *az,
		       struct dg_cli_fleet_ticket *ret, struct dg_error *err);
void dg_cli_fleet_unclaim(struct dg_cli_fleet *fl, struct dg_cli_fleet_ticket *t);
void dg_cli_fleet_close(struct dg_cli_fleet *fl);
