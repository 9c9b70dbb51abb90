/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer harness for the target grammar. Build: meson setup build-fuzz -Dfuzz=true (with CC=clang), then
 * build-fuzz/tests/fuzz/fuzz_target tests/fuzz/corpus/target -max_total_time=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "target_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	const char *broken;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	broken = dg_target_check(s);
	if (broken) {
		fprintf(stderr, "target grammar invariant broken: %s\n", broken);
		abort();
	}
	free(s);
	return 0;
}
