/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "diagint/error.h"

/* Guest memory dumps (ELF vmcores from QEMU) made readable by the field's tools, and explained without debug
 * packages. Everything inside a dump is guest-controlled: every offset, size and pointer read from it is
 * bounded before use. */

/* ---- the ELF header, as makedumpfile needs it (vmcore_elfhdr.c) ----
 *
 * QEMU 7.2 writes the section headers right after the ELF header (e_shoff 64), the program headers after them,
 * and e_ehsize 8. makedumpfile reads the program headers at sizeof(Elf64_Ehdr) whatever e_phoff says
 * ("get_elf_info: Can't get the number of PT_LOAD"). The repair swaps the two tables inside the bytes they
 * already occupy (program headers at 64, section headers right after) and sets e_ehsize to 64: no data moves,
 * the file keeps its size, every other tool still reads it. */

#define DG_ELFHDR_MAX (64u * 1024) /* header + tables larger than this are left as they are */

enum dg_elfhdr_result {
	DG_ELFHDR_NEED_MORE = -1, /* give at least *need bytes from the start of the file */
	DG_ELFHDR_UNCHANGED = 0,  /* not an ELF64 core, already fine, or a layout we do not touch */
	DG_ELFHDR_REPAIRED = 1,   /* buf[0..*need) rewritten in place */
};

/* buf holds the first `have` bytes of the file. On NEED_MORE and REPAIRED, *need is the length of the prefix that
 * matters. */
enum dg_elfhdr_result dg_elfhdr_repair(unsigned char *buf, size_t have, size_t *need);

/* The same on a file (a dump libvirt wrote itself, or one from an older diagint): rewrites the header in place.
 * Returns 1 repaired, 0 unchanged, <0 error. */
int dg_elfhdr_repair_fd(int fd, const char *path, struct dg_error *err);

/* Streaming form for the FIFO path: bytes in, (repaired) bytes out through emit, in order. Holds back at most
 * DG_ELFHDR_MAX bytes at the start of the stream. */
typedef int (*dg_elfhdr_emit_fn)(void *userdata, const void *buf, size_t len, struct dg_error *err);
struct dg_elfhdr_stream;
int dg_elfhdr_stream_new(dg_elfhdr_emit_fn emit, void *userdata, struct dg_elfhdr_stream **ret,
			 struct dg_error *err);
int dg_elfhdr_stream_feed(struct dg_elfhdr_stream *s, const void *buf, size_t len, struct dg_error *err);
/* Flushes what is held (a stream shorter than its header passes unchanged). */
int dg_elfhdr_stream_end(struct dg_elfhdr_stream *s, struct dg_error *err);
bool dg_elfhdr_stream_repaired(const struct dg_elfhdr_stream *s);
void dg_elfhdr_stream_free(struct dg_elfhdr_stream *s);
