/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "diagint/dumpname.h"
#include "diagint/error.h"

/* A dump directory (local disk, NFS, any mount). Dumps are written under a hidden temporary name that is held
 * with a lock while the capture runs, fsynced, then renamed without replacing anything, so nothing partial ever
 * sits under a final name and two captures never take the same name. */

struct dg_dumpdir;

struct dg_dump_slot {
	char name[DG_DUMPNAME_MAX];          /* final file name, PREFIX-YYYYMMDD-hhmmss[-N].gcore */
	char path[PATH_MAX];                 /* directory + name */
	char tmp_name[DG_DUMPNAME_MAX + 16]; /* .NAME.partial while being written */
	char tmp_path[PATH_MAX];
	char prefix[DG_DUMPNAME_PREFIX_MAX + 1];
	char ext[8];                         /* ".gcore", ".kdump", ".dmp" */
	time_t when;
	int lock_fd;                         /* open on the temporary file; its flock marks it live */
};

#define DG_DUMP_EXT ".gcore"
#define DG_DUMP_TMP_SUFFIX ".partial"
#define DG_DUMP_KEPT_SUFFIX ".kept" /* a complete dump that could not be named; never cleaned */

/* Open an existing directory. create=true makes it (mode 0700, parents too) when missing: used for the default
 * destination only, so that a mistyped --dump-dir is an error rather than a new directory. */
int dg_dumpdir_open(const char *path, bool create, struct dg_dumpdir **ret, struct dg_error *err);
/* The same without creating anything, for a dry run and for checks (doctor, the hook): when path is missing and
 * create is true, 0 if it could be created (its nearest existing parent is a writable directory), *ret_missing is
 * set and *ret opens that parent, for the room checks on the filesystem the directory would live on. */
int dg_dumpdir_open_dry(const char *path, bool create, struct dg_dumpdir **ret, bool *ret_missing,
			struct dg_error *err);
/* Whether path names the built-in default destination (DG_DEFAULT_DUMP_DIR), trailing and doubled slashes aside:
 * an explicit Destination= or --dump-dir equal to it behaves as the default does (created when missing). */
bool dg_dumpdir_is_default(const char *path);
void dg_dumpdir_free(struct dg_dumpdir *dir);
const char *dg_dumpdir_path(const struct dg_dumpdir *dir);
/* The open directory, for *at() calls; owned by dir. */
int dg_dumpdir_fd(const struct dg_dumpdir *dir);

/* Fail with DG_REFUSED unless the filesystem has `need` bytes (and two inodes) available to us. */
int dg_dumpdir_check_space(struct dg_dumpdir *dir, uint64_t need, struct dg_error *err);

/* Remove temporaries that no live capture holds (left by a crash or kill -9). Returns how many were removed. */
int dg_dumpdir_clean_stale(struct dg_dumpdir *dir);

/* Take the first free name for (prefix, when): creates and locks the temporary. DG_REFUSED when the plain name
 * and -1..-9 are all taken (nothing is written then); DG_USAGE when the directory is not writable. */
int dg_dumpdir_reserve(struct dg_dumpdir *dir, const char *prefix, time_t when, struct dg_dump_slot *slot,
		       struct dg_error *err);
/* Same with another extension (see dg_dumpname_ext); NULL means ".gcore". */
int dg_dumpdir_reserve_ext(struct dg_dumpdir *dir, const char *prefix, const char *ext, time_t when,
			   struct dg_dump_slot *slot, struct dg_error *err);

/* A dry run of dg_dumpdir_reserve_ext: the first free name (slot->name, slot->path; lock_fd -1), and whether the
 * directory would let us create it. Nothing is written. The same statuses as dg_dumpdir_reserve_ext. */
int dg_dumpdir_peek_ext(struct dg_dumpdir *dir, const char *prefix, const char *ext, time_t when,
			struct dg_dump_slot *slot, struct dg_error *err);

/* fsync the written temporary and give it its final name. If another writer took that name meanwhile, the next
 * free -N is used and slot->name/path change. On failure the data is kept as .NAME.kept (slot->tmp_path then
 * names it, and so does the message), because it may be the only copy of a crashed guest's memory. */
int dg_dumpdir_commit(struct dg_dumpdir *dir, struct dg_dump_slot *slot, struct dg_error *err);

/* Drop a reservation and its temporary (capture failed or was never started). Safe to call twice. */
void dg_dumpdir_abort(struct dg_dumpdir *dir, struct dg_dump_slot *slot);

/* Write a small file (a sidecar) atomically: temporary, fsync, rename over NAME. */
int dg_dumpdir_write_file(struct dg_dumpdir *dir, const char *name, const void *data, size_t len,
			  struct dg_error *err);
