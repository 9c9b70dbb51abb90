/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include "diagint/error.h"

/* The probes' names, apart from the probes themselves (probe.h, libvirt): the configuration and the domain
 * metadata name probes without linking libvirt. */

/* The kinds, as a bit mask (the Probes key, the probes="" metadata attribute). */
enum {
	DG_PROBE_HEARTBEAT = 1u << 0, /* a text that must keep appearing in the serial log file */
	DG_PROBE_CPUTIME = 1u << 1,   /* the vCPUs' CPU time must keep growing */
	DG_PROBE_AGENT = 1u << 2,     /* the QEMU guest agent must answer guest-ping */
};
#define DG_PROBE_ALL (DG_PROBE_HEARTBEAT | DG_PROBE_CPUTIME | DG_PROBE_AGENT)

/* "heartbeat cputime agent" (spaces or commas) -> mask. "" and "none" -> 0. Returns 0, or -DG_USAGE with the
 * unknown word named in err. */
int dg_probe_kinds_parse(const char *list, unsigned *ret, struct dg_error *err);
/* The mask as the same words ("none" for 0), into buf. */
const char *dg_probe_kinds_format(unsigned mask, char *buf, size_t len);
