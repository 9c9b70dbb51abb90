/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Dump file names follow QNX qvm's `dump` option: PREFIX-YYYYMMDD-hhmmss.gcore, host local time, and on collision
 * PREFIX-YYYYMMDD-hhmmss-N.gcore for N = 1..9. */

#define DG_DUMPNAME_MAX 256
#define DG_DUMPNAME_PREFIX_MAX 128
#define DG_DUMPNAME_SUFFIXES 9
#define DG_DUMPNAME_DEFAULT_PREFIX "guest"

/* Map a domain name to a prefix that can never leave the dump directory:
 *  - bytes outside [A-Za-z0-9._+-] (so '/', control characters, spaces, non-ASCII) become '_';
 *  - leading dots become '_' (no hidden files, no "." or "..");
 *  - longer than DG_DUMPNAME_PREFIX_MAX bytes: cut there;
 *  - empty: DG_DUMPNAME_DEFAULT_PREFIX.
 * The true name is kept in the sidecar. Returns the number of bytes changed (0: name used as is). */
int dg_dumpname_prefix(const char *domain, char *out, size_t outlen);

/* File extension for a dump format: ".gcore" for elf (QNX's name for an ELF64 guest core), ".kdump" for the
 * kdump-compressed formats, ".dmp" for win-dmp. NULL for an unknown format. */
const char *dg_dumpname_ext(const char *format);

/* Parse a dump file name back: PREFIX-YYYYMMDD-hhmmss[-N]EXT with a known EXT. The time is read as host local
 * time, as it was written. Any out-pointer may be NULL. False when the name is not a dump's. */
bool dg_dumpname_parse(const char *name, char *prefix, size_t prefix_len, time_t *when, int *n, const char **ext);

/* Name number `n` (0 = plain, 1..9 = "-n" before the extension) for time `when`. ext includes the dot (".gcore").
 * Returns 0, or -EINVAL for n out of range, -ENAMETOOLONG if out is too small. */
int dg_dumpname_format(const char *prefix, time_t when, int n, const char *ext, char *out, size_t outlen);
