/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A guest dump explained without debug packages: release and build id, the panic line, the kernel log and where
 * each vCPU was, from VMCOREINFO, the NT_PRSTATUS notes and the kernel's own tables in the dump.
 *
 * Kernel virtual addresses are translated by libaddrxlat through libkdumpfile (Debian: libkdumpfile-dev), which
 * walks the guest's page tables from VMCOREINFO's init_top_pgt / phys_base / KERNELOFFSET: the direct map (where
 * a large printk buffer lives) moves under KASLR and is not described by any VMCOREINFO number, so a hand-written
 * "vaddr - __START_KERNEL_map + phys_base" would only cover the kernel image. The notes are parsed here (bounded,
 * unit-tested, also usable on a stream), the printk ring and kallsyms decoding too (libkdumpfile has neither). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libkdumpfile/kdumpfile.h>

#include "diagint/buf.h"
#include "diagint/clock.h"
#include "diagint/vmcore.h"
#include "capture/vmcore-internal.h"

const char dg_vmcore_no_vmcoreinfo[] =
	"no VMCOREINFO in the dump, so no kernel log, panic line or symbols without the guest's debug vmlinux: enable "
	"it with <features><vmcoreinfo state='on'/></features> in the domain and the guest's qemu_fw_cfg module";

/* The PT_NOTE segments, concatenated (bounded). */
static int read_notes(int fd, const char *path, unsigned char **ret, size_t *ret_len, struct dg_error *err)
{
	unsigned char eh[64], *ph = NULL, *notes = NULL;
	uint64_t phoff;
	unsigned phnum;
	size_t len = 0;
	int r = 0;

	if (pread(fd, eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) || memcmp(eh, "\177ELF", 4) || eh[4] != 2 || eh[5] != 1)
		return dg_error_set(err, DG_FAILED, "%s is not a little-endian ELF64 dump", path);
	phoff = dg_le64(eh + 32);
	phnum = dg_le16(eh + 56);
	if (dg_le16(eh + 54) != 56 || phnum == 0 || phnum == 0xffff || phoff > DG_ELFHDR_MAX * 16)
		return dg_error_set(err, DG_FAILED, "%s has no program headers diagint can read", path);
	ph = malloc((size_t)phnum * 56);
	if (!ph)
		return dg_error_set(err, DG_FAILED, "out of memory");
	if (pread(fd, ph, (size_t)phnum * 56, (off_t)phoff) != (ssize_t)phnum * 56) {
		r = dg_error_set(err, DG_FAILED, "cannot read the program headers of %s", path);
		goto out;
	}
	for (unsigned i = 0; i < phnum; i++) {
		const unsigned char *p = ph + (size_t)i * 56;
		uint64_t off = dg_le64(p + 8), sz = dg_le64(p + 32);
		unsigned char *grown;
		if (dg_le32(p) != 4 /* PT_NOTE */ || sz == 0)
			continue;
		if (sz > DG_VMCORE_NOTES_MAX - len) {
			r = dg_error_set(err, DG_FAILED, "the notes of %s are larger than %u MiB", path,
					 DG_VMCORE_NOTES_MAX >> 20);
			goto out;
		}
		grown = realloc(notes, len + (size_t)sz);
		if (!grown) {
			r = dg_error_set(err, DG_FAILED, "out of memory");
			goto out;
		}
		notes = grown;
		if (pread(fd, notes + len, (size_t)sz, (off_t)off) != (ssize_t)sz) {
			r = dg_error_set(err, DG_FAILED, "cannot read the notes of %s", path);
			goto out;
		}
		len += (size_t)sz;
	}
	*ret = notes;
	*ret_len = len;
	notes = NULL;
out:
	free(ph);
	free(notes);
	return r;
}

static int kd_read(void *ud, uint64_t addr, void *buf, size_t len)
{
	kdump_ctx_t *ctx = ud;
	size_t got = len;

	return kdump_read(ctx, KDUMP_KVADDR, addr, buf, &got) == KDUMP_OK && got == len ? 0 : -1;
}

static bool is_elf(int fd)
{
	unsigned char m[4];

	return pread(fd, m, 4, 0) == 4 && !memcmp(m, "\177ELF", 4);
}

/* VMCOREINFO and registers as libkdumpfile read them from a kdump-compressed file's headers. */
static void kdump_notes(kdump_ctx_t *ctx, struct dg_vmcore_notes *n, char **raw)
{
	kdump_num_t ncpus = 0;

	memset(n, 0, sizeof(*n));
	if (kdump_vmcoreinfo_raw(ctx, raw) == KDUMP_OK && *raw) {
		n->vmcoreinfo = *raw;
		n->vmcoreinfo_len = strnlen(*raw, DG_VMCORE_NOTES_MAX);
	}
	if (kdump_get_number_attr(ctx, KDUMP_ATTR_NUM_CPUS, &ncpus) != KDUMP_OK)
		return;
	n->ncpus = ncpus > 65536 ? 65536 : (unsigned)ncpus;
	for (unsigned i = 0; i < n->ncpus && i < DG_VMCORE_CPUS_MAX; i++) {
		char key[64];
		kdump_num_t v = 0;
		snprintf(key, sizeof(key), "cpu.%u.reg.rip", i);
		if (kdump_get_number_attr(ctx, key, &v) == KDUMP_OK)
			n->cpu[i].ip = v;
		snprintf(key, sizeof(key), "cpu.%u.reg.rsp", i);
		if (kdump_get_number_attr(ctx, key, &v) == KDUMP_OK)
			n->cpu[i].sp = v;
	}
}

static void keep_first(struct dg_error *first, const struct dg_error *e)
{
	if (first && !first->status)
		*first = *e;
}

int dg_vmcore_analyze_fd(int fd, const char *path, struct dg_vmcore_kernel *k, struct dg_buf *log,
			 struct dg_error *err)
{
	struct dg_vmcore_notes *n = NULL;
	struct dg_kallsyms *ks = NULL;
	struct dg_buf own = DG_BUF_INIT;
	struct dg_error e = { 0 }, first = { 0 };
	unsigned char *notes = NULL;
	char *raw = NULL, xlat_err[256] = "";
	bool elf = true;
	kdump_status xlat;
	size_t notes_len = 0;
	kdump_ctx_t *ctx = NULL;
	double t0 = dg_clock_mono();
	int r = 0;

	memset(k, 0, sizeof(*k));
	n = malloc(sizeof(*n));
	ctx = kdump_new();
	if (!n || !ctx) {
		r = dg_error_set(err, DG_FAILED, "out of memory");
		goto out;
	}
	elf = is_elf(fd);
	/* QEMU's kdump files leave utsname.machine empty: without an architecture (known before the headers are
	 * read) libkdumpfile neither parses the registers nor translates addresses. x86-64 is all we read anyway. */
	if (!elf)
		kdump_set_string_attr(ctx, KDUMP_ATTR_ARCH_NAME, "x86_64");
	if (kdump_open_fd(ctx, fd) != KDUMP_OK) {
		r = dg_error_set(err, DG_FAILED, "libkdumpfile cannot read %s: %s", path, kdump_get_err(ctx));
		goto out;
	}
	/* Linux address translation (and, for kdump files, VMCOREINFO itself) comes with the OS type. */
	xlat = kdump_set_string_attr(ctx, KDUMP_ATTR_OSTYPE, "linux");
	if (xlat != KDUMP_OK)
		snprintf(xlat_err, sizeof(xlat_err), "%s", kdump_get_err(ctx));
	if (elf) {
		/* ELF: the notes are ours to parse (bounded; the same parser as for streams) */
		r = read_notes(fd, path, &notes, &notes_len, err);
		if (r < 0)
			goto out;
		dg_vmcore_parse_notes(notes, notes_len, n);
	} else {
		/* a kdump-compressed file (kdump-zlib captures, dumps shrink): libkdumpfile has read its header */
		kdump_notes(ctx, n, &raw);
	}
	if (!n->vmcoreinfo) {
		r = dg_error_set(err, DG_NOTFOUND, "%s", dg_vmcore_no_vmcoreinfo);
		goto out;
	}
	dg_vmcore_kernel_from_notes(n, k);
	k->notes_only = false;
	if (xlat != KDUMP_OK) {
		r = dg_error_set(err, DG_FAILED, "libkdumpfile cannot translate the kernel's addresses in %s: %s", path,
				 xlat_err);
		goto out;
	}
	if (dg_printk_read(n, kd_read, ctx, log ? log : &own, &k->log_records, k->panic, sizeof(k->panic), &e) < 0)
		keep_first(&first, &e);
	if (dg_kallsyms_load(n, kd_read, ctx, &ks, &e) < 0)
		keep_first(&first, &e);
	else
		for (unsigned i = 0; i < k->ncpus; i++)
			dg_kallsyms_lookup(ks, k->cpus[i].ip, k->cpus[i].symbol, sizeof(k->cpus[i].symbol));
	if (first.status)
		r = dg_error_set(err, DG_FAILED, "%s", first.message);
out:
	k->ms = (dg_clock_mono() - t0) * 1e3;
	/* libkdumpfile 0.5.1 reads freed memory in kdump_free() for kdump-compressed files (valgrind: invalid reads
	 * and writes inside kdump_free, whatever was read before; a crash under MALLOC_PERTURB_). Captures are only
	 * analyzed as ELF (dg_vmcore_explain); a kdump file is analyzed by `diagint dumps show`, a process that
	 * ends right after, so its context is left to the exit. */
	if (ctx && elf)
		kdump_free(ctx);
	dg_kallsyms_free(ks);
	dg_buf_free(&own);
	free(n);
	free(notes);
	free(raw);
	return r;
}

bool dg_vmcore_kernel_from_notes(const struct dg_vmcore_notes *n, struct dg_vmcore_kernel *k)
{
	memset(k, 0, sizeof(*k));
	if (!n->vmcoreinfo)
		return false;
	k->analyzed = true;
	k->notes_only = true;
	dg_vmcoreinfo_str(n, "OSRELEASE", k->release, sizeof(k->release));
	dg_vmcoreinfo_str(n, "BUILD-ID", k->build_id, sizeof(k->build_id));
	dg_vmcoreinfo_hex(n, "KERNELOFFSET", &k->kernel_offset);
	k->ncpus_total = n->ncpus;
	k->ncpus = n->ncpus < DG_VMCORE_CPUS_MAX ? n->ncpus : DG_VMCORE_CPUS_MAX;
	for (unsigned i = 0; i < k->ncpus; i++) {
		k->cpus[i].cpu = i;
		k->cpus[i].ip = n->cpu[i].ip;
		k->cpus[i].sp = n->cpu[i].sp;
	}
	return true;
}

static json_object *str_or_null(const char *s)
{
	return s[0] ? json_object_new_string(s) : NULL;
}

json_object *dg_vmcore_kernel_to_json(const struct dg_vmcore_kernel *k)
{
	json_object *o = json_object_new_object(), *cpus = json_object_new_array();
	char hex[24];

	json_object_object_add(o, "release", str_or_null(k->release));
	json_object_object_add(o, "build_id", str_or_null(k->build_id));
	json_object_object_add(o, "panic", str_or_null(k->panic));
	json_object_object_add(o, "log_file", str_or_null(k->log_file));
	json_object_object_add(o, "log_records", k->notes_only ? NULL : json_object_new_int64(k->log_records));
	snprintf(hex, sizeof(hex), "0x%llx", (unsigned long long)k->kernel_offset);
	json_object_object_add(o, "kernel_offset", json_object_new_string(hex));
	for (unsigned i = 0; i < k->ncpus; i++) {
		json_object *c = json_object_new_object();
		json_object_object_add(c, "cpu", json_object_new_int64(k->cpus[i].cpu));
		snprintf(hex, sizeof(hex), "0x%016llx", (unsigned long long)k->cpus[i].ip);
		json_object_object_add(c, "ip", json_object_new_string(hex));
		snprintf(hex, sizeof(hex), "0x%016llx", (unsigned long long)k->cpus[i].sp);
		json_object_object_add(c, "sp", json_object_new_string(hex));
		json_object_object_add(c, "symbol", k->notes_only ? NULL : json_object_new_string(k->cpus[i].symbol));
		json_object_array_add(cpus, c);
	}
	json_object_object_add(o, "cpus", cpus);
	json_object_object_add(o, "notes_only", json_object_new_boolean(k->notes_only));
	json_object_object_add(o, "analysis_ms", json_object_new_double(k->ms));
	return o;
}
