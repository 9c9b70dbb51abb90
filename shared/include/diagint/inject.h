/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <signal.h>
#include <stdbool.h>

#include "diagint/error.h"
#include "diagint/log.h"
#include "diagint/lv.h"
#include "diagint/record.h"

/* The libvirt path: NMI a guest, wait for its panic, capture its memory as an ELF64 .gcore. Shared by
 * `diagint inject`, `diagint capture`, the watcher and the collectd plugin. */

struct dg_config;

struct dg_inject_opts {
	const char *dest;     /* a directory or "|COMMAND"; NULL: dump_dir, then the configuration, then the default */
	const char *dump_dir; /* the directory-only spelling (--dump-dir) */
	const char *format;   /* elf (default), kdump-zlib, kdump-lzo, kdump-snappy, win-dmp; NULL: configuration */
	const struct dg_config *config; /* retention, flood limit, per-domain overrides; NULL: built-in defaults */
	volatile sig_atomic_t *cancel;  /* set (e.g. by SIGINT) to abort a capture: nothing is kept */
	bool nmi;             /* false: capture only, no interrupt */
	bool capture;         /* false: interrupt only (--no-capture) */
	bool dry_run;         /* check everything (the guest and its state, destination, flood limit, a free name,
			       * room under the retention rules), send and write nothing: no NMI, no dump, no
			       * temporary, no sidecar, no removal, no directory created */
	double timeout;       /* seconds to wait for CRASHED after the NMI */
	const char *trigger;  /* recorded as is: "inject", "capture", "watch", ... */
	dg_log_fn log;
	void *log_userdata;
};

#define DG_INJECT_DEFAULT_TIMEOUT 10.0

/* Room a memory-only ELF dump of a guest with `ram` bytes may need: RAM, firmware ROMs, notes, headers. */
uint64_t dg_inject_dump_bytes_needed(uint64_t ram);

/* A destination as configured (Destination=, collectd's Capture, --dest), judged without a guest so that a
 * configuration is refused when it is read, not after an NMI: an absolute directory that exists (the default
 * may be missing: it is created) or "|COMMAND" with a command. 0 or -DG_USAGE with the fix. */
int dg_inject_destination_check(const char *dest, struct dg_error *err);

/* Every capture precondition (directory, a free name, room for the RAM) is checked before the NMI: a refused
 * capture never leaves a crashed guest without its dump. rec is filled as far as the run got, also on error.
 * The default destination (DG_DEFAULT_DUMP_DIR, however given) is created when missing; any other must exist.
 * A dry run returns 0 when the real run would start: rec then holds the name and path the dump would take,
 * rec->nmi_sent and rec->captured are false. */
int dg_inject(struct dg_lv *lv, const char *domain, const struct dg_inject_opts *opts, struct dg_dump_record *rec,
	      struct dg_error *err);
