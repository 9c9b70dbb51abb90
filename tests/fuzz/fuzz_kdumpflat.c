/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* makedumpfile's flattened kdump stream as QEMU pipes it (dg_kdumpflat), into a seekable sink kept in memory.
 * The first input byte picks the piece sizes the stream is fed in. Invariants: every write stays inside the
 * record it came from (offset >= 0, no wrap, total bytes = the records' sizes); the result (status, bytes, where
 * they went) is the same whether the stream comes in one piece or in many; end() succeeds only after the end
 * marker. */
#include "capture/kdumpflat.h"
#include "capture/sink.h"
#include "fuzz.h"

struct memsink {
	struct dg_sink base;
	uint64_t bytes;
	uint64_t hash; /* of (offset, byte) pairs, order-independent within a write stream */
	uint64_t max_end;
};

static int ms_write(struct dg_sink *s, const void *buf, size_t len, struct dg_error *err)
{
	(void)s, (void)buf, (void)len;
	return dg_error_set(err, DG_FAILED, "the converter must seek, not append");
}

static int ms_pwrite(struct dg_sink *s, const void *buf, size_t len, uint64_t off, struct dg_error *err)
{
	struct memsink *m = (struct memsink *)s;
	const unsigned char *p = buf;

	(void)err;
	FZ_CHECK(len > 0, "an empty write");
	FZ_CHECK(off <= INT64_MAX && off + len > off && off + len <= (uint64_t)INT64_MAX + (1ull << 32),
		 "a write at %llu+%zu", (unsigned long long)off, len);
	for (size_t i = 0; i < len; i++)
		m->hash += (off + i + 1) * 0x9e3779b97f4a7c15ull ^ p[i];
	m->bytes += len;
	if (off + len > m->max_end)
		m->max_end = off + len;
	return 0;
}

static int ms_finish(struct dg_sink *s, struct dg_error *err)
{
	(void)s, (void)err;
	return 0;
}

static void ms_abort(struct dg_sink *s)
{
	(void)s;
}

static void ms_free(struct dg_sink *s)
{
	(void)s;
}

static const struct dg_sink_ops ms_ops = { ms_write, ms_pwrite, ms_finish, ms_abort, ms_free };

struct outcome {
	int feed, end;
	uint64_t bytes, hash, max_end;
};

static struct outcome run(const uint8_t *data, size_t size, size_t piece)
{
	struct memsink m = { .base = { .ops = &ms_ops } };
	struct dg_kdumpflat *k = NULL;
	struct dg_error err = { 0 };
	struct outcome o = { 0 };

	if (dg_kdumpflat_new(&m.base, &k, &err) < 0)
		abort();
	for (size_t off = 0; off < size && o.feed == 0; off += piece) {
		size_t n = size - off < piece ? size - off : piece;
		memset(&err, 0, sizeof(err));
		o.feed = dg_kdumpflat_feed(k, data + off, n, &err);
		fz_check_status(o.feed, &err);
	}
	if (o.feed == 0) {
		memset(&err, 0, sizeof(err));
		o.end = dg_kdumpflat_end(k, &err);
		fz_check_status(o.end, &err);
	}
	dg_kdumpflat_free(k);
	o.bytes = m.bytes;
	o.hash = m.hash;
	o.max_end = m.max_end;
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t pieces[] = { 1, 3, 7, 16, 17, 512, 4095, 4096, 4097, 65536 };
	struct outcome whole, cut;
	size_t piece;

	if (!size)
		return 0;
	piece = pieces[data[0] % (sizeof(pieces) / sizeof(pieces[0]))];
	data++, size--;
	whole = run(data, size, size ? size : 1);
	cut = run(data, size, piece);
	FZ_CHECK(whole.feed == cut.feed && whole.end == cut.end, "status %d/%d whole, %d/%d in pieces of %zu",
		 whole.feed, whole.end, cut.feed, cut.end, piece);
	if (whole.feed == 0)
		FZ_CHECK(whole.bytes == cut.bytes && whole.hash == cut.hash && whole.max_end == cut.max_end,
			 "different bytes in pieces of %zu", piece);
	FZ_CHECK(whole.bytes <= size, "%llu bytes written from %zu", (unsigned long long)whole.bytes, size);
	return 0;
}
