/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* watch_fleet.c without etcd: no [fleet], nothing is made and every call is a no-op; with [fleet], the watcher's
 * name (Monitor, else watch@HOST) and a guest's fleet name by UUID. The fleet itself: test_fleet_monitors. */
#include <string.h>
#include <unistd.h>

#include "diagint/config.h"
#include "watch/watch-internal.h"
#include "tap.h"

static struct dg_config *load(const char *text)
{
	struct dg_config *cfg = NULL;
	struct dg_error err = { 0 };

	if (dg_config_parse_string(text, "T.conf", &cfg, &err) < 0)
		printf("# %s\n", err.message);
	return cfg;
}

int main(void)
{
	struct dg_watch w;
	struct dg_error err = { 0 };
	char name[64], host[128] = "";

	memset(&w, 0, sizeof(w));
	w.cfg = load("[watch]\nCooldown = 1h\n");
	CHECK(w.cfg && watch_fleet_open(&w, &err) == 0 && !w.fleet, "no [fleet]: no fleet, no request");
	watch_fleet_start(&w);
	watch_fleet_watched(&w, "0c8e9a1e-0000-4000-8000-000000000001", true);
	watch_set_suspect(&w, "web-1", "0c8e9a1e-0000-4000-8000-000000000001", true);
	CHECK(!w.fleet, "and the rest are no-ops (no brakes, no responder here either)");
	dg_config_free(w.cfg);

	CHECK_STR(watch_fleet_name("0c8e9a1e-0000-4000-8000-000000000001", name, sizeof(name)),
		  "libvirt-uuid:0c8e9a1e-0000-4000-8000-000000000001", "a guest is claimed by its UUID");

	memset(&w, 0, sizeof(w));
	w.cfg = load("[fleet]\nEndpoints = http://127.0.0.1:1\n");
	CHECK(w.cfg && watch_fleet_open(&w, &err) == 0 && w.fleet, "[fleet]: a fleet, connected lazily (%s)",
	      err.message);
	gethostname(host, sizeof(host) - 1);
	CHECK(!strncmp(w.monitor, "watch@", 6) && !strncmp(w.monitor + 6, host, 8), "named watch@HOST: %s",
	      w.monitor);
	dg_fleet_free(w.fleet);
	dg_config_free(w.cfg);

	memset(&w, 0, sizeof(w));
	w.cfg = load("[fleet]\nEndpoints = http://127.0.0.1:1\nMonitor = watch@kvm7-b\n");
	CHECK(w.cfg && watch_fleet_open(&w, &err) == 0 && !strcmp(w.monitor, "watch@kvm7-b"), "or Monitor: %s",
	      w.monitor);
	dg_fleet_free(w.fleet);
	dg_config_free(w.cfg);
	return tap_done();
}
