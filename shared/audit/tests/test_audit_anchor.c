/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The head announcement: its text, paths that need encoding, reading it back from syslog and auditd lines,
 * and that announcing never fails the caller wherever Linux audit is missing or forbidden. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit_anchor.h"
#include "tap.h"

static char scratch[] = "/tmp/dg-test-audit-anchor-XXXXXX";

static void head(struct dg_audit_head *h, uint64_t seq, char c)
{
	h->seq = seq;
	memset(h->sha256, c, DG_SHA256_HEX_LEN);
	h->sha256[DG_SHA256_HEX_LEN] = '\0';
}

static void test_message(void)
{
	struct dg_audit_head h;
	char msg[1024];

	head(&h, 12, 'b');
	CHECK(dg_audit_anchor_message("/var/log/diagint/audit.jsonl", &h, msg, sizeof(msg)) == 0, "a message");
	CHECK_STR(msg, "op=diagint-audit-head log=\"/var/log/diagint/audit.jsonl\" seq=12 sha256=\""
		       "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"", "its exact text");
	CHECK(dg_audit_anchor_message("/tmp/a b", &h, msg, sizeof(msg)) == 0 && strstr(msg, "log=2F746D702F612062 "),
	      "a path with a space is hex-encoded, as auditd encodes untrusted strings");
	CHECK(dg_audit_anchor_message("/tmp/x", &h, msg, 20) == -ENAMETOOLONG, "a short buffer is an error");
	CHECK(dg_audit_anchor_message("/tmp/a b", &h, msg, 40) == -ENAMETOOLONG &&
		      dg_audit_anchor_message("/tmp/a b", &h, msg, 50) == -ENAMETOOLONG,
	      "a short buffer is an error for a hex-encoded path too (whether the hex fits or not)");
}

static void test_scan(void)
{
	struct dg_audit_anchor_point *pts = NULL;
	struct dg_audit_head h;
	struct dg_error err = { 0 };
	char file[256], msg[1024];
	size_t n = 0;
	FILE *f;

	snprintf(file, sizeof(file), "%s/messages", scratch);
	f = fopen(file, "w");
	head(&h, 9, 'c');
	dg_audit_anchor_message("/tmp/a b", &h, msg, sizeof(msg));
	fprintf(f, "Nov 22 10:00:00 kvm7 diagint[7]: %s\n", msg);
	head(&h, 3, 'a');
	dg_audit_anchor_message("/tmp/a b", &h, msg, sizeof(msg));
	fprintf(f, "type=TRUSTED_APP msg=audit(1795341600.000:5): pid=7 uid=0 auid=4294967295 ses=4294967295 "
		   "msg='%s exe=\"/usr/bin/diagint\" hostname=? addr=? terminal=? res=success'\n", msg);
	head(&h, 4, 'd');
	dg_audit_anchor_message("/tmp/other", &h, msg, sizeof(msg));
	fprintf(f, "Nov 22 10:00:01 kvm7 diagint[8]: %s\n", msg);
	fprintf(f, "op=diagint-audit-head log=\"/tmp/a b\" seq=x sha256=zz\n");
	/* The unquoted form is read too. */
	head(&h, 1, 'd');
	fprintf(f, "op=diagint-audit-head log=\"/tmp/a b\" seq=1 sha256=%s\n", h.sha256);
	fclose(f);
	CHECK(dg_audit_anchor_scan(file, "/tmp/a b", &pts, &n, &err) == 0 && n == 3, "three announcements for the log");
	CHECK(n == 3 && pts[0].seq == 1 && pts[1].seq == 3 && pts[2].seq == 9 && pts[1].sha256[0] == 'a' &&
	      pts[0].sha256[0] == 'd', "sorted by seq, hashes read, quoted or not");
	free(pts);
	CHECK(dg_audit_anchor_scan(file, "/tmp/nothing", &pts, &n, &err) == 0 && n == 0 && !pts, "none for another");
	snprintf(file, sizeof(file), "%s/missing", scratch);
	CHECK(dg_audit_anchor_scan(file, "/tmp/a b", &pts, &n, &err) == -DG_USAGE, "a missing anchor log: usage");
}

static void test_announce_never_fails(void)
{
	struct dg_audit_anchor_state st = DG_AUDIT_ANCHOR_STATE_INIT;
	struct dg_audit_head h;

	head(&h, 1, 'e');
	errno = 1234;
	dg_audit_anchor_announce(&st, "/tmp/x.jsonl", &h, DG_AUDIT_NO_SYSLOG);
	dg_audit_anchor_announce(&st, "/tmp/x.jsonl", &h, DG_AUDIT_NO_SYSLOG);
	CHECK(errno == 1234, "errno is left as it was");
	/* Root with audit in the kernel: delivered (to auditd when one runs, else dropped by the kernel). Anyone
	 * else, or under pam_wrapper: unavailable, remembered, no retry. Built without libaudit: never tried. */
	CHECK(st.kaudit_sent == 2 || (st.kaudit_fd == -2 && st.kaudit_errno != 0) ||
	      (st.kaudit_fd == -1 && st.kaudit_sent == 0),
	      "Linux audit: sent %ld, or unavailable (%s)", st.kaudit_sent, strerror(st.kaudit_errno));
	dg_audit_anchor_close(&st);
	dg_audit_anchor_close(NULL);
	CHECK(st.kaudit_fd == -1, "close resets the state");
}

int main(void)
{
	if (!mkdtemp(scratch))
		SKIP_ALL("cannot create a scratch directory in /tmp: %s", strerror(errno));
	test_message();
	test_scan();
	test_announce_never_fails();
	{
		char cmd[512];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", scratch);
		(void)!system(cmd);
	}
	return tap_done();
}
