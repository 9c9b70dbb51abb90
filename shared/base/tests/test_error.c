/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dg_error: the status vocabulary is a contract (exit statuses, JSON names), the messages carry errno text. */
#include <errno.h>
#include <string.h>

#include "diagint/error.h"
#include "tap.h"

static void test_set(void)
{
	struct dg_error err;
	int r;

	memset(&err, 0x5a, sizeof(err));
	r = dg_error_set(&err, DG_REFUSED, "cooldown %d s for %s", 30, "vm1");
	CHECK(r == -DG_REFUSED, "dg_error_set returns -status (%d)", r);
	CHECK(err.status == DG_REFUSED, "status filled");
	CHECK(err.sys_errno == 0, "sys_errno is 0 when no errno given (was garbage before)");
	CHECK_STR(err.message, "cooldown 30 s for vm1", "message formatted");

	r = dg_error_set(&err, DG_OK, "fine");
	CHECK(r == 0, "DG_OK gives 0");
	CHECK(err.status == DG_OK, "status DG_OK");

	r = dg_error_set(NULL, DG_USAGE, "nobody listens %s", "here");
	CHECK(r == -DG_USAGE, "NULL err allowed, still returns -status (%d)", r);
}

static void test_setv_truncates(void)
{
	struct dg_error err;
	char big[3 * DG_ERROR_MSG_MAX];
	int r;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	r = dg_error_set(&err, DG_FAILED, "%s", big);
	CHECK(r == -DG_FAILED, "long message still returns -status");
	CHECK(strlen(err.message) == DG_ERROR_MSG_MAX - 1, "long message truncated to %d bytes (got %zu)",
	      DG_ERROR_MSG_MAX - 1, strlen(err.message));

	/* errno text appended to a full message must not overflow either. */
	r = dg_error_set_errno(&err, DG_FAILED, ENOENT, "%s", big);
	CHECK(r == -DG_FAILED && err.sys_errno == ENOENT, "set_errno on a full message keeps status and errno");
	CHECK(strlen(err.message) == DG_ERROR_MSG_MAX - 1, "full message plus errno text stays within the buffer");
}

static void test_set_errno(void)
{
	struct dg_error err;
	char want[DG_ERROR_MSG_MAX];
	int r;

	memset(&err, 0, sizeof(err));
	r = dg_error_set_errno(&err, DG_DENIED, EACCES, "cannot open %s", "/x/y");
	snprintf(want, sizeof(want), "cannot open /x/y: %s", strerror(EACCES));
	CHECK(r == -DG_DENIED, "set_errno returns -status (%d)", r);
	CHECK(err.status == DG_DENIED, "status filled");
	CHECK(err.sys_errno == EACCES, "sys_errno recorded (%d)", err.sys_errno);
	CHECK_STR(err.message, want, "strerror text appended after ': '");

	/* A later plain set clears the errno of an earlier one. */
	r = dg_error_set(&err, DG_FAILED, "plain");
	CHECK(err.sys_errno == 0 && r == -DG_FAILED, "plain set after set_errno resets sys_errno");

	r = dg_error_set_errno(NULL, DG_NOTFOUND, ENOENT, "gone %s", "vm");
	CHECK(r == -DG_NOTFOUND, "set_errno with NULL err returns -status (%d)", r);

	dg_error_set_errno(&err, DG_FAILED, ENOSPC, "disk");
	dg_error_clear(&err);
	CHECK(err.status == DG_OK && err.sys_errno == 0 && err.message[0] == '\0' && err.request_id[0] == '\0',
	      "dg_error_clear zeroes everything");
	dg_error_clear(NULL);
	CHECK(1, "dg_error_clear(NULL) is harmless");
}

static void test_status_names(void)
{
	static const struct {
		enum dg_status status;
		int value;
		const char *name;
	} table[] = {
		{ DG_OK, 0, "ok" },
		{ DG_FAILED, 1, "failed" },
		{ DG_USAGE, 2, "usage" },
		{ DG_DENIED, 3, "denied" },
		{ DG_NOTFOUND, 4, "not-found" },
		{ DG_UNAVAILABLE, 5, "unavailable" },
		{ DG_REFUSED, 6, "refused" },
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const char *d = dg_status_describe(table[i].status);

		CHECK((int)table[i].status == table[i].value, "exit status of %s is %d", table[i].name, table[i].value);
		CHECK_STR(dg_status_name(table[i].status), table[i].name, "name of status %d", table[i].value);
		CHECK(d && *d && strcmp(d, "unknown status") != 0, "status %d has a description ('%s')",
		      table[i].value, d ? d : "(null)");
	}
	CHECK_STR(dg_status_name((enum dg_status)7), "unknown", "status 7 is unknown");
	CHECK_STR(dg_status_name((enum dg_status)1000), "unknown", "status 1000 is unknown");
	CHECK_STR(dg_status_name((enum dg_status)-1), "unknown", "status -1 is unknown");
	CHECK_STR(dg_status_describe((enum dg_status)7), "unknown status", "description of status 7");
	CHECK_STR(dg_status_describe((enum dg_status)-1), "unknown status", "description of status -1");
}

int main(void)
{
	test_set();
	test_setv_truncates();
	test_set_errno();
	test_status_names();
	return tap_done();
}
