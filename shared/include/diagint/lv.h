/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "diagint/error.h"

/* A libvirt connection with the event loop running on a thread of its own, so that lifecycle events arrive while
 * the caller blocks in a long call (a dump). */

struct dg_lv;

/* uri NULL: libvirt's own default (LIBVIRT_DEFAULT_URI, uri_default in libvirt.conf, then qemu:///system as root).
 * Unreachable daemon: DG_UNAVAILABLE; authentication refused: DG_DENIED; URI not understood: DG_USAGE. */
int dg_lv_open(const char *uri, struct dg_lv **ret, struct dg_error *err);
void dg_lv_free(struct dg_lv *lv);

virConnectPtr dg_lv_conn(struct dg_lv *lv);
/* The URI actually connected to (libvirt's answer, so the default is spelled out). */
const char *dg_lv_uri(struct dg_lv *lv);

/* Find a domain by id, UUID or name, in that order (as virsh does). DG_NOTFOUND when none matches. */
int dg_lv_lookup(struct dg_lv *lv, const char *ident, virDomainPtr *ret, struct dg_error *err);

/* Fill err from libvirt's last error: "WHAT: libvirt's message", status chosen from libvirt's error code
 * (fallback when the code says nothing specific). Returns -status. */
int dg_lv_error(struct dg_error *err, enum dg_status fallback, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Same, from an error saved on another thread (virSaveLastError). */
int dg_lv_error_from(struct dg_error *err, virErrorPtr saved, enum dg_status fallback, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* "7.2.22" from libvirt's packed version number. */
void dg_lv_version_string(unsigned long packed, char *buf, size_t len);
