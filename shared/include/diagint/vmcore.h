/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "diagint/error.h"
#include "diagint/log.h"

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
/* The PT_NOTE segments as they went by (at most DG_VMCORE_NOTES_MAX bytes), NULL unless all of them came. */
const unsigned char *dg_elfhdr_stream_notes(const struct dg_elfhdr_stream *s, size_t *len);
void dg_elfhdr_stream_free(struct dg_elfhdr_stream *s);

/* ---- the notes: VMCOREINFO and each vCPU's registers (vmcore_notes.c) ---- */

#define DG_VMCORE_CPUS_MAX 64 /* registers kept for this many vCPUs; the count covers all */
#define DG_VMCORE_NOTES_MAX (16u << 20)

struct dg_vmcore_regs {
	uint64_t ip;
	uint64_t sp;
};

struct dg_vmcore_notes {
	const char *vmcoreinfo; /* into the parsed buffer, not NUL-terminated; NULL when the dump has none */
	size_t vmcoreinfo_len;
	unsigned ncpus; /* NT_PRSTATUS notes (x86-64 layout) */
	struct dg_vmcore_regs cpu[DG_VMCORE_CPUS_MAX];
};

/* buf: the contents of the PT_NOTE segments. Malformed notes end the walk; what was read before stays. */
void dg_vmcore_parse_notes(const unsigned char *buf, size_t len, struct dg_vmcore_notes *ret);
/* The value of VMCOREINFO line KEY=VALUE, copied (truncated) into out. */
bool dg_vmcoreinfo_str(const struct dg_vmcore_notes *n, const char *key, char *out, size_t outlen);
/* Numbers: SYMBOL(...) and KERNELOFFSET are hex, SIZE/OFFSET/LENGTH/NUMBER decimal (NUMBER may be negative). */
bool dg_vmcoreinfo_hex(const struct dg_vmcore_notes *n, const char *key, uint64_t *ret);
bool dg_vmcoreinfo_dec(const struct dg_vmcore_notes *n, const char *key, int64_t *ret);

/* Guest kernel memory by virtual address: 0 when all len bytes were read. */
typedef int (*dg_vmcore_read_fn)(void *userdata, uint64_t kvaddr, void *buf, size_t len);

/* ---- symbols from the kallsyms tables in the dump (vmcore_kallsyms.c) ---- */
struct dg_kallsyms;
int dg_kallsyms_load(const struct dg_vmcore_notes *n, dg_vmcore_read_fn rd, void *ud, struct dg_kallsyms **ret,
		     struct dg_error *err);
/* "function+0xoff" for an address in kernel text (the core kernel's text symbols), else "" and false. */
bool dg_kallsyms_lookup(const struct dg_kallsyms *ks, uint64_t addr, char *out, size_t outlen);
unsigned dg_kallsyms_count(const struct dg_kallsyms *ks);
void dg_kallsyms_free(struct dg_kallsyms *ks);

/* ---- the kernel log from the printk ring buffer (vmcore_printk.c) ---- */
struct dg_buf;
/* Appends the log to out as makedumpfile --dump-dmesg writes it ("[%5llu.%06lu] text", continuation lines
 * indented, unprintable bytes as \xNN). panic: the last "Kernel panic - not syncing" message, "" when none. */
int dg_printk_read(const struct dg_vmcore_notes *n, dg_vmcore_read_fn rd, void *ud, struct dg_buf *out,
		   unsigned *ret_records, char *panic, size_t panic_len, struct dg_error *err);

/* ---- a dump file explained (vmcore_analyze.c) ---- */

struct dg_vmcore_cpu {
	unsigned cpu;
	uint64_t ip;
	uint64_t sp;
	char symbol[128]; /* "function+0xoff", "" outside kernel text */
};

struct dg_vmcore_kernel {
	bool analyzed; /* the dump had VMCOREINFO: the sidecar gets a `kernel` object */
	bool notes_only; /* from a stream: no log, no panic line, no symbols (null in JSON) */
	char release[65];
	char build_id[129];
	char panic[512];
	char log_file[512]; /* NAME.gcore.dmesg, "" when the log could not be read */
	uint64_t kernel_offset;
	unsigned log_records;
	unsigned ncpus;       /* entries in cpus */
	unsigned ncpus_total; /* NT_PRSTATUS notes in the dump (more than DG_VMCORE_CPUS_MAX: the rest left out) */
	struct dg_vmcore_cpu cpus[DG_VMCORE_CPUS_MAX];
	double ms;
};

/* Reads the dump open on fd: ELF (our notes parser), or a kdump-compressed file (its headers through
 * libkdumpfile; the library's context is then not freed, see vmcore_analyze.c: for one-shot processes only). Without VMCOREINFO: -DG_NOTFOUND and a message saying how to enable it. When
 * only parts fail (the log, the symbols), k->analyzed is set, what worked is filled in, and the first problem is
 * returned as -DG_FAILED for a note. log (may be NULL) receives the kernel log. */
int dg_vmcore_analyze_fd(int fd, const char *path, struct dg_vmcore_kernel *k, struct dg_buf *log,
			 struct dg_error *err);
json_object *dg_vmcore_kernel_to_json(const struct dg_vmcore_kernel *k);
/* The part one pass over a stream allows (a |COMMAND destination): release, build id, KASLR offset, registers.
 * False (and k->analyzed false) without VMCOREINFO. */
bool dg_vmcore_kernel_from_notes(const struct dg_vmcore_notes *n, struct dg_vmcore_kernel *k);
/* For records: the message for a dump without VMCOREINFO. */
extern const char dg_vmcore_no_vmcoreinfo[];

/* After a capture into a directory: analyze rec->path, write the kernel log beside it (NAME.gcore.dmesg, 0600),
 * fill rec->kernel, and note in rec what could not be done (no VMCOREINFO: how to enable it). Never fails the
 * capture: the dump is what matters. */
struct dg_dumpdir;
struct dg_dump_record;
void dg_vmcore_explain(struct dg_dumpdir *dir, struct dg_dump_record *rec, dg_log_fn log, void *log_userdata);
/* After a capture into a |COMMAND: what the notes tell (dg_vmcore_kernel_from_notes) into rec->kernel, and a note
 * saying what one pass could not give. notes may be NULL (they did not all come through). */
void dg_vmcore_explain_notes(const unsigned char *notes, size_t len, struct dg_dump_record *rec);

/* ---- smaller dumps the standard way (vmcore_shrink.c) ----
 * makedumpfile (niced, with a timeout) writes a filtered, compressed kdump file from an ELF dump in a dump
 * directory: NAME.gcore -> NAME.kdump beside it. The new file must open in makedumpfile again (its kernel log is
 * read back and, when NAME.gcore.dmesg exists, must equal it) before anything is replaced; then the sidecar moves
 * to NAME.kdump.json with the new size and SHA-256 and a `shrink` object (what it came from, dump level,
 * compression), the kernel log to NAME.kdump.dmesg, and the ELF is removed. */
struct dg_shrink_opts {
	int dump_level;          /* makedumpfile -d; 0: 31 (zero, cache, private cache, user, free pages); -1: 0 */
	const char *compression; /* "zlib" (-c, default) or "lzo" (-l) */
	double timeout;          /* seconds; 0: 3600 */
	const char *makedumpfile; /* NULL: "makedumpfile" from PATH */
};

struct dg_shrink_result {
	char name[256];      /* NAME.kdump */
	char path[4096];
	char sha256[65];
	uint64_t size_before, size_after, allocated_before, allocated_after;
	double seconds;
};

int dg_vmcore_shrink(struct dg_dumpdir *dir, const char *name, const struct dg_shrink_opts *o,
		     struct dg_shrink_result *ret, struct dg_error *err);
