/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer harness for the vmcore readers (everything in a dump is the guest's). Input: a little-endian u16
 * length, that many bytes of ELF notes (VMCOREINFO, NT_PRSTATUS), then guest kernel memory mapped at
 * 0xffffffff81000000; the whole input is also an ELF header for the repair, whole and streamed. Build:
 * CC=clang meson setup build-fuzz -Dfuzz=true, then
 * build-fuzz/tests/fuzz/fuzz_vmcore tests/fuzz/corpus/vmcore -max_total_time=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diagint/buf.h"
#include "diagint/vmcore.h"

#define BASE 0xffffffff81000000ull

struct mem {
	const uint8_t *p;
	size_t len;
};

static int mem_read(void *ud, uint64_t addr, void *buf, size_t len)
{
	const struct mem *m = ud;

	if (addr < BASE || addr - BASE > m->len || len > m->len - (addr - BASE))
		return -1;
	memcpy(buf, m->p + (addr - BASE), len);
	return 0;
}

static int sink(void *ud, const void *buf, size_t len, struct dg_error *err)
{
	(void)ud;
	(void)buf;
	(void)len;
	(void)err;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_vmcore_notes n;
	struct dg_kallsyms *ks = NULL;
	struct dg_buf log = DG_BUF_INIT;
	struct dg_elfhdr_stream *s = NULL;
	struct mem m;
	unsigned char *copy;
	char out[128], panic[128];
	size_t nlen, need = 0;

	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	dg_elfhdr_repair(copy, size, &need);
	free(copy);
	if (dg_elfhdr_stream_new(sink, NULL, &s, NULL) == 0) {
		for (size_t off = 0; off < size; off += 7)
			dg_elfhdr_stream_feed(s, data + off, size - off < 7 ? size - off : 7, NULL);
		dg_elfhdr_stream_end(s, NULL);
		dg_elfhdr_stream_notes(s, &nlen);
		dg_elfhdr_stream_free(s);
	}
	if (size < 2)
		return 0;
	nlen = (size_t)(data[0] | (data[1] << 8));
	if (nlen > size - 2)
		nlen = size - 2;
	dg_vmcore_parse_notes(data + 2, nlen, &n);
	m.p = data + 2 + nlen;
	m.len = size - 2 - nlen;
	if (dg_kallsyms_load(&n, mem_read, &m, &ks, NULL) == 0) {
		for (unsigned i = 0; i < n.ncpus && i < DG_VMCORE_CPUS_MAX; i++)
			dg_kallsyms_lookup(ks, n.cpu[i].ip, out, sizeof(out));
		dg_kallsyms_lookup(ks, BASE + 0x10, out, sizeof(out));
		dg_kallsyms_free(ks);
	}
	dg_printk_read(&n, mem_read, &m, &log, NULL, panic, sizeof(panic), NULL);
	dg_buf_free(&log);
	return 0;
}
