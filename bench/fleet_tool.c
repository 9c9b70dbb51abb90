/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Drives the fleet API (fleet.h) from the command line, for tests/integration/test_fleet.py and
 * bench/fleet_bench.py. Not installed.
 *
 *   fleet_tool CONFIG claim MONITOR TARGET COOLDOWN [MAX_ACTIONS WINDOW]   -> "won|claimed|rate HOLDER" / status
 *   fleet_tool CONFIG claim-bench MONITOR N                                -> seconds per claim, one per line
 *   fleet_tool local-bench STATEFILE N                                     -> the same with the local state file
 *   fleet_tool CONFIG publish MONITOR N_TARGETS N_SUSPECT TTL ROUNDS [HOLD] -> seconds per publish, then counts
 *   fleet_tool CONFIG counts MONITOR                                        -> "watched N suspect M"
 *   fleet_tool responder-bench STATEFILE N                                  -> seconds per responder decision
 *   fleet_tool CONFIG responder-bench MONITOR STATEFILE N                   -> the same, with the fleet
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "diagint/brakes.h"
#include "diagint/config.h"
#include "diagint/fleet.h"
#include "diagint/responder.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fail(const struct dg_error *err)
{
	fprintf(stderr, "fleet_tool: %s\n", err->message);
	return (int)err->status;
}

static int local_bench(const char *state, int n)
{
	struct dg_brakes_policy p;
	struct dg_brakes *b = NULL;
	struct dg_error err = { 0 };

	dg_brakes_policy_default(&p);
	p.max_actions = 0;
	p.max_captures = 0;
	if (dg_brakes_new(&p, state, NULL, NULL, &b, NULL, &err) < 0)
		return fail(&err);
	for (int i = 0; i < n; i++) {
		struct dg_brakes_decision d;
		char target[64];
		double t0 = now();
		snprintf(target, sizeof(target), "aws:us-east-1/i-bench%06d", i);
		if (dg_brakes_request(b, target, DG_BRAKES_INTERRUPT, false, &d, &err) < 0)
			return fail(&err);
		printf("%.6f\n", now() - t0);
	}
	dg_brakes_free(b);
	return 0;
}

static int nothing(void *ud, const struct dg_responder_request *req, struct dg_error *err)
{
	(void)ud;
	(void)req;
	(void)err;
	return 0;
}

/* dg_responder_decide for n new targets (local brakes with their state file, then the fleet when f): what a
 * decision costs a monitor, record and action aside. */
static int responder_bench(const char *state, int n, struct dg_fleet *f)
{
	struct dg_brakes_policy p;
	struct dg_brakes *b = NULL;
	struct dg_responder *r = NULL;
	struct dg_error err = { 0 };
	int rc = 0;

	dg_brakes_policy_default(&p);
	p.max_actions = 0;
	p.max_captures = 0;
	p.cooldown = 60;
	if (dg_brakes_new(&p, state, NULL, NULL, &b, NULL, &err) < 0)
		return fail(&err);
	struct dg_responder_opts o = { .brakes = b, .interval = 1, .ops = { .record = nothing, .act = nothing },
				       .fleet = f };
	if (dg_responder_new(&o, &r, &err) < 0 || dg_responder_fleet_tick(r, &err) < 0) {
		rc = fail(&err);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		struct dg_responder_request req = { .action = DG_BRAKES_INTERRUPT };
		char target[64];
		double t0;
		snprintf(target, sizeof(target), "aws:us-east-1/i-rb%06d-%d", i, (int)getpid());
		req.target = target;
		t0 = now();
		if (dg_responder_decide(r, NULL, &req, NULL) != DG_RESPONDER_ACTED) {
			fprintf(stderr, "fleet_tool: not acted: %s\n", req.decision.reason);
			rc = 1;
			goto out;
		}
		printf("%.6f\n", now() - t0);
	}
out:
	dg_responder_free(r);
	dg_brakes_free(b);
	return rc;
}

int main(int argc, char **argv)
{
	struct dg_config *cfg = NULL;
	const struct dg_fleet_config *fc;
	struct dg_fleet *f = NULL;
	struct dg_error err = { 0 };
	int r = 0;

	if (argc >= 4 && !strcmp(argv[1], "local-bench"))
		return local_bench(argv[2], atoi(argv[3]));
	if (argc >= 4 && !strcmp(argv[1], "responder-bench"))
		return responder_bench(argv[2], atoi(argv[3]), NULL);
	if (argc < 4) {
		fprintf(stderr, "usage: see bench/fleet_tool.c\n");
		return 2;
	}
	if (dg_config_load(argv[1], &cfg, &err) < 0)
		return fail(&err);
	fc = dg_config_fleet(cfg);
	if (!fc) {
		fprintf(stderr, "fleet_tool: %s has no [fleet]\n", argv[1]);
		return 2;
	}
	if (dg_fleet_new(fc, argv[3], &f, &err) < 0)
		return fail(&err);
	if (!strcmp(argv[2], "claim") && argc >= 6) {
		struct dg_fleet_request req = { argv[4], "test", atof(argv[5]), 0, 0 };
		struct dg_fleet_claim c;
		if (argc >= 8) {
			req.max_actions = (unsigned)atoi(argv[6]);
			req.window = atof(argv[7]);
		}
		r = dg_fleet_claim(f, &req, &c, &err);
		if (r < 0) {
			r = fail(&err);
		} else {
			printf("%s %s %.3f %.3f\n", dg_fleet_verdict_name(c.verdict), c.holder, c.since, c.until);
			fprintf(stderr, "%s\n", c.reason);
			r = c.verdict == DG_FLEET_WON ? 0 : 6;
		}
	} else if (!strcmp(argv[2], "claim-bench") && argc >= 5) {
		for (int i = 0; i < atoi(argv[4]) && r == 0; i++) {
			struct dg_fleet_claim c;
			char target[64];
			struct dg_fleet_request req = { target, "bench", 60, 0, 0 };
			double t0;
			snprintf(target, sizeof(target), "aws:us-east-1/i-bench%06d-%d", i, (int)getpid());
			t0 = now();
			r = dg_fleet_claim(f, &req, &c, &err);
			if (r < 0)
				r = fail(&err);
			else
				printf("%.6f\n", now() - t0);
		}
	} else if (!strcmp(argv[2], "publish") && argc >= 8) {
		int n = atoi(argv[4]), ns = atoi(argv[5]), rounds = atoi(argv[7]);
		double ttl = atof(argv[6]);
		char target[64];
		for (int round = 0; round < rounds && r == 0; round++) {
			double t0;
			/* Round 0 publishes everything; later rounds move the suspects by one (a realistic change). */
			for (int i = 0; i < n; i++) {
				snprintf(target, sizeof(target), "aws:us-east-1/i-%08d", i);
				dg_fleet_set(f, target, true, i >= round && i < round + ns);
			}
			t0 = now();
			r = dg_fleet_publish(f, ttl, &err);
			if (r < 0)
				r = fail(&err);
			else
				printf("%.6f\n", now() - t0);
		}
		if (r == 0 && argc >= 9)
			sleep((unsigned)atoi(argv[8]));
	} else if (!strcmp(argv[2], "responder-bench") && argc >= 6) {
		r = responder_bench(argv[4], atoi(argv[5]), f);
	} else if (!strcmp(argv[2], "counts")) {
		uint64_t w = 0, s = 0;
		r = dg_fleet_counts(f, &w, &s, &err);
		if (r < 0)
			r = fail(&err);
		else
			printf("watched %llu suspect %llu\n", (unsigned long long)w, (unsigned long long)s);
	} else {
		fprintf(stderr, "usage: see bench/fleet_tool.c\n");
		r = 2;
	}
	{
		unsigned long req = 0, fo = 0;
		dg_fleet_stats(f, &req, &fo);
		fprintf(stderr, "fleet_tool: %lu requests, %lu failovers\n", req, fo);
	}
	dg_fleet_free(f);
	dg_config_free(cfg);
	return r;
}
