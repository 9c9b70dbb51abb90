/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>

#include "diagint/audit.h"
#include "diagint/error.h"

/* Reading the audit log back: filtered listing, one record by seq, counts (like aureport). A million records
 * are read in well under a second when a filter is given: each line is first matched on its raw bytes, and only
 * the candidates are parsed. */

struct dg_audit_filter {
	const char *since;  /* canonical UTC times (dg_audit_parse_time); NULL: unbounded */
	const char *until;  /* exclusive */
	const char *user;   /* actor.user or actor.ruser, exactly */
	const char *target; /* glob (fnmatch) over the target, e.g. "libvirt:web-*" */
	const char *result; /* ok, failed, denied, suppressed, dry-run */
	const char *action; /* exactly */
	uint64_t seq;       /* 0: any; else only this record */
};

/* Called for each matching record: the raw line (no newline) and its parsed form (borrowed). Return non-zero
 * to stop. */
typedef int (*dg_audit_visit_fn)(void *userdata, const char *line, size_t len, json_object *rec);

/* Visit the matching records of one file in order. Returns the number visited, or -status. Lines that are
 * not records (torn, foreign) are skipped: verify is the place that complains about them. */
long long dg_audit_query(const char *path, const struct dg_audit_filter *filter, dg_audit_visit_fn fn,
			 void *userdata, struct dg_error *err);

/* Turn a user's time (dg_time_parse's grammar, systemd.time(7)'s) into the canonical UTC text records use
 * (2026-11-22T10:00:00.000000000Z). */
int dg_audit_parse_time(const char *text, time_t now, char *out, size_t outlen, struct dg_error *err);

/* Counts of the matching records by user, target, provider (the target's prefix), action, result and day
 * (UTC). Returns a new object {"records":N,"by_user":{...},...} in *ret. */
int dg_audit_report(const char *path, const struct dg_audit_filter *filter, json_object **ret,
		    struct dg_error *err);

/* Helpers shared by list/show/export and report: the string at a dotted path of a record ("actor.user"). */
const char *dg_audit_rec_str(json_object *rec, const char *path);
