/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The brakes with a fake clock: cooldown (and that it survives a restart through the state file), the
 * host-wide rate, the storm brake over simulated targets, the capture slots, dry run, a clock that steps back,
 * a damaged or unwritable state file, and a fresh host (the state's directory made, unwritable state fails at
 * start). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diagint/brakes.h"
#include "tap.h"

static double fake_now = 1700000000.0;

static double fake_clock(void *ud)
{
	(void)ud;
	return fake_now;
}

static char scratch[] = "/tmp/dg-test-brakes-XXXXXX";

static struct dg_brakes_policy open_policy(void)
{
	struct dg_brakes_policy p;

	dg_brakes_policy_default(&p);
	p.max_actions = 0;
	p.max_captures = 0;
	p.storm_percent = 100;
	return p;
}

static struct dg_brakes *make(const struct dg_brakes_policy *p, const char *state)
{
	struct dg_brakes *b = NULL;
	struct dg_error err = { 0 };
	int r = dg_brakes_new(p, state, fake_clock, NULL, &b, NULL, &err);

	if (r < 0) {
		printf("Bail out! dg_brakes_new: %s\n", err.message);
		exit(1);
	}
	return b;
}

static enum dg_brakes_verdict ask(struct dg_brakes *b, const char *target, enum dg_brakes_action a, bool cap,
				  struct dg_brakes_decision *d)
{
	struct dg_brakes_decision local;
	struct dg_error err = { 0 };

	if (!d)
		d = &local;
	if (dg_brakes_request(b, target, a, cap, d, &err) < 0) {
		printf("# request failed: %s\n", err.message);
		return (enum dg_brakes_verdict)-1;
	}
	return d->verdict;
}

static void test_defaults(void)
{
	struct dg_brakes_policy p;

	dg_brakes_policy_default(&p);
	CHECK(p.cooldown == 3600, "default cooldown one hour");
	CHECK(p.max_actions == 5 && p.window == 3600, "default 5 actions per hour host-wide");
	CHECK(p.storm_percent == 50 && p.storm_min_targets == 3, "default storm: >50%% of at least 3");
	CHECK(p.max_captures == 1 && !p.dry_run, "default one capture at a time, for real");
	CHECK_STR(dg_brakes_verdict_name(DG_BRAKES_STORM), "storm", "verdict names");
}

static void test_cooldown(void)
{
	struct dg_brakes_policy p = open_policy();
	struct dg_brakes_decision d;
	struct dg_brakes *b;

	p.cooldown = 600;
	b = make(&p, NULL);
	CHECK(ask(b, "web-1", DG_BRAKES_INTERRUPT, false, &d) == DG_BRAKES_GO, "first NMI goes");
	fake_now += 10;
	CHECK(ask(b, "web-1", DG_BRAKES_INTERRUPT, false, &d) == DG_BRAKES_COOLDOWN, "second NMI 10 s later refused");
	CHECK(d.retry_after > 589 && d.retry_after < 591, "retry after 590 s (%g)", d.retry_after);
	CHECK(strstr(d.reason, "web-1") && strstr(d.reason, "cooldown"), "reason names the target: %s", d.reason);
	CHECK(ask(b, "web-2", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_GO, "another target is not cooled");
	CHECK(ask(b, "web-1", DG_BRAKES_CAPTURE, false, NULL) == DG_BRAKES_GO,
	      "capturing a panicked guest ignores the NMI cooldown");
	fake_now += 590;
	CHECK(ask(b, "web-1", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_GO, "allowed when the cooldown ends");
	CHECK(dg_brakes_cooldown_left(b, "web-1") == 600, "cooldown restarted");
	CHECK(dg_brakes_cooldown_left(b, "nobody") == 0, "unknown target: no cooldown");

	/* The clock steps back an hour: the cooldown counts from "now", it does not grow to two hours. */
	fake_now -= 3600;
	CHECK(ask(b, "web-1", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_COOLDOWN, "clock back: still cooled");
	CHECK(dg_brakes_cooldown_left(b, "web-1") == 600, "clock back: at most one cooldown left");
	fake_now += 3600;

	/* A domain's own cooldown (its metadata) wins over the policy's, and can be taken back. */
	dg_brakes_set_cooldown(b, "web-1", 30);
	CHECK(dg_brakes_cooldown_left(b, "web-1") == 30, "own cooldown 30 s instead of 600 s");
	fake_now += 31;
	CHECK(dg_brakes_cooldown_left(b, "web-1") == 0, "own cooldown over after 31 s");
	CHECK(ask(b, "web-1", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_GO, "own cooldown: acted");
	fake_now += 20;
	CHECK(ask(b, "web-1", DG_BRAKES_INTERRUPT, false, &d) == DG_BRAKES_COOLDOWN && strstr(d.reason, "own cooldown"),
	      "own cooldown: 20 s later refused, the reason says whose cooldown: %s", d.reason);
	fake_now += 11;
	CHECK(ask(b, "web-1", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_GO, "own cooldown: 31 s later allowed");
	dg_brakes_set_cooldown(b, "web-1", -1);
	CHECK(dg_brakes_cooldown_left(b, "web-1") == 600, "back to the policy's cooldown");
	dg_brakes_set_cooldown(b, "never-seen", -1);
	CHECK(dg_brakes_cooldown_left(b, "never-seen") == 0, "clearing an unknown target creates nothing");

	p.cooldown = 0;
	dg_brakes_set_policy(b, &p);
	CHECK(ask(b, "web-1", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_GO, "reload to Cooldown=0 takes effect");
	dg_brakes_free(b);
}

static void test_persistence(void)
{
	struct dg_brakes_policy p = open_policy();
	char path[256], bad[256];
	struct dg_brakes *b;
	struct dg_error err = { 0 };
	unsigned skipped = 99;
	const char *hostile = "evil name\twith\nnewline %41";
	FILE *f;
	int r;

	p.max_actions = 3;
	p.window = 1000;
	snprintf(path, sizeof(path), "%s/state", scratch);
	b = make(&p, path);
	CHECK(ask(b, "web-1", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_GO, "NMI before restart");
	CHECK(ask(b, hostile, DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_GO, "hostile name before restart");
	dg_brakes_free(b);
	CHECK(access(path, F_OK) == 0, "state file written");
	{
		struct stat st;
		CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "state file mode 0600");
	}

	fake_now += 60;
	r = dg_brakes_new(&p, path, fake_clock, NULL, &b, &skipped, &err);
	CHECK(r == 0 && skipped == 0, "state reloaded (%d, %u skipped: %s)", r, skipped, err.message);
	CHECK(ask(b, "web-1", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_COOLDOWN,
	      "cooldown survives a restart of the watcher");
	CHECK(ask(b, hostile, DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_COOLDOWN,
	      "a name with tab, newline and %% survives the file");
	CHECK(ask(b, "web-3", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_GO, "third action of the window");
	CHECK(ask(b, "web-4", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_RATE,
	      "actions before the restart still count in the window");
	dg_brakes_free(b);

	/* A damaged file: good lines kept, bad ones counted; the watcher starts anyway. */
	snprintf(bad, sizeof(bad), "%s/bad", scratch);
	f = fopen(bad, "w");
	fprintf(f, "# diagint brakes state v1\ncooldown %.3f web-9\ngarbage\ncooldown x y\ncooldown 5 bad%%zz\n"
		   "action\naction %.3f\n", fake_now, fake_now);
	fclose(f);
	r = dg_brakes_new(&p, bad, fake_clock, NULL, &b, &skipped, &err);
	CHECK(r == 0 && skipped == 4, "damaged file: loads, 4 lines skipped (%u)", skipped);
	CHECK(ask(b, "web-9", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_COOLDOWN, "damaged file: good line kept");
	dg_brakes_free(b);

	/* State that cannot be written at the first action (its directory went away): refuse (a cooldown that
	 * would be forgotten is no cooldown). */
	{
		char dir[200];

		snprintf(dir, sizeof(dir), "%s/gone", scratch);
		snprintf(bad, sizeof(bad), "%s/state", dir);
		b = make(&p, bad);
		CHECK(unlink(bad) == 0 && rmdir(dir) == 0, "state directory removed behind the brakes' back");
		f = fopen(dir, "w"); /* a file where the directory was: no mode bits let even root write under it */
		if (f)
			fclose(f);
		r = dg_brakes_request(b, "web-1", DG_BRAKES_INTERRUPT, false, NULL, &err);
		CHECK(r == -DG_FAILED && strstr(err.message, "brake state"), "unwritable state refuses: %s",
		      err.message);
		CHECK(dg_brakes_cooldown_left(b, "web-1") == 0, "and records nothing");
		dg_brakes_free(b);
	}
	snprintf(bad, sizeof(bad), "%s/unreadable", scratch);
	mkdir(bad, 0700); /* a directory where the file should be: read fails with EISDIR */
	r = dg_brakes_new(&p, bad, fake_clock, NULL, &b, &skipped, &err);
	CHECK(r < 0 || b != NULL, "a directory as state file does not crash (%d)", r);
	if (r == 0)
		dg_brakes_free(b);
}

/* A fresh host: the state's directory is made; a state that cannot be written fails at start, dry run too. */
static void test_state_at_start(void)
{
	struct dg_brakes_policy p = open_policy();
	struct dg_brakes *b = NULL;
	struct dg_error err = { 0 };
	char path[300], file[300];
	struct stat st;
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "%s/fresh/var/lib/diagint/watch.state", scratch);
	r = dg_brakes_new(&p, path, fake_clock, NULL, &b, NULL, &err);
	CHECK(r == 0, "missing directories of the state are created (%s)", err.message);
	dg_brakes_free(b);
	snprintf(file, sizeof(file), "%s/fresh/var/lib/diagint", scratch);
	CHECK(stat(file, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0755,
	      "the state directory is 0755 (%o)", (unsigned)(st.st_mode & 0777));
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "the state is written at start, 0600");

	/* Dry run: the state is written all the same, so a trial shows an unwritable StateFile. */
	snprintf(file, sizeof(file), "%s/notadir", scratch);
	f = fopen(file, "w");
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "%s/notadir/state", scratch);
	p.dry_run = true;
	b = NULL;
	dg_error_clear(&err);
	r = dg_brakes_new(&p, path, fake_clock, NULL, &b, NULL, &err);
	CHECK(r == -DG_USAGE && b == NULL, "a state that cannot be written fails at new(), dry run too (%d)", r);
	CHECK(strstr(err.message, "StateFile") && strstr(err.message, path), "the message names it and the fix: %s",
	      err.message);

	snprintf(path, sizeof(path), "%s/notadir/sub/state", scratch);
	dg_error_clear(&err);
	r = dg_brakes_new(&p, path, fake_clock, NULL, &b, NULL, &err);
	CHECK(r == -DG_USAGE && strstr(err.message, "mkdir -p"), "a directory that cannot be made: %s", err.message);

	if (geteuid() != 0) {
		snprintf(file, sizeof(file), "%s/ro", scratch);
		mkdir(file, 0500);
		snprintf(path, sizeof(path), "%s/ro/state", scratch);
		dg_error_clear(&err);
		r = dg_brakes_new(&p, path, fake_clock, NULL, &b, NULL, &err);
		CHECK(r == -DG_USAGE && strstr(err.message, "StateFile"), "a read-only directory: %s", err.message);
	}
}

static void test_rate(void)
{
	struct dg_brakes_policy p = open_policy();
	struct dg_brakes_decision d;
	struct dg_brakes *b;

	p.max_actions = 2;
	p.window = 100;
	b = make(&p, NULL);
	CHECK(ask(b, "a", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_GO, "1st action");
	fake_now += 30;
	CHECK(ask(b, "b", DG_BRAKES_CAPTURE, false, NULL) == DG_BRAKES_GO, "2nd action (a capture counts too)");
	fake_now += 30;
	CHECK(ask(b, "c", DG_BRAKES_INTERRUPT, false, &d) == DG_BRAKES_RATE, "3rd within the window refused");
	CHECK(d.retry_after > 39 && d.retry_after < 41, "retry when the oldest leaves the window (%g)", d.retry_after);
	CHECK(ask(b, "c", DG_BRAKES_CAPTURE, false, NULL) == DG_BRAKES_RATE, "captures are rate limited too");
	fake_now += 41;
	CHECK(ask(b, "c", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_GO, "allowed once the oldest left");
	dg_brakes_free(b);
}

static void test_storm(void)
{
	struct dg_brakes_policy p = open_policy();
	struct dg_brakes_decision d;
	struct dg_brakes *b;
	char name[32];

	/* Ten simulated targets. */
	p.storm_percent = 50;
	p.storm_min_targets = 3;
	b = make(&p, NULL);
	dg_brakes_set_watched(b, 10);
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "vm-%d", i);
		dg_brakes_set_suspect(b, name, true);
	}
	CHECK(ask(b, "vm-0", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_GO, "4 of 10 hung: act");
	dg_brakes_set_suspect(b, "vm-4", true);
	CHECK(ask(b, "vm-1", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_GO, "5 of 10 (exactly 50%%): act");
	dg_brakes_set_suspect(b, "vm-5", true);
	CHECK(ask(b, "vm-2", DG_BRAKES_INTERRUPT, false, &d) == DG_BRAKES_STORM, "6 of 10: storm brake");
	CHECK(strstr(d.reason, "6 of 10"), "reason counts: %s", d.reason);
	CHECK(ask(b, "vm-2", DG_BRAKES_CAPTURE, false, NULL) == DG_BRAKES_GO,
	      "a guest that panicked by itself is still captured during a storm");
	/* The one asked about counts even when the caller did not mark it. */
	dg_brakes_set_suspect(b, "vm-5", false);
	CHECK(ask(b, "vm-7", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_STORM,
	      "5 marked + the unmarked requester = 6 of 10: storm");
	dg_brakes_forget(b, "vm-4");
	dg_brakes_forget(b, "vm-3");
	CHECK(ask(b, "vm-3", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_GO, "storm over when they recover");

	/* Too few targets for a storm to mean anything: one hung guest out of one is a guest fault. */
	dg_brakes_set_watched(b, 2);
	CHECK(ask(b, "vm-8", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_GO, "2 watched: storm brake off");
	dg_brakes_set_watched(b, 0);
	CHECK(ask(b, "vm-9", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_GO, "0 watched: no division by zero");
	dg_brakes_free(b);

	/* Storm is reported before cooldowns: the operator must learn about the host. */
	p.cooldown = 3600;
	b = make(&p, NULL);
	CHECK(ask(b, "x", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_GO, "x interrupted");
	dg_brakes_set_watched(b, 3);
	dg_brakes_set_suspect(b, "x", true);
	dg_brakes_set_suspect(b, "y", true);
	CHECK(ask(b, "x", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_STORM, "storm wins over cooldown");
	dg_brakes_free(b);
}

static void test_captures(void)
{
	struct dg_brakes_policy p = open_policy();
	struct dg_brakes *b;

	p.max_captures = 2;
	b = make(&p, NULL);
	CHECK(ask(b, "a", DG_BRAKES_CAPTURE, true, NULL) == DG_BRAKES_GO, "1st capture");
	CHECK(ask(b, "b", DG_BRAKES_INTERRUPT, true, NULL) == DG_BRAKES_GO, "2nd capture");
	CHECK(dg_brakes_captures_in_flight(b) == 2, "2 in flight");
	CHECK(ask(b, "c", DG_BRAKES_CAPTURE, true, NULL) == DG_BRAKES_BUSY, "3rd waits: busy");
	CHECK(ask(b, "c", DG_BRAKES_INTERRUPT, false, NULL) == DG_BRAKES_GO, "an NMI without capture needs no slot");
	dg_brakes_release(b);
	CHECK(ask(b, "c", DG_BRAKES_CAPTURE, true, NULL) == DG_BRAKES_GO, "a slot came free");
	dg_brakes_release(b);
	dg_brakes_release(b);
	dg_brakes_release(b); /* one too many: must not wrap around */
	CHECK(dg_brakes_captures_in_flight(b) == 0, "release never goes below zero");
	dg_brakes_free(b);
}

static void test_dry_run(void)
{
	struct dg_brakes_policy p = open_policy();
	struct dg_brakes_decision d;
	struct dg_brakes *b;
	char path[256];

	p.dry_run = true;
	p.max_captures = 1;
	snprintf(path, sizeof(path), "%s/dry", scratch);
	b = make(&p, path);
	CHECK(ask(b, "a", DG_BRAKES_INTERRUPT, true, &d) == DG_BRAKES_DRY_RUN, "dry run: would act");
	CHECK(strstr(d.reason, "dry run"), "reason says dry run");
	CHECK(dg_brakes_captures_in_flight(b) == 0, "dry run takes no capture slot");
	{
		/* Written once at start (to prove it can be), never with a dry-run action in it. */
		FILE *f = fopen(path, "r");
		char line[256];
		bool cooldowns = false;

		CHECK(f != NULL, "dry run: the state was written at start");
		while (f && fgets(line, sizeof(line), f))
			cooldowns |= line[0] != '#';
		if (f)
			fclose(f);
		CHECK(!cooldowns, "dry run records no action in the state");
	}
	CHECK(ask(b, "a", DG_BRAKES_INTERRUPT, true, NULL) == DG_BRAKES_COOLDOWN,
	      "dry run still says the second would be refused (once per cooldown in the log)");
	p.dry_run = false;
	dg_brakes_set_policy(b, &p);
	CHECK(ask(b, "a", DG_BRAKES_INTERRUPT, true, NULL) == DG_BRAKES_GO,
	      "after dry run is switched off, a dry-run record does not block a real action");
	dg_brakes_release(b);
	dg_brakes_free(b);
}

int main(void)
{
	if (!mkdtemp(scratch)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_defaults();
	test_cooldown();
	test_persistence();
	test_state_at_start();
	test_rate();
	test_storm();
	test_captures();
	test_dry_run();
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "chmod -R u+rwx %s; rm -rf %s", scratch, scratch);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", scratch);
	}
	return tap_done();
}
