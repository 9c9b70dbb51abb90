/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "diagint/error.h"

/* Per-domain watch policy the libvirt way: one element in diagint's XML namespace inside the domain's
 * <metadata>, read with virDomainGetMetadata and read again on the metadata-change event:
 *
 *   <metadata>
 *     <diagint:watch xmlns:diagint="https://diagint.dev/xmlns/watch/1" enabled="yes"
 *        probes="cputime agent" heartbeat="diagint-heartbeat" probe-interval="2s" probe-misses="3"
 *        cooldown="30m" destination="/srv/dumps"/>
 *   </metadata>
 *
 * probes="" lists the domain's probes (replacing Probes/ProbeDomains of [watch]); heartbeat="TEXT" alone also
 * turns the heartbeat probe on, heartbeat="" off. heartbeat-interval/-misses are older names of probe-*.
 * Every attribute is optional; what it sets wins over [watch] and [capture]/[domain:NAME]. A bad element is
 * reported and ignored as a whole (the domain is watched with the configuration file's settings). */

#define DG_WATCH_META_NS "https://diagint.dev/xmlns/watch/1"
#define DG_WATCH_META_KEY "diagint"

struct dg_watch_meta {
	bool present;
	bool enabled;           /* enabled="no": not watched at all */
	bool probes_set;        /* probes="..." given: replaces [watch]'s choice */
	unsigned probes;        /* DG_PROBE_* mask */
	bool heartbeat_set;     /* heartbeat="" turns the probe off for this domain */
	char heartbeat[256];
	double probe_interval; /* 0: [watch] */
	unsigned probe_misses; /* 0: [watch] */
	double cooldown;        /* < 0: [watch] Cooldown */
	char destination[1024]; /* "": [capture] / [domain:NAME] */
};

void dg_watch_meta_default(struct dg_watch_meta *m);

/* Parse the element's XML as virDomainGetMetadata returns it. xml NULL or "": no element (defaults, 0).
 * Returns 0, or -DG_USAGE with a one-line reason in err (m then holds the defaults). */
int dg_watch_meta_parse(const char *xml, struct dg_watch_meta *m, struct dg_error *err);
