/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ELF header of QEMU's memory-only dumps, rewritten so makedumpfile reads it (see diagint/vmcore.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diagint/vmcore.h"
#include "capture/vmcore-internal.h"

#define EHDR 64u
#define PHENT 56u
#define SHENT 64u
#define PN_XNUM 0xffffu

enum dg_elfhdr_result dg_elfhdr_repair(unsigned char *buf, size_t have, size_t *need)
{
	uint64_t phoff, shoff, phsize, shsize, end, new_end;
	unsigned phnum, shnum;
	unsigned char *tables;

	if (have < EHDR) {
		*need = EHDR;
		return DG_ELFHDR_NEED_MORE;
	}
	/* ELF64, little-endian, ET_CORE: what QEMU writes for x86-64 guests. Anything else is left alone. */
	if (memcmp(buf, "\177ELF", 4) != 0 || buf[4] != 2 || buf[5] != 1 || dg_le16(buf + 16) != 4)
		return DG_ELFHDR_UNCHANGED;
	phoff = dg_le64(buf + 32);
	shoff = dg_le64(buf + 40);
	phnum = dg_le16(buf + 56);
	shnum = dg_le16(buf + 60);
	if (dg_le16(buf + 54) != PHENT || phnum == 0 || phnum == PN_XNUM)
		return DG_ELFHDR_UNCHANGED;
	if (shnum == 0 && shoff != 0)
		return DG_ELFHDR_UNCHANGED; /* extended section numbering: not QEMU's layout */
	if (shnum > 0 && dg_le16(buf + 58) != SHENT)
		return DG_ELFHDR_UNCHANGED;
	if (phoff == EHDR) {
		/* Program headers where makedumpfile looks; only a wrong header size to mend. */
		if (dg_le16(buf + 52) == EHDR)
			return DG_ELFHDR_UNCHANGED;
		dg_put_le16(buf + 52, EHDR);
		*need = EHDR;
		return DG_ELFHDR_REPAIRED;
	}
	phsize = (uint64_t)phnum * PHENT;
	shsize = (uint64_t)shnum * SHENT;
	/* Both tables inside [64, DG_ELFHDR_MAX), apart from each other. */
	if (phoff < EHDR || phoff > DG_ELFHDR_MAX || phsize > DG_ELFHDR_MAX - phoff)
		return DG_ELFHDR_UNCHANGED;
	end = phoff + phsize;
	if (shnum > 0) {
		if (shoff < EHDR || shoff > DG_ELFHDR_MAX || shsize > DG_ELFHDR_MAX - shoff)
			return DG_ELFHDR_UNCHANGED;
		if (shoff < phoff + phsize && phoff < shoff + shsize)
			return DG_ELFHDR_UNCHANGED;
		if (shoff + shsize > end)
			end = shoff + shsize;
	}
	if (have < end) {
		*need = (size_t)end;
		return DG_ELFHDR_NEED_MORE;
	}
	new_end = EHDR + phsize + shsize;
	/* Nothing the file points at may sit where the tables go. */
	for (unsigned i = 0; i < phnum; i++) {
		const unsigned char *ph = buf + phoff + (uint64_t)i * PHENT;
		if (dg_le64(ph + 32) > 0 && dg_le64(ph + 8) < new_end)
			return DG_ELFHDR_UNCHANGED;
	}
	for (unsigned i = 1; i < shnum; i++) {
		const unsigned char *sh = buf + shoff + (uint64_t)i * SHENT;
		if (dg_le32(sh + 4) != 8 /* SHT_NOBITS */ && dg_le64(sh + 32) > 0 && dg_le64(sh + 24) < new_end)
			return DG_ELFHDR_UNCHANGED;
	}
	tables = malloc((size_t)(phsize + shsize));
	if (!tables)
		return DG_ELFHDR_UNCHANGED;
	memcpy(tables, buf + phoff, (size_t)phsize);
	if (shnum > 0)
		memcpy(tables + phsize, buf + shoff, (size_t)shsize);
	memcpy(buf + EHDR, tables, (size_t)(phsize + shsize));
	free(tables);
	dg_put_le64(buf + 32, EHDR);
	dg_put_le64(buf + 40, shnum > 0 ? EHDR + phsize : 0);
	dg_put_le16(buf + 52, EHDR);
	*need = (size_t)end;
	return DG_ELFHDR_REPAIRED;
}

int dg_elfhdr_repair_fd(int fd, const char *path, struct dg_error *err)
{
	unsigned char *buf = malloc(DG_ELFHDR_MAX);
	size_t have = 0, need = 0;
	enum dg_elfhdr_result res;
	int r = 0;

	if (!buf)
		return dg_error_set(err, DG_FAILED, "out of memory");
	while (have < DG_ELFHDR_MAX) {
		ssize_t n = pread(fd, buf + have, DG_ELFHDR_MAX - have, (off_t)have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = dg_error_set_errno(err, DG_FAILED, errno, "cannot read the ELF header of %s", path);
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	res = dg_elfhdr_repair(buf, have, &need);
	if (res != DG_ELFHDR_REPAIRED)
		goto out;
	for (size_t done = 0; done < need;) {
		ssize_t n = pwrite(fd, buf + done, need - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = dg_error_set_errno(err, DG_FAILED, errno, "cannot rewrite the ELF header of %s", path);
			goto out;
		}
		done += (size_t)n;
	}
	if (fsync(fd) < 0) {
		r = dg_error_set_errno(err, DG_FAILED, errno, "cannot flush %s to disk", path);
		goto out;
	}
	r = 1;
out:
	free(buf);
	return r;
}

#define NOTE_RANGES 8

struct dg_elfhdr_stream {
	dg_elfhdr_emit_fn emit;
	void *userdata;
	unsigned char *hold;
	size_t held;
	bool passing;
	bool repaired;
	/* the PT_NOTE segments, collected as they pass (dg_elfhdr_stream_notes) */
	uint64_t pos;
	unsigned nranges;
	struct {
		uint64_t off, len, at; /* file offset, length, where in notes */
	} range[NOTE_RANGES];
	unsigned char *notes;
	size_t notes_len, notes_got;
};

/* Where the notes are, from the header as it goes out (repaired or not). Hostile values only cost a smaller
 * capture: each range and the total are bounded, and nothing is read from buf past `have`. */
static void plan_notes(struct dg_elfhdr_stream *s, const unsigned char *buf, size_t have)
{
	uint64_t phoff, total = 0;
	unsigned phnum;

	if (have < EHDR || memcmp(buf, "\177ELF", 4) != 0 || buf[4] != 2 || buf[5] != 1 || dg_le16(buf + 54) != PHENT)
		return;
	phoff = dg_le64(buf + 32);
	phnum = dg_le16(buf + 56);
	if (phoff > have || (uint64_t)phnum * PHENT > have - phoff)
		return;
	for (unsigned i = 0; i < phnum && s->nranges < NOTE_RANGES; i++) {
		const unsigned char *ph = buf + phoff + (uint64_t)i * PHENT;
		uint64_t off = dg_le64(ph + 8), len = dg_le64(ph + 32);
		if (dg_le32(ph) != 4 || len == 0 || len > DG_VMCORE_NOTES_MAX - total || off > UINT64_MAX - len)
			continue;
		s->range[s->nranges].off = off;
		s->range[s->nranges].len = len;
		s->range[s->nranges].at = total;
		s->nranges++;
		total += len;
	}
	if (total && (s->notes = malloc((size_t)total)))
		s->notes_len = (size_t)total;
	else
		s->nranges = 0;
}

static int pass(struct dg_elfhdr_stream *s, const unsigned char *p, size_t len, struct dg_error *err)
{
	for (unsigned i = 0; i < s->nranges; i++) {
		uint64_t a = s->range[i].off, b = a + s->range[i].len;
		uint64_t lo = a > s->pos ? a : s->pos, hi = b < s->pos + len ? b : s->pos + len;
		if (lo < hi) {
			memcpy(s->notes + s->range[i].at + (lo - a), p + (lo - s->pos), (size_t)(hi - lo));
			s->notes_got += (size_t)(hi - lo);
		}
	}
	s->pos += len;
	return len ? s->emit(s->userdata, p, len, err) : 0;
}

int dg_elfhdr_stream_new(dg_elfhdr_emit_fn emit, void *userdata, struct dg_elfhdr_stream **ret,
			 struct dg_error *err)
{
	struct dg_elfhdr_stream *s = calloc(1, sizeof(*s));

	if (s)
		s->hold = malloc(DG_ELFHDR_MAX);
	if (!s || !s->hold) {
		free(s);
		return dg_error_set(err, DG_FAILED, "out of memory");
	}
	s->emit = emit;
	s->userdata = userdata;
	*ret = s;
	return 0;
}

static int release(struct dg_elfhdr_stream *s, struct dg_error *err)
{
	int r = 0;

	s->passing = true;
	plan_notes(s, s->hold, s->held);
	if (s->held)
		r = pass(s, s->hold, s->held, err);
	s->held = 0;
	return r;
}

int dg_elfhdr_stream_feed(struct dg_elfhdr_stream *s, const void *buf, size_t len, struct dg_error *err)
{
	const unsigned char *p = buf;
	size_t take, need = 0;
	enum dg_elfhdr_result res;
	int r;

	if (s->passing)
		return pass(s, buf, len, err);
	take = DG_ELFHDR_MAX - s->held;
	if (take > len)
		take = len;
	memcpy(s->hold + s->held, p, take);
	s->held += take;
	res = dg_elfhdr_repair(s->hold, s->held, &need);
	if (res == DG_ELFHDR_NEED_MORE && need <= DG_ELFHDR_MAX && s->held < need)
		return 0; /* all of buf is held (take == len: held < need <= MAX) */
	if (res == DG_ELFHDR_REPAIRED)
		s->repaired = true;
	r = release(s, err);
	if (r < 0 || take == len)
		return r;
	return pass(s, p + take, len - take, err);
}

int dg_elfhdr_stream_end(struct dg_elfhdr_stream *s, struct dg_error *err)
{
	return s->passing ? 0 : release(s, err);
}

bool dg_elfhdr_stream_repaired(const struct dg_elfhdr_stream *s)
{
	return s->repaired;
}

const unsigned char *dg_elfhdr_stream_notes(const struct dg_elfhdr_stream *s, size_t *len)
{
	/* ranges never overlap in what they count only if the header is sane: complete means every byte came */
	if (!s->notes || s->notes_got != s->notes_len)
		return NULL;
	*len = s->notes_len;
	return s->notes;
}

void dg_elfhdr_stream_free(struct dg_elfhdr_stream *s)
{
	if (!s)
		return;
	free(s->notes);
	free(s->hold);
	free(s);
}
