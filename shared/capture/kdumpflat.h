/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include "diagint/error.h"
#include "capture/sink.h"

/* QEMU writes kdump-compressed dumps to a pipe in makedumpfile's "flattened" form: a 4 KiB header, then records
 * of (big-endian int64 offset, int64 size, data), ended by offset -1. Placing each record's data at its offset
 * gives the ordinary kdump-compressed file crash and makedumpfile read (what `makedumpfile -R` does). */

struct dg_kdumpflat;

int dg_kdumpflat_new(struct dg_sink *seekable_out, struct dg_kdumpflat **ret, struct dg_error *err);
/* Feed the stream as it comes, in any pieces. DG_FAILED for a stream that is not flattened kdump. */
int dg_kdumpflat_feed(struct dg_kdumpflat *k, const void *buf, size_t len, struct dg_error *err);
/* The stream ended: DG_FAILED unless the end marker was seen. */
int dg_kdumpflat_end(struct dg_kdumpflat *k, struct dg_error *err);
void dg_kdumpflat_free(struct dg_kdumpflat *k);
