/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <libvirt/libvirt.h>

#include "diagint/error.h"
#include "diagint/hash.h"
#include "diagint/log.h"
#include "capture/sink.h"

/* A memory-only dump streamed out of libvirt through a FIFO that diagint reads: no temporary copy, the SHA-256 is
 * computed on the way, zero pages can become holes, and a |COMMAND gets the bytes as they come. We open the FIFO
 * for reading before libvirt opens it for writing and keep reading until libvirt is done, so libvirt never blocks
 * on it holding the domain lock (../shared/notes/libvirt.md), whatever the sink does. */

struct dg_stream_opts {
	unsigned format;                /* VIR_DOMAIN_CORE_DUMP_FORMAT_* */
	bool convert_flattened;         /* kdump formats: write a normal kdump file (sink must be seekable) */
	uint64_t expected_bytes;        /* for progress; 0 = unknown */
	volatile sig_atomic_t *cancel;  /* non-zero: stop, drop what was written */
	bool keep_notes;                /* elf: hand the PT_NOTE segments back in the result (caller frees) */
	dg_log_fn log;
	void *log_userdata;
};

struct dg_stream_result {
	uint64_t bytes;                  /* bytes libvirt produced */
	char sha256[DG_SHA256_HEX_LEN + 1]; /* of the bytes written (after the ELF header repair) */
	bool elf_repaired;               /* QEMU's ELF header rewritten so makedumpfile reads it (diagint/vmcore.h) */
	unsigned char *notes;            /* keep_notes: the notes as they went by, NULL if they did not all come */
	size_t notes_len;
	double seconds;
	bool cancelled;
};

/* Directory for the FIFO: one that libvirtd on this host can open. NULL: /run/diagint, else $TMPDIR or /tmp. */
int dg_stream_dump(virDomainPtr dom, struct dg_sink *sink, const struct dg_stream_opts *opts,
		   struct dg_stream_result *ret, struct dg_error *err);
