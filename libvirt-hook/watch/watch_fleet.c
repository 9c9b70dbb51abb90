/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The watcher's side of the fleet brakes (fleet.h, docs/fleet.md "How the watcher and the collectd plugin use
 * it"): [fleet] read at start, this watcher's name in the fleet, guests named by UUID, and what the storm view is
 * told. The decisions themselves are the responder's. */
#include <stdio.h>

#include "watch/watch-internal.h"

int watch_fleet_open(struct dg_watch *w, struct dg_error *err)
{
	const struct dg_fleet_config *fc = dg_config_fleet(w->cfg);

	if (!fc)
		return 0;
	dg_fleet_monitor_name(fc, "watch", w->monitor, sizeof(w->monitor));
	return dg_fleet_new(fc, w->monitor, &w->fleet, err);
}

void watch_fleet_start(struct dg_watch *w)
{
	const struct dg_fleet_config *fc = dg_config_fleet(w->cfg);
	struct dg_error err = { 0 };

	if (!w->fleet)
		return;
	/* The first view now, so that an etcd that does not answer is said at start, not at the first hang. Not
	 * fatal: the probes, the logs and the captures of an operator's NMI go on; automatic actions wait for it. */
	if (dg_responder_fleet_tick(w->responder, &err) < 0)
		watch_log(w, DG_LOG_WARNING, "fleet: etcd does not answer (%s): no automatic NMI or capture until it "
			  "does", err.message);
	else
		watch_log(w, DG_LOG_INFO, "fleet brakes on etcd (%s%s) as %s", fc->endpoints[0],
			  fc->n_endpoints > 1 ? " ..." : "", w->monitor);
	if (dg_responder_fleet_start(w->responder, &err) < 0)
		watch_log(w, DG_LOG_WARNING, "fleet: %s: no automatic NMI or capture", err.message);
}

const char *watch_fleet_name(const char *uuid, char *buf, size_t len)
{
	snprintf(buf, len, "libvirt-uuid:%s", uuid);
	return buf;
}

void watch_fleet_watched(struct dg_watch *w, const char *uuid, bool watched)
{
	char name[64];

	if (w->fleet)
		dg_responder_fleet_set(w->responder, watch_fleet_name(uuid, name, sizeof(name)), watched, false);
}

void watch_set_suspect(struct dg_watch *w, const char *name, const char *uuid, bool suspect)
{
	char fname[64];

	if (w->brakes)
		dg_brakes_set_suspect(w->brakes, name, suspect);
	if (w->fleet && w->responder)
		dg_responder_fleet_set(w->responder, watch_fleet_name(uuid, fname, sizeof(fname)), true, suspect);
}
