/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capture/kdumpflat.h"

#define HEADER_SIZE 4096
#define SIGNATURE "makedumpfile"
#define MAX_RECORD (1ull << 32)

enum state { S_HEADER, S_RECORD, S_DATA, S_END };

struct dg_kdumpflat {
	struct dg_sink *out;
	enum state st;
	unsigned char hdr[HEADER_SIZE];
	size_t have;        /* bytes collected into hdr for the current header/record header */
	uint64_t offset;    /* where the current record's data goes */
	uint64_t remaining; /* data bytes of the current record still to come */
};

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int dg_kdumpflat_new(struct dg_sink *out, struct dg_kdumpflat **ret, struct dg_error *err)
{
	struct dg_kdumpflat *k;

	if (!dg_sink_seekable(out))
		return dg_error_set(err, DG_USAGE, "a flattened kdump can only be converted into a file");
	k = calloc(1, sizeof(*k));
	if (!k)
		return dg_error_set(err, DG_FAILED, "out of memory");
	k->out = out;
	*ret = k;
	return 0;
}

int dg_kdumpflat_feed(struct dg_kdumpflat *k, const void *buf, size_t len, struct dg_error *err)
{
	const unsigned char *p = buf;

	while (len > 0) {
		size_t need, take;

		switch (k->st) {
		case S_HEADER:
		case S_RECORD:
			need = (k->st == S_HEADER ? HEADER_SIZE : 16) - k->have;
			take = len < need ? len : need;
			memcpy(k->hdr + k->have, p, take);
			k->have += take;
			p += take;
			len -= take;
			if (take < need)
				return 0;
			k->have = 0;
			if (k->st == S_HEADER) {
				if (memcmp(k->hdr, SIGNATURE, sizeof(SIGNATURE)) != 0 || be64(k->hdr + 16) != 1 ||
				    be64(k->hdr + 24) != 1)
					return dg_error_set(err, DG_FAILED, "the kdump stream does not start with "
							    "makedumpfile's flattened header");
				k->st = S_RECORD;
				break;
			}
			if ((int64_t)be64(k->hdr) == -1) {
				k->st = S_END;
				break;
			}
			k->offset = be64(k->hdr);
			k->remaining = be64(k->hdr + 8);
			if ((int64_t)k->offset < 0 || k->remaining > MAX_RECORD)
				return dg_error_set(err, DG_FAILED, "corrupt flattened kdump record (offset %lld, size "
						    "%llu)", (long long)k->offset, (unsigned long long)k->remaining);
			k->st = k->remaining ? S_DATA : S_RECORD;
			break;
		case S_DATA:
			take = len < k->remaining ? len : (size_t)k->remaining;
			if (dg_sink_pwrite(k->out, p, take, k->offset, err) < 0)
				return -(int)(err ? err->status : DG_FAILED);
			k->offset += take;
			k->remaining -= take;
			p += take;
			len -= take;
			if (!k->remaining)
				k->st = S_RECORD;
			break;
		case S_END:
			return dg_error_set(err, DG_FAILED, "data after the end of the flattened kdump stream");
		}
	}
	return 0;
}

int dg_kdumpflat_end(struct dg_kdumpflat *k, struct dg_error *err)
{
	if (k->st != S_END)
		return dg_error_set(err, DG_FAILED, "the kdump stream ended before its end marker (truncated dump)");
	return 0;
}

void dg_kdumpflat_free(struct dg_kdumpflat *k)
{
	free(k);
}
