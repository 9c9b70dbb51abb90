/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tampering that verify must catch and name: a flipped byte in any record, a deleted record, two swapped, the
 * first records removed, the tail cut, the head anchor removed; announcements in an external log. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diagint/audit.h"
#include "audit/audit_anchor.h"
#include "diagint/audit_verify.h"
#include "tap.h"

#define N 12

static char scratch[] = "/tmp/dg-test-audit-verify-XXXXXX";
static char master[256], work[256];
static char *lines[N];
static size_t lens[N];

static int write_lines(const char *path, char *const *ls, const size_t *ln, int n)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	for (int i = 0; i < n; i++)
		fwrite(ls[i], 1, ln[i], f);
	return fclose(f);
}

static int copy_head(void)
{
	char a[300], b[300], buf[512];
	ssize_t n;
	int in, out;

	snprintf(a, sizeof(a), "%s.head", master);
	snprintf(b, sizeof(b), "%s.head", work);
	in = open(a, O_RDONLY);
	out = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	n = in >= 0 ? read(in, buf, sizeof(buf)) : -1;
	if (n > 0 && out >= 0)
		n = write(out, buf, (size_t)n);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return n > 0 ? 0 : -1;
}

static int run_verify(struct dg_audit_verify_result *res, const char *anchors)
{
	struct dg_audit_verify_opts o = { .anchors = anchors };
	struct dg_error err = { 0 };
	const char *files[] = { work };
	int r = dg_audit_verify(files, 1, &o, res, &err);

	if (r < 0)
		printf("#   verify: %s%s\n", res->problem, res->problem[0] ? "" : err.message);
	return r;
}

static void setup(void)
{
	struct dg_audit_log *log = NULL;
	struct dg_audit_event ev;
	struct dg_error err = { 0 };
	char buf[DG_AUDIT_LINE_MAX];
	FILE *f;

	snprintf(master, sizeof(master), "%s/master.jsonl", scratch);
	snprintf(work, sizeof(work), "%s/work.jsonl", scratch);
	dg_audit_log_open(master, NULL, 0, DG_AUDIT_NO_SYSLOG | DG_AUDIT_NO_KAUDIT, &log, &err);
	for (int i = 0; i < N; i++) {
		dg_audit_event_init(&ev, "test", i % 2 ? "inject" : "authorize");
		snprintf(ev.target, sizeof(ev.target), "libvirt:vm-%d", i);
		snprintf(ev.actor.user, sizeof(ev.actor.user), "alice");
		dg_audit_append(log, &ev, NULL, &err);
	}
	dg_audit_log_free(log);
	f = fopen(master, "r");
	for (int i = 0; i < N && fgets(buf, sizeof(buf), f); i++) {
		lines[i] = strdup(buf);
		lens[i] = strlen(buf);
	}
	fclose(f);
}

static void test_intact(void)
{
	struct dg_audit_verify_result res;

	write_lines(work, lines, lens, N);
	copy_head();
	CHECK(run_verify(&res, NULL) == 0 && res.ok && res.records == N && res.head_checked,
	      "the intact log verifies: %d records, head checked", N);
}

/* Flip one byte in every record, at the start, the middle and the end: each time verify fails and names the
 * line (the altered one, or for a changed seq/prev field the line whose link broke). */
static void test_flip_any_byte(void)
{
	struct dg_audit_verify_result res;
	int caught = 0, named = 0, tries = 0;

	for (int i = 0; i < N; i++) {
		size_t where[] = { 1, 14, lens[i] / 2, lens[i] - 3 };
		for (size_t w = 0; w < sizeof(where) / sizeof(where[0]); w++) {
			char *saved = lines[i], *copy = strdup(lines[i]);

			copy[where[w]] ^= 0x01;
			lines[i] = copy;
			write_lines(work, lines, lens, N);
			copy_head();
			lines[i] = saved;
			tries++;
			if (run_verify(&res, NULL) < 0 && !res.ok) {
				caught++;
				if (res.bad_line == (uint64_t)i + 1 || res.bad_line == (uint64_t)i + 2)
					named++;
				else
					printf("#   flip in line %d at %zu: named line %llu\n", i + 1, where[w],
					       (unsigned long long)res.bad_line);
			}
			free(copy);
		}
	}
	CHECK(caught == tries, "every one of %d single-byte flips fails verify (%d caught)", tries, caught);
	CHECK(named == tries, "and each names the altered line (%d of %d)", named, tries);
}

static void test_delete_one(void)
{
	struct dg_audit_verify_result res;
	char *ls[N];
	size_t ln[N];
	int n = 0;

	for (int i = 0; i < N; i++)
		if (i != 5) {
			ls[n] = lines[i];
			ln[n++] = lens[i];
		}
	write_lines(work, ls, ln, n);
	copy_head();
	CHECK(run_verify(&res, NULL) < 0 && strstr(res.problem, "seq 6..6 are missing") && res.bad_line == 6,
	      "a deleted record (seq 6): 'seq 6..6 are missing' at line 6");
}

static void test_swap_two(void)
{
	struct dg_audit_verify_result res;
	char *ls[N];

	memcpy(ls, lines, sizeof(ls));
	ls[3] = lines[7];
	ls[7] = lines[3];
	{
		size_t ln[N];
		memcpy(ln, lens, sizeof(ln));
		ln[3] = lens[7];
		ln[7] = lens[3];
		write_lines(work, ls, ln, N);
	}
	copy_head();
	CHECK(run_verify(&res, NULL) < 0 && res.bad_line == 4 && strstr(res.problem, "missing"),
	      "records 4 and 8 swapped: fails at line 4");
	memcpy(ls, lines, sizeof(ls));
	ls[3] = lines[4];
	ls[4] = lines[3];
	{
		size_t ln[N];
		memcpy(ln, lens, sizeof(ln));
		ln[3] = lens[4];
		ln[4] = lens[3];
		write_lines(work, ls, ln, N);
	}
	copy_head();
	CHECK(run_verify(&res, NULL) < 0 && res.bad_line == 4, "neighbours 4 and 5 swapped: fails at line 4");
}

static void test_remove_first(void)
{
	struct dg_audit_verify_result res;

	write_lines(work, lines + 2, lens + 2, N - 2);
	copy_head();
	CHECK(run_verify(&res, NULL) < 0 && strstr(res.problem, "records 1..2 were removed") && res.bad_line == 1,
	      "the first two records removed: named");
}

static void test_truncate_tail(void)
{
	struct dg_audit_verify_result res;
	char headpath[300];

	write_lines(work, lines, lens, N - 3);
	copy_head();
	CHECK(run_verify(&res, NULL) < 0 && strstr(res.problem, "cut from its end") && strstr(res.problem, "10..12"),
	      "the last three records cut cleanly: 'records 10..12 were cut from its end'");
	snprintf(headpath, sizeof(headpath), "%s.head", work);
	unlink(headpath);
	CHECK(run_verify(&res, NULL) < 0 && strstr(res.problem, "no head anchor"),
	      "head anchor removed as well: verify says it is missing");
}

static void test_external_anchors(void)
{
	struct dg_audit_verify_result res;
	struct dg_audit_head h;
	char anchors[300], msg[1024], abs[PATH_MAX], headpath[300];
	FILE *f;

	/* The lines syslog and auditd would hold, for the log's absolute path, mixed with foreign ones. */
	write_lines(work, lines, lens, N);
	copy_head();
	if (!realpath(work, abs))
		snprintf(abs, sizeof(abs), "%s", work);
	snprintf(anchors, sizeof(anchors), "%s/anchors.log", scratch);
	f = fopen(anchors, "w");
	fprintf(f, "Nov 22 10:00:00 host sshd[1]: unrelated\n");
	for (int i = 0; i < N; i++) {
		h.seq = (uint64_t)i + 1;
		dg_hash_buffer(lines[i], lens[i] - 1, h.sha256);
		dg_audit_anchor_message(abs, &h, msg, sizeof(msg));
		if (i % 2)
			fprintf(f, "type=TRUSTED_APP msg=audit(1.0:%d): pid=1 uid=0 msg='%s exe=\"/x\" res=success'\n", i,
				msg);
		else
			fprintf(f, "Nov 22 10:00:0%d host diagint[2]: %s\n", i % 10, msg);
	}
	dg_audit_anchor_message("/some/other/log.jsonl", &h, msg, sizeof(msg));
	fprintf(f, "Nov 22 10:00:09 host diagint[3]: %s\n", msg);
	fclose(f);
	CHECK(run_verify(&res, anchors) == 0 && res.anchors_checked == N, "all %d announcements match", N);

	/* The whole tail and the head file gone: only the external copy still tells. */
	write_lines(work, lines, lens, N - 4);
	snprintf(headpath, sizeof(headpath), "%s.head", work);
	unlink(headpath);
	{
		struct dg_audit_verify_opts o = { .anchors = anchors, .no_head = true };
		struct dg_error err = { 0 };
		const char *files[] = { work };
		CHECK(dg_audit_verify(files, 1, &o, &res, &err) < 0 && strstr(res.problem, "9..12") &&
		      strstr(res.problem, anchors), "tail and head removed: the announcements show 9..12 were cut");
	}
}

int main(void)
{
	if (!mkdtemp(scratch))
		SKIP_ALL("cannot create a scratch directory in /tmp: %s", strerror(errno));
	setup();
	CHECK(lines[N - 1] != NULL, "a %d-record log to tamper with", N);
	test_intact();
	test_flip_any_byte();
	test_delete_one();
	test_swap_two();
	test_remove_first();
	test_truncate_tail();
	test_external_anchors();
	for (int i = 0; i < N; i++)
		free(lines[i]);
	{
		char cmd[512];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", scratch);
		(void)!system(cmd);
	}
	return tap_done();
}
