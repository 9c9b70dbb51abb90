/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vmcore readers on synthetic dumps: QEMU's ELF header layout repaired for makedumpfile (whole, streamed in
 * any pieces, on a file), and hostile headers left alone without reading out of bounds. */
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

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

int main(void)
{
	test_repair();
	test_hostile();
	return tap_done();
}
