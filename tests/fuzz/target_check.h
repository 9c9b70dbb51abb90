/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What must hold for any input to dg_target_parse: shared by the libFuzzer harness (fuzz_target.c) and the
 * deterministic run in the unit tests (test_target.c). Returns NULL when all holds, else what broke. */
#pragma once

#include <stdio.h>
#include <string.h>

#include "diagint/provider.h"
#include "diagint/target.h"

static inline const char *dg_target_check(const char *input)
{
	static struct dg_target t;
	struct dg_error err = { 0 };
	char joined[DG_TARGET_MAX * 2];
	size_t used;
	int r;

	r = dg_target_parse(input, &t, &err);
	if (r != 0 && r != -DG_USAGE)
		return "returned something other than 0 or -DG_USAGE";
	if (r < 0) {
		if (err.status != DG_USAGE || !err.message[0])
			return "an error without status DG_USAGE or without a message";
		for (const char *p = err.message; *p; p++)
			if ((unsigned char)*p < 0x20)
				return "an error message with a control character (it must stay one safe line)";
		return NULL;
	}
	if (!t.provider || t.n_parts != t.provider->n_parts || t.n_parts == 0 || t.n_parts > DG_TARGET_PARTS_MAX)
		return "success without a provider or with the wrong number of parts";
	if (strcmp(t.text, input))
		return "the canonical text differs from the input";
	used = (size_t)snprintf(joined, sizeof(joined), "%s:", t.provider->name);
	for (unsigned i = 0; i < t.n_parts; i++) {
		if (!t.part[i][0] || strchr(t.part[i], '/'))
			return "an empty part or a part with '/'";
		if (!t.provider->parts[i].valid(t.part[i], strlen(t.part[i])))
			return "a part its provider calls invalid";
		used += (size_t)snprintf(joined + used, sizeof(joined) - used, "%s%s", i ? "/" : "", t.part[i]);
	}
	if (strcmp(joined, input))
		return "provider and parts do not rebuild the input";
	for (const char *p = input; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p == 0x7f)
			return "accepted a space or control character";
	return NULL;
}
