/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The audit log against what a user would otherwise run, side by side in one run:
 *   durable appends/s   dg_audit_append (1 writer; 8 concurrent writers)  vs  a shell appending JSON lines with
 *                       `sync --data` after each
 *   verify, 1M records  dg_audit_verify (chain + head)                    vs  jq parsing every line; sha256sum
 *   filtered query, 1M  dg_audit_query --user --result                     vs  jq select(...)
 * Usage: audit_bench [DIR] [RECORDS]   (default /var/tmp/diagint-bench, 1000000). Prints a markdown table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "diagint/audit.h"
#include "diagint/audit_query.h"
#include "diagint/audit_verify.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void event(struct dg_audit_event *ev, long i)
{
	static const char *const users[] = { "alice", "bob", "carol", "dave", "erin" };

	dg_audit_event_init(ev, "cli", i % 2 ? "inject" : "authorize");
	snprintf(ev->actor.user, sizeof(ev->actor.user), "%s", users[i % 5]);
	snprintf(ev->target, sizeof(ev->target), "libvirt:web-%ld", i % 100);
	snprintf(ev->reason, sizeof(ev->reason), "benchmark record %ld", i);
	ev->result = i % 50 == 0 ? DG_AUDIT_DENIED : DG_AUDIT_OK;
	if (i % 2)
		snprintf(ev->dump_path, sizeof(ev->dump_path), "/var/lib/diagint/dumps/web-%ld-20261122-100000.gcore",
			 i % 100);
}

static int append_many(const char *path, long n, long base, unsigned flags)
{
	struct dg_audit_log *log = NULL;
	struct dg_audit_event ev;
	struct dg_error err = { 0 };

	if (dg_audit_log_open(path, NULL, 0, flags, &log, &err) < 0) {
		fprintf(stderr, "audit_bench: %s\n", err.message);
		return -1;
	}
	for (long i = 0; i < n; i++) {
		event(&ev, base + i);
		if (dg_audit_append(log, &ev, NULL, &err) < 0) {
			fprintf(stderr, "audit_bench: %s\n", err.message);
			dg_audit_log_free(log);
			return -1;
		}
	}
	dg_audit_log_free(log);
	return 0;
}

static void clear(const char *path)
{
	char head[PATH_MAX + 8];

	unlink(path);
	snprintf(head, sizeof(head), "%s.head", path);
	unlink(head);
}

static double run_shell(const char *cmd)
{
	double t = now();
	int r = system(cmd);

	if (r != 0)
		fprintf(stderr, "audit_bench: '%s' exited with %d\n", cmd, r);
	return now() - t;
}

static int count_one(void *ud, const char *line, size_t len, json_object *rec)
{
	(void)line;
	(void)len;
	(void)rec;
	(*(long *)ud)++;
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/var/tmp/diagint-bench";
	long records = argc > 2 ? atol(argv[2]) : 1000000;
	const long single = 20000, writers = 8, each = 5000, shell_n = 2000;
	char path[PATH_MAX], big[PATH_MAX], peer[PATH_MAX], cmd[PATH_MAX * 3];
	struct dg_audit_verify_result res;
	struct dg_error err = { 0 };
	struct dg_audit_filter f = { .user = "alice", .result = "denied" };
	double t, t_single, t_multi, t_shell, t_verify, t_query, t_jq_parse, t_sha, t_jq_query, t_since;
	long found = 0;
	char since[64];
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		perror(dir);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/appends.jsonl", dir);
	snprintf(big, sizeof(big), "%s/big.jsonl", dir);
	snprintf(peer, sizeof(peer), "%s/peer.jsonl", dir);
	const unsigned quiet = DG_AUDIT_NO_SYSLOG;

	/* Durable appends: every record flushed (fdatasync) before append returns, head moved, Linux audit told. */
	clear(path);
	t = now();
	if (append_many(path, single, 0, quiet) < 0)
		return 1;
	t_single = now() - t;

	clear(path);
	t = now();
	for (long w = 0; w < writers; w++)
		if (fork() == 0)
			exit(append_many(path, each, w * each, quiet) < 0);
	for (long w = 0; w < writers; w++)
		wait(NULL);
	t_multi = now() - t;
	{
		const char *files[] = { path };
		if (dg_audit_verify(files, 1, NULL, &res, &err) < 0 || res.records != (uint64_t)(writers * each))
			fprintf(stderr, "audit_bench: concurrent chain broken: %s\n", res.problem);
	}

	/* The peer: a shell appending one JSON line per record and flushing it (what a script would do). */
	unlink(peer);
	snprintf(cmd, sizeof(cmd),
		 "i=0; while [ $i -lt %ld ]; do printf '{\"seq\":%%d,\"user\":\"alice\",\"action\":\"inject\","
		 "\"target\":\"libvirt:web-1\",\"result\":\"ok\"}\\n' $i >> %s; sync --data %s; i=$((i+1)); done",
		 shell_n, peer, peer);
	t_shell = run_shell(cmd);

	/* The big log: written without flushes (the benchmark is about reading it back). */
	clear(big);
	if (append_many(big, records, 0, quiet | DG_AUDIT_NO_KAUDIT | DG_AUDIT_NO_FSYNC) < 0)
		return 1;
	stat(big, &st);
	/* Warm the page cache for both sides alike. */
	snprintf(cmd, sizeof(cmd), "cat %s > /dev/null", big);
	run_shell(cmd);

	{
		const char *files[] = { big };
		t = now();
		if (dg_audit_verify(files, 1, NULL, &res, &err) < 0)
			fprintf(stderr, "audit_bench: verify failed: %s %s\n", res.problem, err.message);
		t_verify = now() - t;
	}
	t = now();
	dg_audit_query(big, &f, count_one, &found, &err);
	t_query = now() - t;
	{
		long n2 = 0;
		struct dg_audit_filter fs = { 0 };
		char until[64];
		/* The last hour's worth by time: the records were written in the last seconds, so take the newest 1%. */
		dg_audit_parse_time("now", time(NULL) - 1, since, sizeof(since), &err);
		dg_audit_parse_time("now", time(NULL) + 60, until, sizeof(until), &err);
		fs.since = since;
		fs.until = until;
		t = now();
		dg_audit_query(big, &fs, count_one, &n2, &err);
		t_since = now() - t;
	}
	snprintf(cmd, sizeof(cmd), "jq -c . %s > /dev/null", big);
	t_jq_parse = run_shell(cmd);
	snprintf(cmd, sizeof(cmd), "sha256sum %s > /dev/null", big);
	t_sha = run_shell(cmd);
	snprintf(cmd, sizeof(cmd),
		 "jq -c 'select((.actor.user == \"alice\" or .actor.ruser == \"alice\") and .result.status == \"denied\")' "
		 "%s | wc -l > /dev/null", big);
	t_jq_query = run_shell(cmd);

	printf("| measure (%ld records, %.0f MiB) | diagint audit | peer | ratio |\n", records, st.st_size / 1048576.0);
	printf("|---|---|---|---|\n");
	printf("| durable appends/s, 1 writer | %.0f | %.0f (sh: printf >> file; sync --data) | %.1fx |\n",
	       single / t_single, shell_n / t_shell, (single / t_single) / (shell_n / t_shell));
	printf("| durable appends/s, %ld writers | %.0f | | %.1fx |\n", writers, writers * each / t_multi,
	       (writers * each / t_multi) / (shell_n / t_shell));
	printf("| verify (chain + head) | %.2f s | %.2f s (jq -c . : parse only, no chain) | %.1fx faster |\n",
	       t_verify, t_jq_parse, t_jq_parse / t_verify);
	printf("| | | %.2f s (sha256sum of the file: no per-record check) | %.1fx |\n", t_sha, t_sha / t_verify);
	printf("| filtered query --user alice --result denied (%ld hits) | %.3f s | %.2f s (jq select) | %.0fx faster |\n",
	       found, t_query, t_jq_query, t_jq_query / t_query);
	printf("| query --since (newest records) | %.3f s | | |\n", t_since);
	printf("\nverify: %llu records ok=%d\n", (unsigned long long)res.records, res.ok);
	return 0;
}
