/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The audit log against someone who can write the files but has no key (docs/security.md): every rewrite the
 * writer or verify could see is recorded by the next writer and reported by verify, never a silent fresh start. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diagint/audit.h"
#include "diagint/audit_anchor.h"
#include "diagint/audit_verify.h"
#include "diagint/hash.h"
#include "tap.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

#define QUIET (DG_AUDIT_NO_SYSLOG | DG_AUDIT_NO_KAUDIT | DG_AUDIT_NO_FSYNC)

static char scratch[] = "/tmp/dg-test-audit-tamper-XXXXXX";
static const unsigned char KEY[32] = "0123456789abcdef0123456789abcdef";

static void path_in(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", scratch, name);
}

static int append_n(const char *path, int n, const unsigned char *key, size_t keylen)
{
	struct dg_audit_log *log = NULL;
	struct dg_audit_event ev;
	struct dg_error err = { 0 };
	int r = 0;

	if (dg_audit_log_open(path, key, keylen, QUIET, &log, &err) < 0) {
		printf("# open: %s\n", err.message);
		return -1;
	}
	for (int i = 0; i < n && r == 0; i++) {
		dg_audit_event_init(&ev, "test", "inject");
		snprintf(ev.target, sizeof(ev.target), "libvirt:web-%d", i);
		r = dg_audit_append(log, &ev, NULL, &err);
		if (r < 0)
			printf("# append: %s\n", err.message);
	}
	dg_audit_log_free(log);
	return r;
}

static int verify(const char *path, const unsigned char *key, size_t keylen, struct dg_audit_verify_result *res)
{
	struct dg_audit_verify_opts o = { .key = key, .keylen = keylen };
	struct dg_error err = { 0 };
	const char *files[] = { path };

	return dg_audit_verify(files, 1, &o, res, &err);
}

static long count(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	long n = 0;

	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0)
		n += !needle || strstr(line, needle);
	free(line);
	fclose(f);
	return n;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;

	*len = 0;
	if (f) {
		buf = malloc(1 << 20);
		*len = fread(buf, 1, (1 << 20) - 1, f);
		buf[*len] = '\0';
		fclose(f);
	}
	return buf;
}

/* What a keyless attacker does: drop every HMAC, change a target, recompute the whole SHA-256 chain. */
static void rewrite_without_key(const char *path, const char *from, const char *to)
{
	size_t len;
	char *in = slurp(path, &len), *out = calloc(1, len + 4096), *w = out;
	char prev[DG_SHA256_HEX_LEN + 1] = ZERO_HASH;
	FILE *f;

	for (char *line = in, *nl; line && (nl = strchr(line, '\n')); line = nl + 1) {
		char *start = w, *mac, *p;

		*nl = '\0';
		/* target text of the same length keeps the rest simple */
		if ((p = strstr(line, from)))
			memcpy(p, to, strlen(to));
		if ((mac = strstr(line, ",\"hmac\":\""))) {
			mac[0] = '}';
			mac[1] = '\0';
		}
		w += sprintf(w, "%s", line);
		p = strstr(start, "\"prev\":\"");
		if (p)
			memcpy(p + 8, prev, DG_SHA256_HEX_LEN);
		dg_hash_buffer(start, (size_t)(w - start), prev);
		*w++ = '\n';
	}
	f = fopen(path, "w");
	fwrite(out, 1, (size_t)(w - out), f);
	fclose(f);
	free(in);
	free(out);
}

static void test_stripped_hmacs_and_deleted_head(void)
{
	struct dg_audit_verify_result res;
	char path[256], head[300];

	path_in(path, sizeof(path), "keyed.jsonl");
	snprintf(head, sizeof(head), "%s" DG_AUDIT_HEAD_SUFFIX, path);
	CHECK(append_n(path, 5, KEY, sizeof(KEY)) == 0 && verify(path, KEY, sizeof(KEY), &res) == 0, "a keyed log");
	rewrite_without_key(path, "libvirt:web-2", "libvirt:db-02");
	unlink(head);
	CHECK(verify(path, NULL, 0, &res) < 0 && strstr(res.problem, "head"),
	      "right after the rewrite, verify without the key already fails on the missing head: %s", res.problem);
	/* The next legitimate writer must not start a fresh head over it. */
	CHECK(append_n(path, 1, KEY, sizeof(KEY)) == 0, "the next keyed append goes on");
	CHECK(count(path, "\"action\":\"audit-gap\"") == 1 && count(path, "is missing or empty") == 1,
	      "and records that the head was gone");
	CHECK(verify(path, KEY, sizeof(KEY), &res) < 0 && strstr(res.problem, "is missing or empty"),
	      "verify --key-file fails, naming it: %s", res.problem);
}

static void test_garbled_and_forged_head(void)
{
	struct dg_audit_verify_result res;
	char path[256], head[300];
	int fd;

	path_in(path, sizeof(path), "garbled.jsonl");
	snprintf(head, sizeof(head), "%s" DG_AUDIT_HEAD_SUFFIX, path);
	append_n(path, 3, NULL, 0);
	fd = open(head, O_WRONLY | O_TRUNC);
	CHECK(write(fd, "{\"seq\":", 7) == 7, "the head is garbled");
	close(fd);
	CHECK(append_n(path, 1, NULL, 0) == 0 && count(path, "is garbled") == 1, "the next writer records it");
	CHECK(verify(path, NULL, 0, &res) < 0, "verify reports it: %s", res.problem);

	path_in(path, sizeof(path), "forged.jsonl");
	snprintf(head, sizeof(head), "%s" DG_AUDIT_HEAD_SUFFIX, path);
	append_n(path, 3, KEY, sizeof(KEY));
	fd = open(head, O_WRONLY | O_TRUNC);
	dprintf(fd, "{\"seq\":3,\"sha256\":\"%s\",\"hmac\":\"%s\"}\n", ZERO_HASH, ZERO_HASH);
	close(fd);
	CHECK(append_n(path, 1, KEY, sizeof(KEY)) == 0 && count(path, "fails its HMAC") == 1,
	      "a head with a wrong HMAC is recorded by a keyed writer");
}

static void test_rewritten_behind_the_head(void)
{
	struct dg_audit_verify_result res;
	char path[256], head[300], saved[512];
	size_t n;
	char *h;
	FILE *f;

	path_in(path, sizeof(path), "rollback.jsonl");
	snprintf(head, sizeof(head), "%s" DG_AUDIT_HEAD_SUFFIX, path);
	append_n(path, 3, NULL, 0);
	h = slurp(head, &n);
	snprintf(saved, sizeof(saved), "%s", h);
	free(h);
	append_n(path, 5, NULL, 0);
	/* Rewrite record 3 and everything after it consistently, then roll the head back to seq 3. */
	rewrite_without_key(path, "libvirt:web-2", "libvirt:db-02");
	f = fopen(head, "w");
	fputs(saved, f);
	fclose(f);
	CHECK(append_n(path, 1, NULL, 0) == 0 && count(path, "records were rewritten") == 1,
	      "the writer finds the head naming a record the log no longer has");
	CHECK(verify(path, NULL, 0, &res) < 0, "verify reports it: %s", res.problem);
}

static void test_not_an_audit_log(void)
{
	struct dg_audit_log *log = NULL;
	struct dg_audit_event ev;
	struct dg_error err = { 0 };
	char path[256];
	size_t n;
	char *after;
	FILE *f;

	path_in(path, sizeof(path), "hostname");
	f = fopen(path, "w");
	fputs("kvm7.example.net", f); /* no newline: looks torn to a careless writer */
	fclose(f);
	CHECK(dg_audit_log_open(path, NULL, 0, QUIET, &log, &err) == 0, "open");
	dg_audit_event_init(&ev, "test", "inject");
	CHECK(dg_audit_append(log, &ev, NULL, &err) == -DG_USAGE && strstr(err.message, "not a diagint audit log"),
	      "append refuses: %s", err.message);
	dg_audit_log_free(log);
	after = slurp(path, &n);
	CHECK(after && !strcmp(after, "kvm7.example.net"), "the file is unchanged");
	free(after);
}

/* A torn last line whose audit-repair record cannot be written (the file may not grow): the cut is undone. */
static void test_repair_writes_its_record_or_changes_nothing(void)
{
	char path[256];
	size_t before_len, after_len;
	char *before, *after;
	int fd, status;
	pid_t pid;

	path_in(path, sizeof(path), "torn-full.jsonl");
	append_n(path, 2, NULL, 0);
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(write(fd, "{\"v\":1,\"seq\":3,\"pr", 19) == 19, "a torn line");
	close(fd);
	before = slurp(path, &before_len);
	pid = fork();
	if (pid == 0) {
		struct rlimit rl = { (rlim_t)before_len, (rlim_t)before_len };
		struct dg_audit_log *log = NULL;
		struct dg_error err = { 0 };

		signal(SIGXFSZ, SIG_IGN); /* EFBIG instead: the file may not grow past its size */
		setrlimit(RLIMIT_FSIZE, &rl);
		if (dg_audit_log_open(path, NULL, 0, QUIET, &log, &err) < 0)
			_exit(3);
		_exit(dg_audit_repair(log, NULL, &err) < 0 ? 0 : 1);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the repair fails (its record does not fit)");
	after = slurp(path, &after_len);
	CHECK(after && before_len == after_len && !memcmp(before, after, before_len),
	      "and the file is exactly as it was: the torn bytes are back");
	free(before);
	free(after);
}

/* Anchors from auditd count only as the kernel attests them (TRUSTED_APP, uid 0); lines are bounded. */
static void test_anchor_sources(void)
{
	struct dg_audit_anchor_point *pts = NULL;
	struct dg_error err = { 0 };
	char path[256];
	size_t n = 0;
	FILE *f;

	path_in(path, sizeof(path), "audit.log");
	f = fopen(path, "w");
	fprintf(f, "type=TRUSTED_APP msg=audit(1.0:1): pid=9 uid=0 auid=1000 ses=1 msg='op=diagint-audit-head "
		   "log=\"/var/log/diagint/audit.jsonl\" seq=1 sha256=\"%s\" exe=\"/usr/bin/diagint\"'\n", ZERO_HASH);
	fprintf(f, "type=USER msg=audit(1.0:2): pid=10 uid=1000 auid=1000 ses=1 msg='op=diagint-audit-head "
		   "log=\"/var/log/diagint/audit.jsonl\" seq=2 sha256=\"%s\"'\n", ZERO_HASH);
	fprintf(f, "type=TRUSTED_APP msg=audit(1.0:3): pid=11 uid=1000 auid=1000 ses=1 msg='op=diagint-audit-head "
		   "log=\"/var/log/diagint/audit.jsonl\" seq=3 sha256=\"%s\"'\n", ZERO_HASH);
	fputs("Dec  6 10:00:00 kvm7 x: ", f);
	for (int i = 0; i < 20000; i++)
		fputs("AAAAA", f);
	fprintf(f, " op=diagint-audit-head log=\"/var/log/diagint/audit.jsonl\" seq=4 sha256=\"%s\"\n", ZERO_HASH);
	fprintf(f, "Dec  6 10:00:01 kvm7 diagint[12]: op=diagint-audit-head log=\"/var/log/diagint/audit.jsonl\" seq=5 "
		   "sha256=\"%s\"\n", ZERO_HASH);
	fclose(f);
	CHECK(dg_audit_anchor_scan(path, "/var/log/diagint/audit.jsonl", &pts, &n, &err) == 0, "scan: %s", err.message);
	CHECK(n == 2 && pts[0].seq == 1 && pts[1].seq == 5,
	      "kept: the root TRUSTED_APP record and the syslog line; not: uid 1000, a 100 KB line (%zu kept)", n);
	free(pts);
}

int main(void)
{
	if (!mkdtemp(scratch))
		SKIP_ALL("cannot create a scratch directory in /tmp: %s", strerror(errno));
	test_stripped_hmacs_and_deleted_head();
	test_garbled_and_forged_head();
	test_rewritten_behind_the_head();
	test_not_an_audit_log();
	test_repair_writes_its_record_or_changes_nothing();
	test_anchor_sources();
	{
		char cmd[512];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", scratch);
		(void)!system(cmd);
	}
	return tap_done();
}
