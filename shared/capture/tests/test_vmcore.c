/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vmcore readers on synthetic dumps: QEMU's ELF header layout repaired for makedumpfile (whole, streamed in
 * any pieces, on a file), and hostile headers left alone without reading out of bounds; notes, kallsyms and the
 * printk ring decoded from a synthetic guest memory, then the same memory mutated at random (ASan watches). */
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "diagint/buf.h"
#include "diagint/vmcore.h"
#include "tap.h"

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

#define IMG 1024

/* QEMU 7.2's layout: ELF header, 2 section headers at 64, 3 program headers at 192, notes at 360, data after. */
static void qemu_image(unsigned char *img)
{
	memset(img, 0, IMG);
	memcpy(img, "\177ELF\2\1\1", 7);
	put16(img + 16, 4);  /* ET_CORE */
	put16(img + 18, 62); /* x86-64 */
	put32(img + 20, 1);
	put64(img + 32, 192); /* e_phoff */
	put64(img + 40, 64);  /* e_shoff */
	put16(img + 52, 8);   /* e_ehsize, wrong */
	put16(img + 54, 56);
	put16(img + 56, 3);
	put16(img + 58, 64);
	put16(img + 60, 2);
	put16(img + 62, 1);
	/* section 1: .shstrtab at 1000 */
	put32(img + 64 + 64 + 4, 3);
	put64(img + 64 + 64 + 24, 1000);
	put64(img + 64 + 64 + 32, 11);
	/* PT_NOTE at 360, PT_LOADs at 512 and 768 */
	put32(img + 192, 4);
	put64(img + 192 + 8, 360);
	put64(img + 192 + 32, 100);
	for (int i = 1; i < 3; i++) {
		put32(img + 192 + 56 * i, 1);
		put64(img + 192 + 56 * i + 8, (uint64_t)(256 + 256 * i));
		put64(img + 192 + 56 * i + 24, (uint64_t)(0x1000 * i));
		put64(img + 192 + 56 * i + 32, 200);
	}
	memcpy(img + 360, "NOTES", 5);
	memcpy(img + 1000, ".shstrtab", 10);
}

static void check_repaired(const unsigned char *img, const unsigned char *orig, const char *what)
{
	CHECK(get64(img + 32) == 64, "%s: e_phoff 64", what);
	CHECK(get64(img + 40) == 64 + 3 * 56, "%s: e_shoff after the program headers", what);
	CHECK(img[52] == 64 && img[53] == 0, "%s: e_ehsize 64", what);
	CHECK(memcmp(img + 64, orig + 192, 3 * 56) == 0, "%s: program headers moved as they were", what);
	CHECK(memcmp(img + 64 + 168, orig + 64, 128) == 0, "%s: section headers moved as they were", what);
	CHECK(memcmp(img + 360, orig + 360, IMG - 360) == 0, "%s: no data byte changed", what);
}

struct collect {
	unsigned char out[IMG];
	size_t len;
};

static int collect(void *ud, const void *buf, size_t len, struct dg_error *err)
{
	struct collect *c = ud;
	(void)err;
	if (c->len + len > sizeof(c->out))
		return -1;
	memcpy(c->out + c->len, buf, len);
	c->len += len;
	return 0;
}

static void test_repair(void)
{
	unsigned char img[IMG], orig[IMG];
	size_t need = 0;

	qemu_image(orig);
	memcpy(img, orig, IMG);
	CHECK(dg_elfhdr_repair(img, 63, &need) == DG_ELFHDR_NEED_MORE && need == 64, "short: wants the header");
	CHECK(dg_elfhdr_repair(img, 300, &need) == DG_ELFHDR_NEED_MORE && need == 360, "wants both tables: %zu", need);
	CHECK(memcmp(img, orig, IMG) == 0, "nothing written while incomplete");
	CHECK(dg_elfhdr_repair(img, IMG, &need) == DG_ELFHDR_REPAIRED && need == 360, "repaired");
	check_repaired(img, orig, "buffer");
	CHECK(dg_elfhdr_repair(img, IMG, &need) == DG_ELFHDR_UNCHANGED, "a repaired header stays as it is");

	/* Streamed in every piece size: the same bytes come out. */
	for (size_t piece = 1; piece <= IMG; piece = piece < 16 ? piece + 1 : piece * 3) {
		struct collect c = { .len = 0 };
		struct dg_elfhdr_stream *s = NULL;
		int bad = 0;
		if (dg_elfhdr_stream_new(collect, &c, &s, NULL) < 0)
			abort();
		for (size_t off = 0; off < IMG; off += piece)
			bad |= dg_elfhdr_stream_feed(s, orig + off, off + piece > IMG ? IMG - off : piece, NULL);
		bad |= dg_elfhdr_stream_end(s, NULL);
		CHECK(!bad && c.len == IMG && memcmp(c.out, img, IMG) == 0 && dg_elfhdr_stream_repaired(s),
		      "streamed in pieces of %zu", piece);
		{
			size_t nlen = 0;
			const unsigned char *notes = dg_elfhdr_stream_notes(s, &nlen);
			CHECK(notes && nlen == 100 && memcmp(notes, orig + 360, 100) == 0, "notes collected (%zu)", piece);
		}
		dg_elfhdr_stream_free(s);
	}
	/* A stream that ends inside its header passes as it came. */
	{
		struct collect c = { .len = 0 };
		struct dg_elfhdr_stream *s = NULL;
		dg_elfhdr_stream_new(collect, &c, &s, NULL);
		dg_elfhdr_stream_feed(s, orig, 200, NULL);
		dg_elfhdr_stream_end(s, NULL);
		CHECK(c.len == 200 && memcmp(c.out, orig, 200) == 0 && !dg_elfhdr_stream_repaired(s), "truncated");
		size_t nlen = 0;
		CHECK(!dg_elfhdr_stream_notes(s, &nlen), "notes that did not all come are not handed out");
		dg_elfhdr_stream_free(s);
	}
	/* On a file. */
	{
		char path[] = "/tmp/dg-test-vmcore-XXXXXX";
		int fd = mkstemp(path);
		unsigned char back[IMG];
		CHECK(fd >= 0 && write(fd, orig, IMG) == IMG, "scratch file");
		CHECK(dg_elfhdr_repair_fd(fd, path, NULL) == 1, "file repaired");
		CHECK(pread(fd, back, IMG, 0) == IMG, "read back");
		check_repaired(back, orig, "file");
		CHECK(dg_elfhdr_repair_fd(fd, path, NULL) == 0, "second run changes nothing");
		close(fd);
		unlink(path);
	}
}

static void test_hostile(void)
{
	unsigned char img[IMG], orig[IMG];
	size_t need = 0;

	qemu_image(orig);
#define HOSTILE(what, mutate)                                                                                  \
	do {                                                                                                   \
		memcpy(img, orig, IMG);                                                                        \
		mutate;                                                                                        \
		unsigned char before[IMG];                                                                     \
		memcpy(before, img, IMG);                                                                      \
		enum dg_elfhdr_result res = dg_elfhdr_repair(img, IMG, &need);                                 \
		CHECK(res == DG_ELFHDR_UNCHANGED && memcmp(img, before, IMG) == 0, "%s: left alone", what);  \
	} while (0)
	HOSTILE("not ELF", img[1] = 'X');
	HOSTILE("32-bit", img[4] = 1);
	HOSTILE("big-endian", img[5] = 2);
	HOSTILE("not a core", put16(img + 16, 2));
	HOSTILE("odd phentsize", put16(img + 54, 32));
	HOSTILE("PN_XNUM", put16(img + 56, 0xffff));
	HOSTILE("phoff past the limit", put64(img + 32, UINT64_MAX - 10));
	HOSTILE("phoff inside the ELF header", put64(img + 32, 10));
	HOSTILE("tables overlap", put64(img + 40, 200));
	HOSTILE("huge shnum", (put16(img + 60, 0xfff0), put64(img + 40, 4096)));
	HOSTILE("data inside the new table area", put64(img + 192 + 8, 100));
	HOSTILE("section data inside the new table area", put64(img + 64 + 64 + 24, 80));
	HOSTILE("extended section numbering", put16(img + 60, 0));
	/* phoff already 64, wrong e_ehsize only */
	memcpy(img, orig, IMG);
	put64(img + 32, 64);
	put16(img + 60, 0);
	put64(img + 40, 0);
	CHECK(dg_elfhdr_repair(img, 64, &need) == DG_ELFHDR_REPAIRED && need == 64 && img[52] == 64,
	      "only e_ehsize mended");
}

/* ---- a synthetic guest: kernel memory at BASE, VMCOREINFO pointing into it ---- */

#define BASE 0xffffffff81000000ull
#define MEM (64 * 1024)
static unsigned char mem[MEM];

static int mem_read(void *ud, uint64_t addr, void *buf, size_t len)
{
	(void)ud;
	if (addr < BASE || addr - BASE > MEM || len > MEM - (addr - BASE))
		return -1;
	memcpy(buf, mem + (addr - BASE), len);
	return 0;
}

/* layout inside mem */
enum {
	K_OFFS = 0x1000, K_BASE = 0x1100, K_NUM = 0x1108, K_NAMES = 0x1200, K_TTAB = 0x1800, K_TIDX = 0x1a00,
	P_PRB = 0x2000, P_RB = 0x2100, P_DESCS = 0x2200, P_INFOS = 0x2400, P_DATA = 0x2800,
};

static char vmcoreinfo[4096];

static void add_name(size_t *off, const char *typed_name)
{
	size_t len = strlen(typed_name);
	mem[K_NAMES + (*off)++] = (unsigned char)len;
	memcpy(mem + K_NAMES + *off, typed_name, len); /* token i is the character i */
	*off += len;
}

static void put_record(unsigned id, unsigned state, uint64_t ts, uint64_t begin, const char *text, uint64_t *next)
{
	unsigned char *d = mem + P_DESCS + (id % 4) * 24, *inf = mem + P_INFOS + (id % 4) * 88;
	size_t len = strlen(text);

	put64(d, ((uint64_t)state << 62) | id);
	put64(d + 8, begin);
	put64(inf + 8, ts);
	put16(inf + 16, (uint16_t)len);
	put64(mem + P_DATA + (begin % 256), id);
	memcpy(mem + P_DATA + (begin % 256) + 8, text, len);
	*next = begin + ((8 + len + 7) & ~7ull);
	put64(d + 16, *next);
}

static void build_guest(void)
{
	size_t off = 0;
	uint64_t next;
	int n;

	memset(mem, 0, sizeof(mem));
	/* kallsyms: absolute per-CPU layout, text as negative offsets from the relative base */
	put64(mem + K_BASE, BASE);
	put32(mem + K_OFFS + 0, 0x10);                       /* a per-CPU symbol, absolute */
	put32(mem + K_OFFS + 4, (uint32_t)(-1 - 0x0));      /* func_a at BASE */
	put32(mem + K_OFFS + 8, (uint32_t)(-1 - 0x100));    /* func_b, and an alias */
	put32(mem + K_OFFS + 12, (uint32_t)(-1 - 0x100));
	put32(mem + K_OFFS + 16, (uint32_t)(-1 - 0x200));   /* data_c */
	put32(mem + K_OFFS + 20, (uint32_t)(-1 - 0x300));   /* _etext */
	put32(mem + K_NUM, 6);
	add_name(&off, "Dfixed_percpu_data");
	add_name(&off, "Tfunc_a");
	add_name(&off, "tfunc_b");
	add_name(&off, "tfunc_b_alias");
	add_name(&off, "ddata_c");
	add_name(&off, "T_etext");
	for (int i = 0; i < 256; i++) {
		mem[K_TTAB + 2 * i] = (unsigned char)i;
		put16(mem + K_TIDX + 2 * i, (uint16_t)(2 * i));
	}
	/* printk: 4 descriptors, 256 bytes of text */
	put64(mem + P_PRB, BASE + P_RB);
	put32(mem + P_RB + 0, 2);                 /* desc_ring.count_bits */
	put64(mem + P_RB + 8, BASE + P_DESCS);    /* descs */
	put64(mem + P_RB + 16, BASE + P_INFOS);   /* infos */
	put32(mem + P_RB + 48, 8);                /* text_data_ring.size_bits */
	put64(mem + P_RB + 56, BASE + P_DATA);
	/* ids 5..8 live (tail 5, head 8); 5 is reusable (skipped), 8 wraps the ring */
	put_record(5, 3, 1000, 256 * 3 + 0, "gone", &next);
	put_record(6, 2, 1500000000ull, 256 * 3 + 40, "Linux version 6.1 first\nsecond\001", &next);
	put_record(7, 2, 2999999999ull, next, "Kernel panic - not syncing: NMI: Not continuing", &next);
	{
		/* the wrapping block: lpos begin near the end of the ring, its text at the ring's start */
		unsigned char *d = mem + P_DESCS + (8 % 4) * 24, *inf = mem + P_INFOS + (8 % 4) * 88;
		put64(d, (2ull << 62) | 8);
		put64(d + 8, 256 * 4 - 8);
		put64(d + 16, 256 * 5 + 16);
		put64(inf + 8, 3000000000ull);
		put16(inf + 16, 8);
		put64(mem + P_DATA, 8);
		memcpy(mem + P_DATA + 8, "wrapped!", 8);
	}
	put64(mem + P_RB + 24, 8); /* head_id */
	put64(mem + P_RB + 32, 5); /* tail_id */
	n = snprintf(vmcoreinfo, sizeof(vmcoreinfo),
		     "OSRELEASE=6.1.0-test\nBUILD-ID=00112233\nPAGESIZE=4096\nKERNELOFFSET=1e000000\n"
		     "NUMBER(phys_base)=-295698432\n"
		     "SYMBOL(kallsyms_names)=%llx\nSYMBOL(kallsyms_num_syms)=%llx\nSYMBOL(kallsyms_token_table)=%llx\n"
		     "SYMBOL(kallsyms_token_index)=%llx\nSYMBOL(kallsyms_offsets)=%llx\n"
		     "SYMBOL(kallsyms_relative_base)=%llx\nSYMBOL(prb)=%llx\n"
		     "SIZE(printk_ringbuffer)=88\nOFFSET(printk_ringbuffer.desc_ring)=0\n"
		     "OFFSET(printk_ringbuffer.text_data_ring)=48\nSIZE(prb_desc_ring)=48\n"
		     "OFFSET(prb_desc_ring.count_bits)=0\nOFFSET(prb_desc_ring.descs)=8\nOFFSET(prb_desc_ring.infos)=16\n"
		     "OFFSET(prb_desc_ring.head_id)=24\nOFFSET(prb_desc_ring.tail_id)=32\nSIZE(prb_desc)=24\n"
		     "OFFSET(prb_desc.state_var)=0\nOFFSET(prb_desc.text_blk_lpos)=8\nOFFSET(prb_data_blk_lpos.begin)=0\n"
		     "OFFSET(prb_data_blk_lpos.next)=8\nSIZE(printk_info)=88\nOFFSET(printk_info.seq)=0\n"
		     "OFFSET(printk_info.ts_nsec)=8\nOFFSET(printk_info.text_len)=16\nSIZE(prb_data_ring)=32\n"
		     "OFFSET(prb_data_ring.size_bits)=0\nOFFSET(prb_data_ring.data)=8\nOFFSET(atomic_long_t.counter)=0\n",
		     BASE + K_NAMES, BASE + K_NUM, BASE + K_TTAB, BASE + K_TIDX, BASE + K_OFFS, BASE + K_BASE,
		     BASE + P_PRB);
	if (n <= 0 || (size_t)n >= sizeof(vmcoreinfo))
		abort();
}

/* Notes as QEMU writes them: a CORE/NT_PRSTATUS per vCPU, then VMCOREINFO. */
static size_t build_notes(unsigned char *out, size_t cap, unsigned cpus)
{
	size_t off = 0, vlen = strlen(vmcoreinfo);

	for (unsigned c = 0; c < cpus; c++) {
		if (off + 12 + 8 + 336 > cap)
			abort();
		put32(out + off, 5);
		put32(out + off + 4, 336);
		put32(out + off + 8, 1);
		memcpy(out + off + 12, "CORE\0\0\0", 8);
		memset(out + off + 20, 0, 336);
		put64(out + off + 20 + 112 + 16 * 8, BASE + 0x10 + c);  /* rip */
		put64(out + off + 20 + 112 + 19 * 8, 0xffffc90000001000ull + c); /* rsp */
		off += 12 + 8 + 336;
	}
	if (off + 12 + 12 + vlen + 4 > cap)
		abort();
	put32(out + off, 11);
	put32(out + off + 4, (uint32_t)vlen);
	put32(out + off + 8, 0);
	memcpy(out + off + 12, "VMCOREINFO\0\0", 12);
	memcpy(out + off + 24, vmcoreinfo, vlen);
	off += 24 + ((vlen + 3) & ~(size_t)3);
	return off;
}

static const char EXPECTED_LOG[] =
	"[    1.500000] Linux version 6.1 first\n"
	"               second\\x01\n"
	"[    2.999999] Kernel panic - not syncing: NMI: Not continuing\n"
	"[    3.000000] wrapped!\n";

static void test_analysis(void)
{
	unsigned char notes[8192];
	struct dg_vmcore_notes n;
	struct dg_kallsyms *ks = NULL;
	struct dg_buf log = DG_BUF_INIT;
	char s[128], panic[128];
	uint64_t v;
	int64_t d;
	unsigned records = 0;
	size_t len;

	build_guest();
	len = build_notes(notes, sizeof(notes), 2);
	dg_vmcore_parse_notes(notes, len, &n);
	CHECK(n.vmcoreinfo && n.ncpus == 2, "two vCPUs and VMCOREINFO");
	CHECK(n.cpu[1].ip == BASE + 0x11 && n.cpu[1].sp == 0xffffc90000001001ull, "registers of vCPU 1");
	CHECK(dg_vmcoreinfo_str(&n, "OSRELEASE", s, sizeof(s)) && !strcmp(s, "6.1.0-test"), "OSRELEASE");
	CHECK(dg_vmcoreinfo_hex(&n, "KERNELOFFSET", &v) && v == 0x1e000000, "KERNELOFFSET hex");
	CHECK(dg_vmcoreinfo_dec(&n, "NUMBER(phys_base)", &d) && d == -295698432, "negative NUMBER");
	CHECK(!dg_vmcoreinfo_str(&n, "OSRELEAS", s, sizeof(s)), "a key's prefix is not the key");
	CHECK(dg_vmcoreinfo_str(&n, "OSRELEASE", s, 4) && !strcmp(s, "6.1"), "truncated to the buffer");
	for (size_t cut = 0; cut < len; cut++) {
		struct dg_vmcore_notes t;
		dg_vmcore_parse_notes(notes, cut, &t);
		if (t.ncpus > 2 || (t.vmcoreinfo && t.vmcoreinfo + t.vmcoreinfo_len > (const char *)notes + cut)) {
			CHECK(0, "notes cut at %zu stay inside the buffer", cut);
			break;
		}
	}
	CHECK(1, "notes cut anywhere: nothing read past the end");

	if (getenv("DG_FUZZ_SEED")) {
		/* the fuzzer's seed (tests/fuzz/fuzz_vmcore.c): u16 notes length, notes, memory at BASE */
		FILE *f = fopen(getenv("DG_FUZZ_SEED"), "wb");
		unsigned char l[2] = { (unsigned char)len, (unsigned char)(len >> 8) };
		CHECK(f && fwrite(l, 2, 1, f) == 1 && fwrite(notes, len, 1, f) == 1 && fwrite(mem, 0x2a00, 1, f) == 1 &&
			      fclose(f) == 0,
		      "fuzz seed written");
	}
	{
		static unsigned char many[(12 + 8 + 336) * 70 + 4096];
		struct dg_vmcore_notes m;
		struct dg_vmcore_kernel *k = calloc(1, sizeof(*k));
		size_t mlen = build_notes(many, sizeof(many), 70);
		dg_vmcore_parse_notes(many, mlen, &m);
		CHECK(m.ncpus == 70 && k && dg_vmcore_kernel_from_notes(&m, k) && k->ncpus == DG_VMCORE_CPUS_MAX &&
			      k->ncpus_total == 70 && k->cpus[63].ip == BASE + 0x10 + 63,
		      "70 vCPUs: the first %d kept, the count says 70", DG_VMCORE_CPUS_MAX);
		free(k);
	}
	CHECK(dg_kallsyms_load(&n, mem_read, NULL, &ks, NULL) == 0 && dg_kallsyms_count(ks) == 6, "kallsyms loaded");
	CHECK(dg_kallsyms_lookup(ks, BASE + 0x10, s, sizeof(s)) && !strcmp(s, "func_a+0x10"), "func_a+0x10: %s", s);
	CHECK(dg_kallsyms_lookup(ks, BASE + 0x1ff, s, sizeof(s)) && !strcmp(s, "func_b+0xff"), "alias: first name: %s",
	      s);
	CHECK(!dg_kallsyms_lookup(ks, BASE + 0x250, s, sizeof(s)) && !s[0], "data is not text");
	CHECK(!dg_kallsyms_lookup(ks, BASE + 0x5000, s, sizeof(s)), "past the last symbol (a module): empty");
	CHECK(!dg_kallsyms_lookup(ks, 0x401000, s, sizeof(s)), "user space: empty");
	dg_kallsyms_free(ks);

	CHECK(dg_printk_read(&n, mem_read, NULL, &log, &records, panic, sizeof(panic), NULL) == 0, "log read");
	CHECK_STR(dg_buf_str(&log), EXPECTED_LOG, "makedumpfile's format: reusable skipped, continuation indented, "
						  "\\xNN, wrapped block");
	CHECK(records == 3, "three records: %u", records);
	CHECK_STR(panic, "Kernel panic - not syncing: NMI: Not continuing", "the panic line");
	dg_buf_free(&log);
}

/* Random damage to the guest memory and VMCOREINFO: any answer is fine, reading out of bounds or looping is not. */
static void test_mutations(void)
{
	unsigned char notes[8192];
	unsigned seed = 14;
	size_t len;

	for (int round = 0; round < 3000; round++) {
		struct dg_vmcore_notes n;
		struct dg_kallsyms *ks = NULL;
		struct dg_buf log = DG_BUF_INIT;
		char s[64], panic[64];
		build_guest();
		for (int k = 0; k < 1 + round % 16; k++) {
			seed = seed * 1103515245u + 12345u;
			unsigned where = (seed >> 8) % 0x1900 + 0x1000;
			mem[where] = (unsigned char)(seed >> 3);
		}
		len = build_notes(notes, sizeof(notes), 1);
		if (round % 7 == 0) { /* damage VMCOREINFO's numbers too */
			seed = seed * 1103515245u + 12345u;
			notes[12 + 8 + 336 + 24 + (seed >> 8) % strlen(vmcoreinfo)] = (unsigned char)("0123456789-f\n="[seed % 14]);
		}
		dg_vmcore_parse_notes(notes, len, &n);
		if (dg_kallsyms_load(&n, mem_read, NULL, &ks, NULL) == 0) {
			dg_kallsyms_lookup(ks, BASE + 0x10, s, sizeof(s));
			dg_kallsyms_lookup(ks, BASE + (seed & 0xfff), s, sizeof(s));
			dg_kallsyms_free(ks);
		}
		dg_printk_read(&n, mem_read, NULL, &log, NULL, panic, sizeof(panic), NULL);
		dg_buf_free(&log);
	}
	CHECK(1, "3000 damaged guests read without a fault");
}

int main(void)
{
	test_repair();
	test_hostile();
	test_analysis();
	test_mutations();
	return tap_done();
}
