/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pam_diagint.so in real Linux-PAM (libpamtest drives it) under pam_wrapper and nss_wrapper: the allowed user,
 * a user outside the group, a target outside the patterns, no target, misconfigured module lines; each one
 * recorded in the audit log, and the log one valid chain afterwards. */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpamtest.h>
#include <security/pam_appl.h>

#include "diagint/audit.h"
#include "diagint/audit_verify.h"

static const char *log_path;

/* The last record of the test log, parsed (caller puts it). */
static json_object *last_record(void)
{
	char line[DG_AUDIT_LINE_MAX], last[DG_AUDIT_LINE_MAX] = "";
	FILE *f = fopen(log_path, "r");

	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f))
		memcpy(last, line, sizeof(last));
	fclose(f);
	return json_tokener_parse(last);
}

static long records(void)
{
	char line[DG_AUDIT_LINE_MAX];
	long n = 0;
	FILE *f = fopen(log_path, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n;
}

static const char *field(json_object *rec, const char *a, const char *b)
{
	json_object *o = rec;

	if (!json_object_object_get_ex(o, a, &o))
		return NULL;
	if (b && !json_object_object_get_ex(o, b, &o))
		return NULL;
	return json_object_is_type(o, json_type_null) ? NULL : json_object_get_string(o);
}

static int no_conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	(void)n;
	(void)msg;
	(void)resp;
	(void)data;
	return PAM_CONV_ERR;
}

/* One transaction as the CLI runs it: items and environment set before the module runs. */
static enum pamtest_err run(const char *service, const char *user, const char *target, struct pam_testcase *cases,
			    size_t ncases)
{
	struct pam_conv conv = { no_conv, NULL };
	pam_handle_t *pamh = NULL;
	char buf[600];

	assert_int_equal(pam_start(service, user, &conv, &pamh), PAM_SUCCESS);
	pam_set_item(pamh, PAM_RUSER, "alice-sudo");
	pam_set_item(pamh, PAM_TTY, "/dev/pts/7");
	pam_set_item(pamh, PAM_RHOST, "192.0.2.10");
	pam_putenv(pamh, "DIAGINT_ACTION=inject");
	if (target) {
		snprintf(buf, sizeof(buf), "DIAGINT_TARGET=%s", target);
		pam_putenv(pamh, buf);
	}
	return _pamtest_conv(service, user, no_conv, NULL, cases, ncases, pamh);
}

static void expect_record(const char *action, const char *status, const char *user, const char *target,
			  const char *reason_part)
{
	json_object *rec = last_record();
	const char *reason;

	assert_non_null(rec);
	assert_string_equal(field(rec, "action", NULL), action);
	assert_string_equal(field(rec, "result", "status"), status);
	assert_string_equal(field(rec, "actor", "user"), user);
	assert_string_equal(field(rec, "actor", "component"), "pam");
	assert_string_equal(field(rec, "actor", "ruser"), "alice-sudo");
	assert_string_equal(field(rec, "actor", "tty"), "/dev/pts/7");
	assert_string_equal(field(rec, "actor", "rhost"), "192.0.2.10");
	assert_non_null(field(rec, "actor", "service"));
	if (target)
		assert_string_equal(field(rec, "target", NULL), target);
	else
		assert_null(field(rec, "target", NULL));
	reason = field(rec, "reason", NULL);
	assert_non_null(reason);
	if (!strstr(reason, reason_part))
		fail_msg("reason '%s' does not say '%s'", reason, reason_part);
	json_object_put(rec);
}

static void test_allowed_user(void **state)
{
	struct pam_testcase cases[] = {
		pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
		pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS),
		pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS),
		pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS),
	};
	long before = records();
	json_object *rec;

	(void)state;
	assert_int_equal(run("diagint", "alice", "libvirt:web-1", cases, 4), PAMTEST_ERR_OK);
	assert_int_equal(records(), before + 2);
	expect_record("session", "ok", "alice", "libvirt:web-1", "session opened for inject libvirt:web-1 by alice");
	/* The authorize record sits just before the session record. */
	{
		char line[DG_AUDIT_LINE_MAX], prev[DG_AUDIT_LINE_MAX] = "", cur[DG_AUDIT_LINE_MAX] = "";
		FILE *f = fopen(log_path, "r");
		while (fgets(line, sizeof(line), f)) {
			memcpy(prev, cur, sizeof(prev));
			memcpy(cur, line, sizeof(cur));
		}
		fclose(f);
		rec = json_tokener_parse(prev);
	}
	assert_string_equal(field(rec, "action", NULL), "authorize");
	assert_string_equal(field(rec, "result", "status"), "ok");
	assert_string_equal(field(rec, "actor", "service"), "diagint");
	assert_non_null(strstr(field(rec, "reason", NULL), "matches libvirt:web-*"));
	assert_string_equal(field(rec, "evidence", NULL), "requested action: inject");
	json_object_put(rec);
}

static void test_aws_pattern_spans_slash(void **state)
{
	struct pam_testcase cases[] = { pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS) };

	(void)state;
	assert_int_equal(run("diagint", "carol", "aws:eu-west-1/i-0abc", cases, 1), PAMTEST_ERR_OK);
	expect_record("authorize", "ok", "carol", "aws:eu-west-1/i-0abc", "matches aws:*/i-0abc");
}

static void test_user_outside_group(void **state)
{
	struct pam_testcase cases[] = { pam_test(PAMTEST_ACCOUNT, PAM_PERM_DENIED) };

	(void)state;
	assert_int_equal(run("diagint", "bob", "libvirt:web-1", cases, 1), PAMTEST_ERR_OK);
	expect_record("authorize", "denied", "bob", "libvirt:web-1", "user bob is not in group diagint-ops");
}

static void test_target_outside_patterns(void **state)
{
	struct pam_testcase cases[] = { pam_test(PAMTEST_ACCOUNT, PAM_PERM_DENIED) };

	(void)state;
	assert_int_equal(run("diagint", "alice", "libvirt:mail-1", cases, 1), PAMTEST_ERR_OK);
	expect_record("authorize", "denied", "alice", "libvirt:mail-1", "matches none of libvirt:web-*");
	/* db-1 is listed exactly; db-10 is not. */
	assert_int_equal(run("diagint", "alice", "libvirt:db-10", cases, 1), PAMTEST_ERR_OK);
	expect_record("authorize", "denied", "alice", "libvirt:db-10", "matches none");
}

static void test_no_target(void **state)
{
	struct pam_testcase cases[] = { pam_test(PAMTEST_ACCOUNT, PAM_PERM_DENIED) };

	(void)state;
	assert_int_equal(run("diagint", "alice", NULL, cases, 1), PAMTEST_ERR_OK);
	expect_record("authorize", "denied", "alice", NULL, "no target given");
}

static void test_misconfigured_lines(void **state)
{
	struct pam_testcase cases[] = { pam_test(PAMTEST_ACCOUNT, PAM_SERVICE_ERR) };

	(void)state;
	assert_int_equal(run("diagint-badarg", "alice", "libvirt:web-1", cases, 1), PAMTEST_ERR_OK);
	expect_record("authorize", "denied", "alice", "libvirt:web-1", "unknown or empty argument 'colour=blue'");
	assert_int_equal(run("diagint-nogroup", "alice", "libvirt:web-1", cases, 1), PAMTEST_ERR_OK);
	expect_record("authorize", "denied", "alice", "libvirt:web-1", "no group=NAME");
	assert_int_equal(run("diagint-badgroup", "alice", "libvirt:web-1", cases, 1), PAMTEST_ERR_OK);
	expect_record("authorize", "denied", "alice", "libvirt:web-1", "group 'no-such-group' does not exist");
}

/* Runs last: every decision above went into one chain that verifies. */
static void test_log_verifies(void **state)
{
	struct dg_audit_verify_result res;
	struct dg_error err = { 0 };
	const char *files[] = { log_path };

	(void)state;
	assert_int_equal(records(), 10);
	if (dg_audit_verify(files, 1, NULL, &res, &err) < 0)
		fail_msg("verify: %s %s", res.problem, err.message);
	assert_int_equal(res.records, 10);
}

static bool wrapped(const char *symbol)
{
	bool (*fn)(void) = (bool (*)(void))dlsym(RTLD_DEFAULT, symbol);

	return fn && fn();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowed_user),
		cmocka_unit_test(test_aws_pattern_spans_slash),
		cmocka_unit_test(test_user_outside_group),
		cmocka_unit_test(test_target_outside_patterns),
		cmocka_unit_test(test_no_target),
		cmocka_unit_test(test_misconfigured_lines),
		cmocka_unit_test(test_log_verifies),
	};
	char head[PATH_MAX];

	/* Without the wrappers this would run the machine's /etc/pam.d and /etc/passwd: refuse, visibly. */
	if (!wrapped("pam_wrapper_enabled") || !wrapped("nss_wrapper_enabled")) {
		printf("SKIP: pam_wrapper/nss_wrapper not preloaded (run through meson test)\n");
		return 77;
	}
	log_path = getenv("DG_PAM_TEST_LOG");
	if (!log_path)
		return 77;
	unlink(log_path);
	snprintf(head, sizeof(head), "%s%s", log_path, DG_AUDIT_HEAD_SUFFIX);
	unlink(head);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
