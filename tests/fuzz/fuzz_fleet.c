/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer harness for the etcd reply parser (shared/src/fleet_proto.c): whatever a server or a man in the middle
 * sends, the parser returns, bounded. Build: CC=clang meson setup build-fuzz -Dfuzz=true, then
 * build-fuzz/tests/fuzz/fuzz_fleet -max_total_time=60 (tests/test_fleet.c runs a deterministic mutation pass on
 * every build). The first byte picks the reply kind. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../shared/src/fleet-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void each(void *userdata, const struct dg_fleet_kv *kv)
{
	size_t *n = userdata;

	if (kv->key_len > DG_FLEET_KEY_MAX || kv->value_len > DG_FLEET_VALUE_MAX)
		abort();
	(*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_fleet_reply r;
	struct dg_fleet_claim c;
	char why[128], nonce[64];
	size_t n = 0;

	if (size < 1)
		return 0;
	if (dg_fleet_parse_reply((const char *)data + 1, size - 1, (enum dg_fleet_kind)(data[0] % 6), &r, each, &n, why,
				 sizeof(why)) == 0 &&
	    (r.n_responses > DG_FLEET_MAX_RESPONSES || r.id < 0 || r.ttl < 0 || r.count < 0))
		abort();
	if (dg_fleet_parse_holder((const char *)data, size, &c, nonce, sizeof(nonce)) == 0 &&
	    (!c.holder[0] || memchr(c.holder, '/', strlen(c.holder))))
		abort();
	return 0;
}
