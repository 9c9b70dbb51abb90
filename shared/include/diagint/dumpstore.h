/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <time.h>

#include "diagint/dumpname.h"
#include "diagint/error.h"

/* The dumps in a directory, read from names and stat() alone (no file content), so that listing, retention and
 * flood checks stay fast with thousands of dumps. */

struct dg_dump_entry {
	char name[DG_DUMPNAME_MAX];
	char prefix[DG_DUMPNAME_PREFIX_MAX + 1];
	const char *ext;    /* static string */
	time_t stamp;       /* the time in the name */
	int suffix;         /* 0, or 1..9 */
	time_t mtime;
	uint64_t size;      /* apparent */
	uint64_t allocated; /* dump + sidecar blocks */
	bool sidecar;
};

struct dg_dump_list {
	struct dg_dump_entry *v;
	size_t n;
};

/* Scan an open directory fd; entries sorted oldest first (stamp, then suffix, then name). */
int dg_dumpstore_scan(int dirfd, const char *path_for_messages, struct dg_dump_list *ret, struct dg_error *err);
void dg_dump_list_free(struct dg_dump_list *list);

/* Remove a dump and its sidecar. name must be a dump's name (no '/'). */
int dg_dumpstore_remove(int dirfd, const char *name, struct dg_error *err);
