/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>

#include "diagint/dumpname.h"
#include "diagint/hash.h"
#include "diagint/vmcore.h"

/* What one interrupt/capture did: printed by --json and kept beside the dump as NAME.gcore.json. */

#define DG_RECORD_STEPS_MAX 12
#define DG_RECORD_NOTES_MAX 6

struct dg_record_step {
	const char *name; /* static string: "connect", "precheck", "nmi", "wait_panic", "dump", "hash", ... */
	double ms;
};

struct dg_dump_record {
	char domain[256];
	char uuid[40];
	int domain_id;
	char host[256];           /* the libvirt host (virConnectGetHostname) */
	char uri[512];
	struct timespec requested; /* wall clock when the action was asked for */
	char trigger[32];          /* "inject", "capture", "watch", "collectd", ... */
	bool nmi_sent;
	bool panic_seen;
	char panic_event[64];      /* how the panic was seen: "crashed/panicked", "already crashed", "" */
	bool captured;
	char dest[1024];           /* the destination: a directory, or "|COMMAND" */
	bool sparse;               /* zero pages left as holes */
	bool converted;            /* kdump: makedumpfile's flattened stream written as a normal kdump file */
	char format[16];
	char name[DG_DUMPNAME_MAX];
	char path[PATH_MAX];
	uint64_t size;
	uint64_t allocated;
	char sha256[DG_SHA256_HEX_LEN + 1];
	unsigned vcpus;
	uint64_t ram_bytes;
	char libvirt_version[32];
	char qemu_version[32];
	struct dg_record_step steps[DG_RECORD_STEPS_MAX];
	unsigned nsteps;
	char notes[DG_RECORD_NOTES_MAX][256]; /* warnings the user should see again later ("no panic within 10 s") */
	unsigned nnotes;
	struct dg_vmcore_kernel kernel; /* the dump explained (ELF dumps with VMCOREINFO): the sidecar's `kernel` */
};

void dg_record_init(struct dg_dump_record *rec, const char *trigger);
/* Where the dump went, for its audit record: its file, else its destination (a command); NULL when rec is NULL or
 * nothing was captured. */
const char *dg_record_dump_path(const struct dg_dump_record *rec);
void dg_record_step(struct dg_dump_record *rec, const char *name, double ms);
void dg_record_note(struct dg_dump_record *rec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A new json object (caller puts it). Field names are a stable interface: docs/sidecar.md. */
json_object *dg_record_to_json(const struct dg_dump_record *rec);
