/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest kernel's own symbol table (kallsyms), read from the dump through the addresses VMCOREINFO gives:
 * names without any debug package. Layout as scripts/kallsyms writes it (base-relative offsets since 4.6, with
 * absolute per-CPU symbols on x86-64 SMP; absolute addresses before): names are length-prefixed strings of token
 * numbers, each token a NUL-terminated string in kallsyms_token_table at kallsyms_token_index[token]; the first
 * character of a name is its type ('T'/'t' text). All of it is guest data: sizes are bounded, indexes checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagint/vmcore.h"
#include "capture/vmcore-internal.h"

#define SYMS_MAX (1u << 22)
#define NAMES_MAX (64u << 20)
#define TOKENS_MAX (64u << 10)

struct dg_kallsyms {
	unsigned n;
	uint64_t *addr;     /* per symbol */
	uint32_t *name_off; /* into names */
	unsigned char *names;
	size_t names_len;
	unsigned char *tokens;
	size_t tokens_len;
	uint16_t token_index[256];
};

void dg_kallsyms_free(struct dg_kallsyms *ks)
{
	if (!ks)
		return;
	free(ks->addr);
	free(ks->name_off);
	free(ks->names);
	free(ks->tokens);
	free(ks);
}

unsigned dg_kallsyms_count(const struct dg_kallsyms *ks)
{
	return ks ? ks->n : 0;
}

static int fail(struct dg_error *err, const char *what)
{
	return dg_error_set(err, DG_FAILED, "kallsyms: %s", what);
}

/* Expand name i into out ("" when it cannot be decoded). type gets the type character. */
static bool expand(const struct dg_kallsyms *ks, unsigned i, char *type, char *out, size_t outlen)
{
	size_t off = ks->name_off[i], len, o = 0;
	bool first = true;

	out[0] = '\0';
	*type = '?';
	if (off >= ks->names_len)
		return false;
	len = ks->names[off++];
	if (len & 0x80) { /* two-byte length (6.1+: names longer than 127 tokens) */
		if (off >= ks->names_len)
			return false;
		len = (len & 0x7f) | ((size_t)ks->names[off++] << 7);
	}
	if (len > ks->names_len - off)
		return false;
	for (size_t t = 0; t < len; t++) {
		size_t at = ks->token_index[ks->names[off + t]];
		while (at < ks->tokens_len && ks->tokens[at]) {
			char c = (char)ks->tokens[at++];
			if (first) {
				*type = c;
				first = false;
			} else if (o + 1 < outlen) {
				out[o++] = c;
			}
		}
	}
	out[o] = '\0';
	return true;
}

int dg_kallsyms_load(const struct dg_vmcore_notes *n, dg_vmcore_read_fn rd, void *ud, struct dg_kallsyms **ret,
		     struct dg_error *err)
{
	uint64_t a_num, a_names, a_ttab, a_tidx, a_offs = 0, a_base = 0, a_addrs = 0, base = 0, num = 0;
	bool relative;
	struct dg_kallsyms *ks = NULL;
	unsigned char *raw = NULL;
	int r = 0;

	if (!dg_vmcoreinfo_hex(n, "SYMBOL(kallsyms_num_syms)", &a_num) ||
	    !dg_vmcoreinfo_hex(n, "SYMBOL(kallsyms_names)", &a_names) ||
	    !dg_vmcoreinfo_hex(n, "SYMBOL(kallsyms_token_table)", &a_ttab) ||
	    !dg_vmcoreinfo_hex(n, "SYMBOL(kallsyms_token_index)", &a_tidx))
		return fail(err, "VMCOREINFO does not locate the tables (a kernel before 6.0 or without "
			    "CONFIG_KALLSYMS)");
	relative = dg_vmcoreinfo_hex(n, "SYMBOL(kallsyms_offsets)", &a_offs) &&
		   dg_vmcoreinfo_hex(n, "SYMBOL(kallsyms_relative_base)", &a_base);
	if (!relative && !dg_vmcoreinfo_hex(n, "SYMBOL(kallsyms_addresses)", &a_addrs))
		return fail(err, "VMCOREINFO has neither kallsyms_offsets nor kallsyms_addresses");
	ks = calloc(1, sizeof(*ks));
	if (!ks)
		return fail(err, "out of memory");
	/* kallsyms_num_syms is an unsigned int (older kernels: unsigned long, little-endian: same low half) */
	{
		unsigned char b[4];
		if (rd(ud, a_num, b, 4) < 0) {
			r = fail(err, "cannot read kallsyms_num_syms");
			goto out;
		}
		num = dg_le32(b);
	}
	if (num == 0 || num > SYMS_MAX) {
		r = fail(err, "implausible symbol count");
		goto out;
	}
	ks->n = (unsigned)num;
	ks->addr = calloc(num, sizeof(*ks->addr));
	ks->name_off = calloc(num, sizeof(*ks->name_off));
	raw = malloc(num * 8);
	if (!ks->addr || !ks->name_off || !raw) {
		r = fail(err, "out of memory");
		goto out;
	}
	if (relative) {
		unsigned char b[8];
		bool percpu = false;
		if (rd(ud, a_base, b, 8) < 0 || rd(ud, a_offs, raw, num * 4) < 0) {
			r = fail(err, "cannot read kallsyms_offsets");
			goto out;
		}
		base = dg_le64(b);
		/* With absolute per-CPU symbols, kernel addresses are stored as negative values. */
		for (uint64_t i = 0; i < num && !percpu; i++)
			percpu = (int32_t)dg_le32(raw + 4 * i) < 0;
		for (uint64_t i = 0; i < num; i++) {
			int32_t v = (int32_t)dg_le32(raw + 4 * i);
			if (!percpu)
				ks->addr[i] = base + (uint32_t)v;
			else if (v >= 0)
				ks->addr[i] = (uint64_t)v;
			else
				ks->addr[i] = base - 1 - (uint64_t)(int64_t)v;
		}
	} else {
		if (rd(ud, a_addrs, raw, num * 8) < 0) {
			r = fail(err, "cannot read kallsyms_addresses");
			goto out;
		}
		for (uint64_t i = 0; i < num; i++)
			ks->addr[i] = dg_le64(raw + 8 * i);
	}
	/* The name stream ends before the token table (kallsyms_markers sits between). */
	if (a_ttab <= a_names || a_ttab - a_names > NAMES_MAX || a_tidx <= a_ttab || a_tidx - a_ttab > TOKENS_MAX) {
		r = fail(err, "tables out of their usual order");
		goto out;
	}
	ks->names_len = (size_t)(a_ttab - a_names);
	ks->tokens_len = (size_t)(a_tidx - a_ttab);
	ks->names = malloc(ks->names_len);
	ks->tokens = malloc(ks->tokens_len);
	if (!ks->names || !ks->tokens) {
		r = fail(err, "out of memory");
		goto out;
	}
	{
		unsigned char idx[512];
		if (rd(ud, a_names, ks->names, ks->names_len) < 0 || rd(ud, a_ttab, ks->tokens, ks->tokens_len) < 0 ||
		    rd(ud, a_tidx, idx, sizeof(idx)) < 0) {
			r = fail(err, "cannot read the name tables");
			goto out;
		}
		for (int i = 0; i < 256; i++)
			ks->token_index[i] = dg_le16(idx + 2 * i);
	}
	{
		size_t off = 0;
		for (unsigned i = 0; i < ks->n; i++) {
			size_t len;
			if (off >= ks->names_len) {
				r = fail(err, "names end early");
				goto out;
			}
			ks->name_off[i] = (uint32_t)off;
			len = ks->names[off++];
			if ((len & 0x80) && off < ks->names_len)
				len = (len & 0x7f) | ((size_t)ks->names[off++] << 7);
			off += len;
		}
	}
	*ret = ks;
	ks = NULL;
out:
	free(raw);
	dg_kallsyms_free(ks);
	return r;
}

bool dg_kallsyms_lookup(const struct dg_kallsyms *ks, uint64_t addr, char *out, size_t outlen)
{
	unsigned lo = 0, hi, best;
	char type, name[256];

	if (outlen)
		out[0] = '\0';
	if (!ks || !ks->n || outlen == 0)
		return false;
	/* The last symbol at or below addr (the table is sorted by address; a hostile one only gives a wrong name). */
	hi = ks->n;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (ks->addr[mid] <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return false;
	best = lo - 1;
	/* Aliases share an address: take the first text name there. */
	while (best > 0 && ks->addr[best - 1] == ks->addr[best])
		best--;
	for (unsigned i = best; i < ks->n && ks->addr[i] == ks->addr[lo - 1]; i++) {
		if (!expand(ks, i, &type, name, sizeof(name)))
			return false;
		if (type == 'T' || type == 't' || type == 'W' || type == 'w') {
			/* Past the end of kernel text (a module, the direct map) the nearest symbol is not the function:
			 * the next symbol's address bounds it, and the last symbols are _etext/_end markers. */
			if (lo >= ks->n)
				return false;
			snprintf(out, outlen, "%s+0x%llx", name, (unsigned long long)(addr - ks->addr[i]));
			return true;
		}
	}
	return false;
}
