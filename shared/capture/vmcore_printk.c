/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The kernel log from the lockless printk ring buffer (Linux 5.10+), located and laid out by VMCOREINFO alone.
 * Records are walked from the tail id to the head id as makedumpfile does, and printed the way its --dump-dmesg
 * prints them, so the two can be compared line for line. Sizes and ids are the guest's: bounded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagint/buf.h"
#include "diagint/vmcore.h"
#include "capture/vmcore-internal.h"

#define DESC_BITS_MAX 20 /* 1 M records: log_buf_len tops out at 2^25, 2^20 records */
#define DATA_BITS_MAX 26 /* 64 MiB of text */
#define STRUCT_MAX 4096

/* descriptor state: the top two bits of state_var, the id the rest */
#define SV_SHIFT 62
#define ID_MASK (~(3ull << SV_SHIFT))
#define STATE_COMMITTED 1
#define STATE_FINALIZED 2

static const char PANIC_PREFIX[] = "Kernel panic - not syncing";

struct layout {
	int64_t rb_size, rb_desc_ring, rb_text_ring;
	int64_t dr_count_bits, dr_descs, dr_infos, dr_head, dr_tail;
	int64_t desc_size, desc_state, desc_lpos, lpos_begin, lpos_next;
	int64_t info_size, info_ts, info_text_len;
	int64_t tr_size_bits, tr_data;
	int64_t atomic_counter;
};

static int fail(struct dg_error *err, const char *what)
{
	return dg_error_set(err, DG_FAILED, "kernel log: %s", what);
}

static bool field(const struct dg_vmcore_notes *n, const char *key, int64_t *v, int64_t width, int64_t within)
{
	/* an offset must leave room for its field inside a structure we read whole */
	return dg_vmcoreinfo_dec(n, key, v) && *v >= 0 && *v <= STRUCT_MAX && (within < 0 || *v + width <= within);
}

static bool get_layout(const struct dg_vmcore_notes *n, struct layout *l)
{
	int64_t dr_size = 0, tr_size = 0;

	if (!dg_vmcoreinfo_dec(n, "SIZE(printk_ringbuffer)", &l->rb_size) || l->rb_size <= 0 || l->rb_size > STRUCT_MAX)
		return false;
	if (!dg_vmcoreinfo_dec(n, "SIZE(prb_desc_ring)", &dr_size) || dr_size <= 0 ||
	    !dg_vmcoreinfo_dec(n, "SIZE(prb_data_ring)", &tr_size) || tr_size <= 0)
		return false;
	if (!field(n, "OFFSET(printk_ringbuffer.desc_ring)", &l->rb_desc_ring, dr_size, l->rb_size) ||
	    !field(n, "OFFSET(printk_ringbuffer.text_data_ring)", &l->rb_text_ring, tr_size, l->rb_size) ||
	    !field(n, "OFFSET(prb_desc_ring.count_bits)", &l->dr_count_bits, 4, dr_size) ||
	    !field(n, "OFFSET(prb_desc_ring.descs)", &l->dr_descs, 8, dr_size) ||
	    !field(n, "OFFSET(prb_desc_ring.infos)", &l->dr_infos, 8, dr_size) ||
	    !field(n, "OFFSET(atomic_long_t.counter)", &l->atomic_counter, 8, 64) ||
	    !field(n, "OFFSET(prb_desc_ring.head_id)", &l->dr_head, 8 + l->atomic_counter, dr_size) ||
	    !field(n, "OFFSET(prb_desc_ring.tail_id)", &l->dr_tail, 8 + l->atomic_counter, dr_size) ||
	    !dg_vmcoreinfo_dec(n, "SIZE(prb_desc)", &l->desc_size) || l->desc_size <= 0 || l->desc_size > STRUCT_MAX ||
	    !field(n, "OFFSET(prb_desc.state_var)", &l->desc_state, 8 + l->atomic_counter, l->desc_size) ||
	    !field(n, "OFFSET(prb_data_blk_lpos.begin)", &l->lpos_begin, 8, 64) ||
	    !field(n, "OFFSET(prb_data_blk_lpos.next)", &l->lpos_next, 8, 64) ||
	    !field(n, "OFFSET(prb_desc.text_blk_lpos)", &l->desc_lpos,
		   8 + (l->lpos_begin > l->lpos_next ? l->lpos_begin : l->lpos_next), l->desc_size) ||
	    !dg_vmcoreinfo_dec(n, "SIZE(printk_info)", &l->info_size) || l->info_size <= 0 || l->info_size > STRUCT_MAX ||
	    !field(n, "OFFSET(printk_info.ts_nsec)", &l->info_ts, 8, l->info_size) ||
	    !field(n, "OFFSET(printk_info.text_len)", &l->info_text_len, 2, l->info_size) ||
	    !field(n, "OFFSET(prb_data_ring.size_bits)", &l->tr_size_bits, 4, tr_size) ||
	    !field(n, "OFFSET(prb_data_ring.data)", &l->tr_data, 8, tr_size))
		return false;
	return true;
}

static void put_record(struct dg_buf *out, uint64_t ts, const unsigned char *text, size_t len, char *panic,
		       size_t panic_len)
{
	char head[64];
	int indent = snprintf(head, sizeof(head), "[%5llu.%06llu] ", (unsigned long long)(ts / 1000000000u),
			      (unsigned long long)(ts % 1000000000u / 1000u));

	dg_buf_puts(out, head);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = text[i];
		if (c == '\n')
			dg_buf_printf(out, "\n%*s", indent, "");
		else if ((c >= 0x20 && c < 0x7f) || c == ' ' || (c >= '\t' && c <= '\r'))
			dg_buf_putc(out, (char)c);
		else
			dg_buf_printf(out, "\\x%02x", c);
	}
	dg_buf_putc(out, '\n');
	if (panic && len >= sizeof(PANIC_PREFIX) - 1 && !memcmp(text, PANIC_PREFIX, sizeof(PANIC_PREFIX) - 1)) {
		size_t n = 0;
		for (size_t i = 0; i < len && n + 1 < panic_len && text[i] != '\n'; i++)
			panic[n++] = (text[i] >= 0x20 && text[i] < 0x7f) ? (char)text[i] : '?';
		panic[n] = '\0';
	}
}

int dg_printk_read(const struct dg_vmcore_notes *n, dg_vmcore_read_fn rd, void *ud, struct dg_buf *out,
		   unsigned *ret_records, char *panic, size_t panic_len, struct dg_error *err)
{
	struct layout l;
	uint64_t a_prb, rb, descs_at, infos_at, data_at, head, tail, count, size;
	unsigned char ptr[8], *rbuf = NULL, *descs = NULL, *infos = NULL, *data = NULL;
	unsigned bits, dbits, records = 0;
	int r = 0;

	if (panic && panic_len)
		panic[0] = '\0';
	if (!dg_vmcoreinfo_hex(n, "SYMBOL(prb)", &a_prb))
		return fail(err, "VMCOREINFO has no SYMBOL(prb) (a kernel before 5.10 keeps its log elsewhere)");
	if (!get_layout(n, &l))
		return fail(err, "VMCOREINFO does not describe the printk ring buffer");
	if (rd(ud, a_prb, ptr, 8) < 0)
		return fail(err, "cannot read prb");
	rb = dg_le64(ptr);
	rbuf = malloc((size_t)l.rb_size);
	if (!rbuf)
		return fail(err, "out of memory");
	if (rd(ud, rb, rbuf, (size_t)l.rb_size) < 0) {
		r = fail(err, "cannot read the printk_ringbuffer");
		goto out;
	}
	{
		const unsigned char *dr = rbuf + l.rb_desc_ring, *tr = rbuf + l.rb_text_ring;
		bits = dg_le32(dr + l.dr_count_bits);
		descs_at = dg_le64(dr + l.dr_descs);
		infos_at = dg_le64(dr + l.dr_infos);
		head = dg_le64(dr + l.dr_head + l.atomic_counter);
		tail = dg_le64(dr + l.dr_tail + l.atomic_counter);
		dbits = dg_le32(tr + l.tr_size_bits);
		data_at = dg_le64(tr + l.tr_data);
	}
	if (bits > DESC_BITS_MAX || dbits > DATA_BITS_MAX || dbits < 4) {
		r = fail(err, "implausible ring sizes");
		goto out;
	}
	count = 1ull << bits;
	size = 1ull << dbits;
	descs = malloc(count * (uint64_t)l.desc_size);
	infos = malloc(count * (uint64_t)l.info_size);
	data = malloc(size);
	if (!descs || !infos || !data) {
		r = fail(err, "out of memory");
		goto out;
	}
	if (rd(ud, descs_at, descs, count * (uint64_t)l.desc_size) < 0 ||
	    rd(ud, infos_at, infos, count * (uint64_t)l.info_size) < 0 || rd(ud, data_at, data, size) < 0) {
		r = fail(err, "cannot read the ring's descriptors or text");
		goto out;
	}
	/* tail .. head inclusive; never more than one lap, whatever the ids say */
	for (uint64_t id = tail & ID_MASK, laps = 0; laps <= count; id = (id + 1) & ID_MASK, laps++) {
		const unsigned char *d = descs + (id % count) * (uint64_t)l.desc_size;
		const unsigned char *inf = infos + (id % count) * (uint64_t)l.info_size;
		uint64_t sv = dg_le64(d + l.desc_state + l.atomic_counter), state = sv >> SV_SHIFT;
		uint64_t begin = dg_le64(d + l.desc_lpos + l.lpos_begin) % size;
		uint64_t next = dg_le64(d + l.desc_lpos + l.lpos_next) % size;
		uint64_t text_len = dg_le16(inf + l.info_text_len);

		if ((sv & ID_MASK) == id && (state == STATE_COMMITTED || state == STATE_FINALIZED) && begin != next) {
			if (begin > next) /* the block wrapped: its text starts at the ring's start */
				begin = 0;
			begin += 8; /* the block starts with its descriptor id */
			if (begin <= next) {
				if (next - begin < text_len)
					text_len = next - begin;
				put_record(out, dg_le64(inf + l.info_ts), data + begin, (size_t)text_len, panic,
					   panic_len);
				records++;
			}
		}
		if (id == (head & ID_MASK))
			break;
	}
	if (!dg_buf_ok(out))
		r = fail(err, "out of memory");
out:
	if (ret_records)
		*ret_records = records;
	free(rbuf);
	free(descs);
	free(infos);
	free(data);
	return r;
}
