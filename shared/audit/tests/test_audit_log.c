/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The audit log's writer: chain, head, repair after a torn write, records lost from the end, rotation, a keyed
 * chain, 50 concurrent writers, and writers killed with SIGKILL mid-append. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "diagint/audit.h"
#include "diagint/audit_verify.h"
#include "tap.h"

#define QUIET (DG_AUDIT_NO_SYSLOG | DG_AUDIT_NO_KAUDIT)

static char scratch[] = "/tmp/dg-test-audit-log-XXXXXX";

static void path_in(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", scratch, name);
}

static void event(struct dg_audit_event *ev, int i)
{
	dg_audit_event_init(ev, "test", "inject");
	snprintf(ev->actor.user, sizeof(ev->actor.user), "user%d", i % 7);
	snprintf(ev->target, sizeof(ev->target), "libvirt:web-%d", i);
	snprintf(ev->reason, sizeof(ev->reason), "record %d", i);
}

static int append_n(const char *path, int n, int base, unsigned flags, const unsigned char *key, size_t keylen)
{
	struct dg_audit_log *log = NULL;
	struct dg_audit_event ev;
	struct dg_error err = { 0 };

	if (dg_audit_log_open(path, key, keylen, flags, &log, &err) < 0) {
		printf("# open: %s\n", err.message);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		event(&ev, base + i);
		if (dg_audit_append(log, &ev, NULL, &err) < 0) {
			printf("# append: %s\n", err.message);
			dg_audit_log_free(log);
			return -1;
		}
	}
	dg_audit_log_free(log);
	return 0;
}

static int verify(const char *path, const unsigned char *key, size_t keylen, struct dg_audit_verify_result *res)
{
	struct dg_audit_verify_opts o = { .key = key, .keylen = keylen };
	struct dg_error err = { 0 };
	const char *files[] = { path };
	int r = dg_audit_verify(files, 1, &o, res, &err);

	if (r < 0 && res->problem[0])
		printf("# verify: %s\n", res->problem);
	else if (r < 0)
		printf("# verify error: %s\n", err.message);
	return r;
}

static long count_lines(const char *path, const char *needle)
{
	char line[DG_AUDIT_LINE_MAX];
	long n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!needle || strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

static void test_chain_and_head(void)
{
	struct dg_audit_verify_result res;
	struct dg_audit_head head, h2;
	struct dg_audit_log *log = NULL;
	struct dg_audit_event ev;
	struct dg_error err = { 0 };
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/sub/dir/audit.jsonl", scratch);
	CHECK(dg_audit_log_open(path, NULL, 0, QUIET, &log, &err) == 0, "open creates missing directories (%s)",
	      err.message);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "the log is created mode 0600");
	event(&ev, 1);
	CHECK(dg_audit_append(log, &ev, &head, &err) == 0 && head.seq == 1, "first record is seq 1");
	event(&ev, 2);
	CHECK(dg_audit_append(log, &ev, &head, &err) == 0 && head.seq == 2, "second record is seq 2");
	dg_audit_log_free(log);
	CHECK(dg_audit_head_read(path, &h2, &err) == 0 && h2.seq == 2 && !strcmp(h2.sha256, head.sha256),
	      "PATH.head holds the last seq and its hash");
	CHECK(append_n(path, 3, 3, QUIET, NULL, 0) == 0, "a second writer continues the chain");
	CHECK(count_lines(path, NULL) == 5, "five lines");
	CHECK(count_lines(path, "\"seq\":5,") == 1, "the fifth is seq 5");
	CHECK(verify(path, NULL, 0, &res) == 0 && res.records == 5 && res.head_checked, "verify passes");
	CHECK(dg_audit_path("/x/y") && !strcmp(dg_audit_path("/x/y"), "/x/y"), "--audit-log wins");
	setenv(DG_AUDIT_ENV_PATH, "/from/env", 1);
	CHECK_STR(dg_audit_path(NULL), "/from/env", "$DIAGINT_AUDIT_LOG next");
	unsetenv(DG_AUDIT_ENV_PATH);
	CHECK_STR(dg_audit_path(NULL), DG_AUDIT_DEFAULT_PATH, "then the default");
}

static void test_torn_line_repaired(void)
{
	struct dg_audit_verify_result res;
	struct dg_audit_log *log = NULL;
	struct dg_error err = { 0 };
	char path[256];
	int fd, notices = -1;
	off_t before;

	path_in(path, sizeof(path), "torn.jsonl");
	append_n(path, 3, 0, QUIET, NULL, 0);
	before = file_size(path);
	/* What a power cut mid-write leaves: the start of a record and no newline. */
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(write(fd, "{\"v\":1,\"seq\":4,\"prev\":\"ab", 25) == 25, "a torn line is appended");
	close(fd);
	CHECK(verify(path, NULL, 0, &res) < 0 && strstr(res.problem, "torn") && res.bad_line == 4,
	      "verify names the torn line 4");
	CHECK(dg_audit_log_open(path, NULL, 0, QUIET, &log, &err) == 0, "open");
	CHECK(dg_audit_repair(log, &notices, &err) == 0 && notices == 1, "repair writes one notice");
	CHECK(dg_audit_repair(log, &notices, &err) == 0 && notices == 0, "a second repair finds nothing to do");
	dg_audit_log_free(log);
	CHECK(file_size(path) > before, "the torn bytes were replaced by a record");
	CHECK(count_lines(path, "\"action\":\"audit-repair\"") == 1, "one audit-repair record");
	CHECK(count_lines(path, "25 bytes") == 1, "it says how many bytes were cut");
	CHECK(verify(path, NULL, 0, &res) == 0 && res.records == 4, "verify passes after the repair");
	CHECK(append_n(path, 1, 10, QUIET, NULL, 0) == 0 && verify(path, NULL, 0, &res) == 0 && res.last_seq == 5,
	      "appending goes on from the repair record");
}

static void test_tail_cut_is_recorded(void)
{
	struct dg_audit_verify_result res;
	char path[256];
	long lines;

	path_in(path, sizeof(path), "cut.jsonl");
	append_n(path, 6, 0, QUIET, NULL, 0);
	/* Remove the last two records cleanly: every remaining line is intact. */
	lines = 0;
	{
		FILE *f = fopen(path, "r");
		char buf[DG_AUDIT_LINE_MAX];
		off_t keep = 0;

		while (fgets(buf, sizeof(buf), f) && ++lines <= 4)
			keep += (off_t)strlen(buf);
		fclose(f);
		CHECK(truncate(path, keep) == 0, "the last two records are cut off cleanly");
	}
	CHECK(verify(path, NULL, 0, &res) < 0 && strstr(res.problem, "cut from its end") &&
	      strstr(res.problem, "5..6"), "verify: records 5..6 were cut from its end");
	CHECK(append_n(path, 1, 50, QUIET, NULL, 0) == 0, "a writer still appends");
	CHECK(count_lines(path, "\"action\":\"audit-gap\"") == 1, "and first records the gap it found");
	CHECK(verify(path, NULL, 0, &res) < 0 && strstr(res.problem, "lost") && res.bad_seq == 5,
	      "verify keeps failing at the gap record (seq 5), naming it");
}

static void test_rotation(void)
{
	struct dg_audit_verify_result res;
	struct dg_audit_log *log = NULL;
	struct dg_error err = { 0 };
	char path[256], rotated[PATH_MAX];
	const char *files[2];
	struct dg_audit_verify_opts o = { 0 };

	path_in(path, sizeof(path), "rot.jsonl");
	append_n(path, 4, 0, QUIET, NULL, 0);
	CHECK(dg_audit_log_open(path, NULL, 0, QUIET, &log, &err) == 0, "open");
	CHECK(dg_audit_rotate(log, rotated, &err) == 0, "rotate (%s)", err.message);
	dg_audit_log_free(log);
	CHECK(count_lines(rotated, NULL) == 4, "the old file keeps its 4 records as %s", rotated);
	CHECK(count_lines(path, "\"action\":\"rotate\"") == 1 && count_lines(path, "\"seq\":5,") == 1,
	      "the new file starts with the rotate record, seq 5");
	append_n(path, 2, 10, QUIET, NULL, 0);
	CHECK(verify(path, NULL, 0, &res) == 0 && res.first_seq == 5 && res.last_seq == 7 && res.nnotes > 0,
	      "the live file verifies alone, with a note that it continues a rotated file");
	files[0] = rotated;
	files[1] = path;
	CHECK(dg_audit_verify(files, 2, &o, &res, &err) == 0 && res.records == 7, "both files verify as one chain");
	files[0] = path;
	files[1] = rotated;
	CHECK(dg_audit_verify(files, 2, &o, &res, &err) < 0, "in the wrong order they do not (%s)", res.problem);
}

static void test_keyed(void)
{
	static const unsigned char key[] = "0123456789abcdef0123456789abcdef";
	static const unsigned char other[] = "fedcba9876543210fedcba9876543210";
	struct dg_audit_verify_result res;
	struct dg_audit_log *log = NULL;
	struct dg_audit_event ev;
	struct dg_error err = { 0 };
	char path[256];

	path_in(path, sizeof(path), "keyed.jsonl");
	CHECK(append_n(path, 3, 0, QUIET, key, 32) == 0, "a keyed writer appends");
	CHECK(count_lines(path, "\"hmac\":\"") == 3, "each record carries an HMAC");
	CHECK(verify(path, key, 32, &res) == 0 && res.hmac_checked == 3, "verify with the key checks all three");
	CHECK(verify(path, other, 32, &res) < 0 && strstr(res.problem, "HMAC"), "a different key fails");
	CHECK(verify(path, NULL, 0, &res) == 0 && res.nnotes > 0, "without a key: chain only, and a note says so");
	CHECK(dg_audit_log_open(path, NULL, 0, QUIET, &log, &err) == 0, "a keyless writer opens");
	event(&ev, 9);
	CHECK(dg_audit_append(log, &ev, NULL, &err) == -DG_DENIED && strstr(err.message, "keyed"),
	      "but may not extend a keyed chain: %s", err.message);
	dg_audit_log_free(log);
	CHECK(count_lines(path, NULL) == 3, "nothing was written");
}

static void test_concurrent_writers(void)
{
	enum { WRITERS = 50, EACH = 200 };
	struct dg_audit_verify_result res;
	struct timespec a, b;
	char path[256];
	int ok = 1;

	path_in(path, sizeof(path), "many.jsonl");
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int w = 0; w < WRITERS; w++) {
		pid_t pid = fork();
		if (pid == 0)
			exit(append_n(path, EACH, w * EACH, QUIET, NULL, 0) == 0 ? 0 : 1);
	}
	for (int w = 0; w < WRITERS; w++) {
		int status;
		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			ok = 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	CHECK(ok, "%d writers x %d durable appends all succeeded", WRITERS, EACH);
	CHECK(count_lines(path, NULL) == WRITERS * EACH, "%d lines", WRITERS * EACH);
	CHECK(verify(path, NULL, 0, &res) == 0 && res.records == WRITERS * EACH && res.last_seq == WRITERS * EACH,
	      "one valid chain, seq 1..%d", WRITERS * EACH);
	printf("# %d concurrent durable appends in %.2f s\n", WRITERS * EACH,
	       (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
}

/* One dg_audit_log shared by the threads of a process (the collectd plugin's worker and its shutdown, the
 * watcher's loop and capture threads): the file lock does not keep them apart, the log's mutex must. */
struct shared_writer {
	struct dg_audit_log *log;
	int base, failed;
};

static void *append_shared(void *arg)
{
	struct shared_writer *sw = arg;
	struct dg_error err = { 0 };

	for (int i = 0; i < 100; i++)
		if (dg_audit_append_outcome(sw->log, "test", "send", &(struct dg_audit_outcome){
			.target = "aws:us-east-1/i-0123456789abcdef0", .reason = "threads", .result = DG_AUDIT_OK },
			&err) < 0)
			sw->failed++;
	return NULL;
}

static void test_threads_share_one_log(void)
{
	struct dg_audit_verify_result res;
	struct dg_audit_log *log = NULL;
	struct dg_error err = { 0 };
	struct shared_writer sw[8];
	pthread_t th[8];
	char path[256];
	int failed = 0;

	path_in(path, sizeof(path), "threads.jsonl");
	CHECK(dg_audit_log_open(path, NULL, 0, QUIET | DG_AUDIT_NO_FSYNC, &log, &err) == 0, "open");
	for (int i = 0; i < 8; i++) {
		sw[i] = (struct shared_writer){ log, i * 100, 0 };
		pthread_create(&th[i], NULL, append_shared, &sw[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		failed += sw[i].failed;
	}
	dg_audit_log_free(log);
	CHECK(!failed, "8 threads x 100 appends through one log all succeeded");
	CHECK(count_lines(path, "\"reason\":\"threads\"") == 800, "800 outcome records");
	CHECK(verify(path, NULL, 0, &res) == 0 && res.records == 800 && res.last_seq == 800, "one valid chain, seq 1..800");
}

static void test_sigkill_loop(void)
{
	enum { ROUNDS = 40 };
	struct dg_audit_verify_result res;
	struct dg_audit_log *log = NULL;
	struct dg_error err = { 0 };
	char path[256];
	int tears = 0, notices = 0, total_notices = 0, failures = 0;

	path_in(path, sizeof(path), "killed.jsonl");
	srand(7);
	for (int round = 0; round < ROUNDS; round++) {
		pid_t pids[3];

		for (int k = 0; k < 3; k++) {
			pids[k] = fork();
			if (pids[k] == 0) {
				append_n(path, 100000, round * 1000, QUIET, NULL, 0);
				_exit(0);
			}
		}
		usleep(2000 + (useconds_t)(rand() % 20000));
		for (int k = 0; k < 3; k++)
			kill(pids[k], SIGKILL);
		for (int k = 0; k < 3; k++)
			waitpid(pids[k], NULL, 0);
		/* SIGKILL cannot interrupt a write into the page cache; a power cut can. Every third round leaves
		 * what that leaves: a record's first bytes. */
		if (round % 3 == 0) {
			int fd = open(path, O_WRONLY | O_APPEND);
			if (fd >= 0 && write(fd, "{\"v\":1,\"seq\":", 13) == 13)
				tears++;
			if (fd >= 0)
				close(fd);
		}
		if (dg_audit_log_open(path, NULL, 0, QUIET, &log, &err) < 0 || dg_audit_repair(log, &notices, &err) < 0)
			failures++;
		total_notices += notices;
		dg_audit_log_free(log);
		log = NULL;
		if (verify(path, NULL, 0, &res) < 0)
			failures++;
	}
	CHECK(failures == 0, "%d rounds of 3 writers killed mid-append: after each repair, verify passes", ROUNDS);
	CHECK(total_notices >= tears && tears > 0, "every torn tail was repaired and recorded (%d tears, %d notices)",
	      tears, total_notices);
	CHECK(count_lines(path, "\"action\":\"audit-repair\"") == total_notices, "one audit-repair record each");
	printf("# %llu records survived %d kill rounds\n", (unsigned long long)res.records, ROUNDS);
}

int main(void)
{
	if (!mkdtemp(scratch))
		SKIP_ALL("cannot create a scratch directory in /tmp: %s", strerror(errno));
	test_chain_and_head();
	test_torn_line_repaired();
	test_tail_cut_is_recorded();
	test_rotation();
	test_keyed();
	test_concurrent_writers();
	test_threads_share_one_log();
	test_sigkill_loop();
	{
		char cmd[512];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", scratch);
		(void)!system(cmd);
	}
	return tap_done();
}
