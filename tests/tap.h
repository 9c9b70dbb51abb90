/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Minimal TAP producer for the unit tests: meson reads the protocol, a failing check names its line. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

#define CHECK(cond, ...)                                                                                       \
	do {                                                                                                   \
		tap_n++;                                                                                       \
		if (cond) {                                                                                    \
			printf("ok %d - ", tap_n);                                                             \
		} else {                                                                                       \
			tap_failed++;                                                                          \
			printf("not ok %d - %s:%d: (%s) ", tap_n, __FILE__, __LINE__, #cond);                 \
		}                                                                                              \
		printf(__VA_ARGS__);                                                                           \
		printf("\n");                                                                                  \
		fflush(stdout);                                                                                \
	} while (0)

#define CHECK_STR(a, b, ...)                                                                                   \
	do {                                                                                                   \
		const char *a_ = (a), *b_ = (b);                                                               \
		CHECK(a_ && b_ && strcmp(a_, b_) == 0, __VA_ARGS__);                                           \
		if (!(a_ && b_ && strcmp(a_, b_) == 0))                                                        \
			printf("#   got      '%s'\n#   expected '%s'\n", a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
	} while (0)

/* In CI (DIAGINT_REQUIRE_GUEST=1, as scripts/test and .ci/run set it) nothing may be skipped: a skip fails. */
static inline int tap_required(void)
{
	const char *r = getenv("DIAGINT_REQUIRE_GUEST");

	return r && r[0] == '1' && !r[1];
}

/* A test that cannot run here says why and counts as skipped, never as passed; under DIAGINT_REQUIRE_GUEST=1 it
 * fails instead. */
#define SKIP_ALL(...)                                                                                          \
	do {                                                                                                   \
		if (tap_required()) {                                                                          \
			printf("not ok 1 - required here (DIAGINT_REQUIRE_GUEST=1) but cannot run: ");         \
			printf(__VA_ARGS__);                                                                   \
			printf("\n1..1\n");                                                                    \
			exit(1);                                                                               \
		}                                                                                              \
		printf("1..0 # SKIP ");                                                                        \
		printf(__VA_ARGS__);                                                                           \
		printf("\n");                                                                                  \
		exit(0);                                                                                       \
	} while (0)

/* One check that cannot run here: counted, visibly skipped, never passed; a failure under
 * DIAGINT_REQUIRE_GUEST=1. */
#define SKIP_ONE(...)                                                                                          \
	do {                                                                                                   \
		tap_n++;                                                                                       \
		if (tap_required()) {                                                                          \
			tap_failed++;                                                                          \
			printf("not ok %d - required here (DIAGINT_REQUIRE_GUEST=1) but skipped: ", tap_n);    \
		} else {                                                                                       \
			printf("ok %d - # SKIP ", tap_n);                                                      \
		}                                                                                              \
		printf(__VA_ARGS__);                                                                           \
		printf("\n");                                                                                  \
		fflush(stdout);                                                                                \
	} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
