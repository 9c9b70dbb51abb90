/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* makedumpfile's flattened format back into a kdump file: synthetic streams, fed in any pieces, must give exactly
 * the image `makedumpfile -R` would write; anything else is an error. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture/kdumpflat.h"
#include "capture/sink.h"
#include "tap.h"

static char scratch[] = "/tmp/dg-test-kdumpflat-XXXXXX";

/* A growable byte buffer for the stream. */
struct buf {
	unsigned char *p;
	size_t len, cap;
};

static void add(struct buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 8192;
		while (cap < b->len + len)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			abort();
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

static void add_be64(struct buf *b, int64_t v)
{
	unsigned char x[8];
	uint64_t u = (uint64_t)v;

	for (int i = 7; i >= 0; i--) {
		x[i] = (unsigned char)(u & 0xff);
		u >>= 8;
	}
	add(b, x, 8);
}

/* The 4096-byte flattened header: signature padded to 16 bytes, type, version, zeros. */
static void add_header(struct buf *b, const char *sig, int64_t type, int64_t version)
{
	unsigned char h[4096];

	memset(h, 0, sizeof(h));
	memcpy(h, sig, strlen(sig));
	add(b, h, 16);
	add_be64(b, type);
	add_be64(b, version);
	add(b, h + 32, sizeof(h) - 32);
}

/* A record in the stream, and its data placed into the expected image. */
struct image {
	unsigned char *p;
	size_t size;
};

static void add_record(struct buf *b, struct image *img, uint64_t off, const unsigned char *data, size_t len)
{
	add_be64(b, (int64_t)off);
	add_be64(b, (int64_t)len);
	add(b, data, len);
	if (!len)
		return;
	if (off + len > img->size) {
		img->p = realloc(img->p, off + len);
		if (!img->p)
			abort();
		memset(img->p + img->size, 0, off + len - img->size);
		img->size = off + len;
	}
	memcpy(img->p + off, data, len);
}

static void add_end(struct buf *b)
{
	add_be64(b, -1);
	add_be64(b, -1);
}

static void pattern(unsigned char *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16) | 1; /* never zero */
	}
}

/* The test stream: header-like start, mixed zero/non-zero data, explicit zero records, out-of-order offsets,
 * overlapping rewrites, a zero-length record and a trailing run of zero blocks (a hole only finish can size). */
static void build_stream(struct buf *b, struct image *img, size_t *data_bytes)
{
	unsigned char d[16384];

	*data_bytes = 0;
	add_header(b, "makedumpfile", 1, 1);
	pattern(d, 512, 1);
	add_record(b, img, 0, d, 512); /* the kdump header */
	*data_bytes += 512;
	pattern(d, 8192, 2);
	memset(d + 4096, 0, 4096); /* an aligned zero block inside a record */
	add_record(b, img, 4096, d, 8192);
	*data_bytes += 8192;
	memset(d, 0, 16384);
	add_record(b, img, 65536, d, 16384); /* explicit zeros */
	*data_bytes += 16384;
	pattern(d, 12345, 3);
	add_record(b, img, 200000, d, 12345); /* odd size, unaligned */
	*data_bytes += 12345;
	pattern(d, 3000, 4);
	add_record(b, img, 20000, d, 3000); /* out of order: below the previous record */
	*data_bytes += 3000;
	add_record(b, img, 1u << 20, d, 0); /* zero length: writes nothing */
	pattern(d, 100, 5);
	add_record(b, img, 4096 + 10, d, 100); /* rewrites part of an earlier record */
	*data_bytes += 100;
	pattern(d, 1, 6);
	add_record(b, img, 150000, d, 1); /* one byte in the middle of a gap */
	*data_bytes += 1;
	memset(d, 0, 8192);
	add_record(b, img, 262144, d, 8192); /* trailing zero blocks, aligned */
	*data_bytes += 8192;
	add_end(b);
}

static int new_file(const char *name, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", scratch, name);
	return open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
}

static bool file_equals(int fd, const struct image *img)
{
	struct stat st;
	unsigned char *got;
	bool same;

	if (fstat(fd, &st) < 0 || (size_t)st.st_size != img->size)
		return false;
	got = malloc(img->size ? img->size : 1);
	if (!got)
		return false;
	same = pread(fd, got, img->size, 0) == (ssize_t)img->size && memcmp(got, img->p, img->size) == 0;
	free(got);
	return same;
}

/* Feed the stream in pieces chosen by `mode`: 0 all at once, 1 one byte at a time, 2 a cycle of odd sizes,
 * 3 pseudo-random sizes. */
static size_t piece(int mode, size_t i, unsigned *seed)
{
	static const size_t odd[] = { 7, 4095, 4097, 13, 65537, 1, 16, 15, 17, 8191 };

	switch (mode) {
	case 0:
		return SIZE_MAX;
	case 1:
		return 1;
	case 2:
		return odd[i % (sizeof(odd) / sizeof(odd[0]))];
	default:
		*seed = *seed * 1103515245u + 12345u;
		return 1 + (*seed >> 8) % 3000;
	}
}

static void test_convert(const struct buf *stream, const struct image *img, size_t data_bytes, bool sparse, int mode)
{
	static const char *const modes[] = { "all at once", "1-byte pieces", "odd pieces", "random pieces" };
	char path[512];
	struct dg_sink *sink = NULL;
	struct dg_kdumpflat *k = NULL;
	struct dg_error err;
	unsigned seed = 42;
	size_t off = 0, calls = 0;
	int fd, r, bad = 0;

	fd = new_file("out.kdump", path, sizeof(path));
	memset(&err, 0, sizeof(err));
	r = fd < 0 ? -1 : dg_sink_file_new(fd, sparse, path, &sink, &err);
	CHECK(r == 0 && sink, "%s, sparse=%d: file sink (%d)", modes[mode], sparse, r);
	if (r < 0)
		goto out;
	r = dg_kdumpflat_new(sink, &k, &err);
	CHECK(r == 0 && k, "%s, sparse=%d: converter (%d: %s)", modes[mode], sparse, r, err.message);
	if (r < 0)
		goto out;
	while (off < stream->len) {
		size_t n = piece(mode, calls++, &seed);
		if (n > stream->len - off)
			n = stream->len - off;
		if (dg_kdumpflat_feed(k, stream->p + off, n, &err) < 0) {
			bad++;
			break;
		}
		off += n;
	}
	CHECK(bad == 0 && off == stream->len, "%s, sparse=%d: every piece accepted (%zu calls, %s)", modes[mode],
	      sparse, calls, bad ? err.message : "ok");
	r = dg_kdumpflat_end(k, &err);
	CHECK(r == 0, "%s, sparse=%d: end marker seen (%d: %s)", modes[mode], sparse, r, r ? err.message : "");
	r = dg_sink_finish(sink, &err);
	CHECK(r == 0, "%s, sparse=%d: finish (%d)", modes[mode], sparse, r);
	CHECK(file_equals(fd, img), "%s, sparse=%d: file is the expected %zu-byte image", modes[mode], sparse,
	      img->size);
	CHECK(sink->written == data_bytes, "%s, sparse=%d: sink took %zu data bytes (%llu)", modes[mode], sparse,
	      data_bytes, (unsigned long long)sink->written);
out:
	dg_kdumpflat_free(k);
	dg_sink_free(sink);
	if (fd >= 0)
		close(fd);
	unlink(path);
}

/* Feed `b` (in one piece, or byte by byte) to a fresh converter; return what the first failing feed returned,
 * or 0. The message into err. */
static int feed_all(const struct buf *b, bool bytewise, bool *ended, struct dg_error *err)
{
	char path[512];
	struct dg_sink *sink = NULL;
	struct dg_kdumpflat *k = NULL;
	int fd, r = 0;

	memset(err, 0, sizeof(*err));
	fd = new_file("bad.kdump", path, sizeof(path));
	if (fd < 0 || dg_sink_file_new(fd, true, path, &sink, err) < 0 || dg_kdumpflat_new(sink, &k, err) < 0) {
		r = -100;
		goto out;
	}
	if (bytewise) {
		for (size_t i = 0; i < b->len && r == 0; i++)
			r = dg_kdumpflat_feed(k, b->p + i, 1, err);
	} else if (b->len) {
		r = dg_kdumpflat_feed(k, b->p, b->len, err);
	}
	if (r == 0 && ended) {
		r = dg_kdumpflat_end(k, err);
		*ended = true;
	}
out:
	dg_kdumpflat_free(k);
	dg_sink_free(sink);
	if (fd >= 0)
		close(fd);
	unlink(path);
	return r;
}

static void expect_feed_error(const struct buf *b, const char *want, const char *what)
{
	struct dg_error err;
	int r;

	for (int bytewise = 0; bytewise <= 1; bytewise++) {
		r = feed_all(b, bytewise, NULL, &err);
		CHECK(r == -DG_FAILED && err.status == DG_FAILED && strstr(err.message, want),
		      "%s (%s): feed fails with '%s' (%d: %s)", what, bytewise ? "byte by byte" : "one piece", want, r,
		      err.message);
	}
}

static void expect_end_error(const struct buf *b, const char *what)
{
	struct dg_error err;
	bool ended = false;
	int r;

	r = feed_all(b, false, &ended, &err);
	CHECK(ended && r == -DG_FAILED && err.status == DG_FAILED && strstr(err.message, "truncated"),
	      "%s: feed accepted, end fails with 'truncated' (%d: %s)", what, r, err.message);
}

static void test_errors(void)
{
	unsigned char d[256];
	struct image img = { 0 };
	struct buf b = { 0 };
	struct dg_error err;
	bool ended;
	int r;

	pattern(d, sizeof(d), 9);

	add_header(&b, "makedumpfilf", 1, 1);
	add_end(&b);
	expect_feed_error(&b, "does not start with makedumpfile's flattened header", "bad signature");
	b.len = 0;
	add_header(&b, "makedumpfile-x", 1, 1); /* no NUL after the 12 bytes */
	add_end(&b);
	expect_feed_error(&b, "flattened header", "signature with trailing bytes");
	b.len = 0;
	add_header(&b, "makedumpfile", 2, 1);
	add_end(&b);
	expect_feed_error(&b, "flattened header", "type 2");
	b.len = 0;
	add_header(&b, "makedumpfile", 1, 2);
	add_end(&b);
	expect_feed_error(&b, "flattened header", "version 2");
	b.len = 0;
	memset(d, 0, sizeof(d));
	add(&b, "\177ELF", 4);
	add(&b, d, sizeof(d));
	while (b.len < 8192)
		add(&b, d, sizeof(d));
	expect_feed_error(&b, "flattened header", "an ELF core instead");
	pattern(d, sizeof(d), 9);

	b.len = 0;
	add_header(&b, "makedumpfile", 1, 1);
	add_record(&b, &img, 0, d, 10);
	add_be64(&b, -2);
	add_be64(&b, 10);
	add(&b, d, 10);
	add_end(&b);
	expect_feed_error(&b, "corrupt flattened kdump record (offset -2, size 10)", "negative offset");
	b.len = 0;
	add_header(&b, "makedumpfile", 1, 1);
	add_be64(&b, 0);
	add_be64(&b, (int64_t)((1ull << 32) + 1));
	add_end(&b);
	expect_feed_error(&b, "corrupt flattened kdump record (offset 0, size 4294967297)", "record over 4 GiB");
	b.len = 0;
	add_header(&b, "makedumpfile", 1, 1);
	add_be64(&b, 0);
	add_be64(&b, -5);
	add_end(&b);
	expect_feed_error(&b, "corrupt flattened kdump record", "negative size");

	/* Data after the end marker: in the same piece, or later. */
	b.len = 0;
	add_header(&b, "makedumpfile", 1, 1);
	add_record(&b, &img, 0, d, 10);
	add_end(&b);
	add(&b, "x", 1);
	expect_feed_error(&b, "data after the end of the flattened kdump stream", "a byte after the end marker");
	b.len -= 1;
	{
		char path[512];
		struct dg_sink *sink = NULL;
		struct dg_kdumpflat *k = NULL;
		int fd = new_file("after.kdump", path, sizeof(path));

		memset(&err, 0, sizeof(err));
		r = dg_sink_file_new(fd, false, path, &sink, &err);
		r |= dg_kdumpflat_new(sink, &k, &err);
		r |= dg_kdumpflat_feed(k, b.p, b.len, &err);
		CHECK(r == 0 && dg_kdumpflat_end(k, &err) == 0, "complete stream accepted (%d: %s)", r, err.message);
		r = dg_kdumpflat_feed(k, "more", 4, &err);
		CHECK(r == -DG_FAILED && strstr(err.message, "data after the end"),
		      "a later feed after the end marker fails (%d: %s)", r, err.message);
		r = dg_kdumpflat_feed(k, "", 0, &err);
		CHECK(r == 0, "an empty feed after the end is harmless (%d)", r);
		dg_kdumpflat_free(k);
		dg_sink_free(sink);
		close(fd);
		unlink(path);
	}

	/* Truncated streams: every feed is fine, the end is not. */
	b.len = 0;
	expect_end_error(&b, "empty stream");
	add_header(&b, "makedumpfile", 1, 1);
	b.len = 100;
	expect_end_error(&b, "partial header");
	b.len = 4096;
	expect_end_error(&b, "header only");
	add_record(&b, &img, 0, d, 200);
	b.len -= 100;
	expect_end_error(&b, "record data cut short");
	b.len += 100;
	add_be64(&b, 4096);
	expect_end_error(&b, "record header cut short");
	b.len = 4096 + 16 + 200;
	add_be64(&b, -1);
	expect_end_error(&b, "end marker cut short");
	add_be64(&b, -1);
	ended = false;
	r = feed_all(&b, true, &ended, &err);
	CHECK(ended && r == 0, "the same stream with its end marker, byte by byte: complete (%d: %s)", r, err.message);

	free(b.p);
	free(img.p);
}

static void test_sinks(void)
{
	char path[512];
	struct dg_sink *sink = NULL;
	struct dg_kdumpflat *k = NULL;
	struct dg_error err;
	unsigned char d[4096];
	struct buf b = { 0 };
	struct image img = { 0 };
	int fd, r;

	/* A pipe cannot be seeked: refused before any data. */
	memset(&err, 0, sizeof(err));
	r = dg_sink_command_new("cat > /dev/null", NULL, 5, NULL, NULL, &sink, &err);
	CHECK(r == 0 && sink, "command sink started (%d: %s)", r, err.message);
	if (sink) {
		CHECK(!dg_sink_seekable(sink), "a command sink is not seekable");
		memset(&err, 0, sizeof(err));
		r = dg_kdumpflat_new(sink, &k, &err);
		CHECK(r == -DG_USAGE && err.status == DG_USAGE && k == NULL,
		      "converter over a command sink: DG_USAGE, no handle (%d)", r);
		CHECK(strstr(err.message, "can only be converted into a file") != NULL, "message: %s", err.message);
		r = dg_sink_finish(sink, &err);
		CHECK(r == 0, "command sink finished (%d)", r);
		dg_sink_free(sink);
		sink = NULL;
	}

	/* A write error of the file sink reaches the caller with its message. */
	fd = new_file("ro.kdump", path, sizeof(path));
	close(fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	memset(&err, 0, sizeof(err));
	r = dg_sink_file_new(fd, false, path, &sink, &err);
	CHECK(r == 0 && dg_sink_seekable(sink), "file sink on a read-only fd, seekable (%d)", r);
	r = dg_kdumpflat_new(sink, &k, &err);
	CHECK(r == 0, "converter (%d)", r);
	add_header(&b, "makedumpfile", 1, 1);
	pattern(d, sizeof(d), 11);
	add_record(&b, &img, 0, d, sizeof(d));
	add_end(&b);
	memset(&err, 0, sizeof(err));
	r = dg_kdumpflat_feed(k, b.p, b.len, &err);
	CHECK(r == -DG_FAILED && err.status == DG_FAILED && err.sys_errno == EBADF &&
		      strstr(err.message, "cannot write the dump to") && strstr(err.message, path),
	      "sink write error passed on: DG_FAILED, EBADF, path named (%d: %s)", r, err.message);
	dg_kdumpflat_free(k);
	dg_sink_free(sink);
	dg_kdumpflat_free(NULL);
	close(fd);
	unlink(path);
	free(b.p);
	free(img.p);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int main(void)
{
	struct buf stream = { 0 };
	struct image img = { 0 };
	size_t data_bytes;
	struct stat st;

	if (!mkdtemp(scratch)) {
		printf("not ok 1 - mkdtemp: %s\n1..1\n", strerror(errno));
		return 1;
	}
	build_stream(&stream, &img, &data_bytes);
	CHECK(img.size == 262144 + 8192, "expected image is %zu bytes", img.size);
	for (int mode = 0; mode < 4; mode++)
		for (int sparse = 1; sparse >= 0; sparse--)
			test_convert(&stream, &img, data_bytes, sparse, mode);
	test_errors();
	test_sinks();
	free(stream.p);
	free(img.p);
	CHECK(nftw(scratch, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) == 0 && lstat(scratch, &st) < 0,
	      "scratch directory removed");
	return tap_done();
}
