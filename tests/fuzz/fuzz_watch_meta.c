/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A domain's watch metadata (<watch xmlns="https://diagint.dev/xmlns/watch/1" .../>), which whoever may edit the
 * domain writes: dg_watch_meta_parse. Invariants: 0 or -DG_USAGE; a failure leaves the defaults and says why; success
 * keeps every field within the documented bounds. */
#include <math.h>

#include "fuzz.h"
#include "watch/probe.h"
#include "watch/watch_meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_watch_meta m, def;
	struct dg_error err = { 0 };
	char *xml = fz_strndup(data, size);
	int r;

	dg_watch_meta_default(&def);
	r = dg_watch_meta_parse(xml, &m, &err);
	FZ_CHECK(r == 0 || r == -DG_USAGE, "returned %d", r);
	FZ_CHECK(fz_terminated(err.message, sizeof(err.message)), "message not terminated");
	if (r < 0) {
		FZ_CHECK(err.message[0] && err.status == DG_USAGE, "a failure without a message or status");
		FZ_CHECK(!memcmp(&m, &def, sizeof(m)), "a failure did not leave the defaults");
	} else {
		FZ_CHECK(fz_terminated(m.heartbeat, sizeof(m.heartbeat)) &&
				 fz_terminated(m.destination, sizeof(m.destination)),
			 "unterminated string");
		FZ_CHECK(!m.destination[0] || m.destination[0] == '/' || m.destination[0] == '|',
			 "destination %s neither a directory nor a command", m.destination);
		FZ_CHECK(m.probe_interval == 0 || (m.probe_interval >= 0.1 && m.probe_interval <= 86400),
			 "probe-interval %g", m.probe_interval);
		FZ_CHECK(m.probe_misses <= 1000, "probe-misses %u", m.probe_misses);
		FZ_CHECK(isfinite(m.cooldown) && m.cooldown <= 366.0 * 86400, "cooldown %g", m.cooldown);
		FZ_CHECK(m.present || !memcmp(&m, &def, sizeof(m)), "fields set without an element");
	}
	free(xml);
	return 0;
}
