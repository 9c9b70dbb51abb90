/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ELF notes of a guest dump: VMCOREINFO (what the kernel says about itself) and NT_PRSTATUS (each vCPU's
 * registers). The bytes are the guest's: every length is checked against what is left. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diagint/vmcore.h"
#include "capture/vmcore-internal.h"

#define NT_PRSTATUS 1
/* x86-64 struct elf_prstatus: pr_reg (27 registers) at 112; rip is register 16, rsp register 19. */
#define PRSTATUS_REG 112
#define REG_RIP 16
#define REG_RSP 19

static size_t pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

void dg_vmcore_parse_notes(const unsigned char *buf, size_t len, struct dg_vmcore_notes *ret)
{
	size_t off = 0;

	memset(ret, 0, sizeof(*ret));
	while (len - off >= 12) {
		uint32_t namesz = dg_le32(buf + off), descsz = dg_le32(buf + off + 4), type = dg_le32(buf + off + 8);
		size_t name_at = off + 12, desc_at, left = len - name_at;
		const char *name = (const char *)buf + name_at;

		if (namesz > left || pad4(namesz) > left)
			break;
		desc_at = name_at + pad4(namesz);
		if (descsz > len - desc_at)
			break;
		if (namesz == sizeof("VMCOREINFO") && !memcmp(name, "VMCOREINFO", sizeof("VMCOREINFO"))) {
			ret->vmcoreinfo = (const char *)buf + desc_at;
			ret->vmcoreinfo_len = descsz;
		} else if (type == NT_PRSTATUS && namesz == sizeof("CORE") && !memcmp(name, "CORE", sizeof("CORE")) &&
			   descsz >= PRSTATUS_REG + (REG_RSP + 1) * 8) {
			if (ret->ncpus < DG_VMCORE_CPUS_MAX) {
				ret->cpu[ret->ncpus].ip = dg_le64(buf + desc_at + PRSTATUS_REG + REG_RIP * 8);
				ret->cpu[ret->ncpus].sp = dg_le64(buf + desc_at + PRSTATUS_REG + REG_RSP * 8);
			}
			ret->ncpus++;
		}
		if (pad4(descsz) > len - desc_at)
			break;
		off = desc_at + pad4(descsz);
	}
}

/* The value after KEY= on a line of its own; its length in *vlen. */
static const char *find(const struct dg_vmcore_notes *n, const char *key, size_t *vlen)
{
	const char *p = n->vmcoreinfo, *end = p ? p + n->vmcoreinfo_len : NULL;
	size_t klen = strlen(key);

	if (!p)
		return NULL;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *eol = nl ? nl : end;
		if ((size_t)(eol - p) > klen && !memcmp(p, key, klen) && p[klen] == '=') {
			const char *v = p + klen + 1;
			*vlen = (size_t)(eol - v);
			/* a NUL ends the note's text */
			const char *z = memchr(v, '\0', *vlen);
			if (z)
				*vlen = (size_t)(z - v);
			return v;
		}
		if (memchr(p, '\0', (size_t)(eol - p)))
			return NULL;
		p = eol + 1;
	}
	return NULL;
}

bool dg_vmcoreinfo_str(const struct dg_vmcore_notes *n, const char *key, char *out, size_t outlen)
{
	size_t vlen = 0;
	const char *v = find(n, key, &vlen);

	if (!v || outlen == 0)
		return false;
	if (vlen >= outlen)
		vlen = outlen - 1;
	memcpy(out, v, vlen);
	out[vlen] = '\0';
	return true;
}

static bool parse(const struct dg_vmcore_notes *n, const char *key, int base, bool sign, uint64_t *ret)
{
	char v[32], *end;

	if (!dg_vmcoreinfo_str(n, key, v, sizeof(v)) || !v[0])
		return false;
	errno = 0;
	if (sign) {
		long long x = strtoll(v, &end, base);
		*ret = (uint64_t)x;
	} else {
		if (v[0] == '-')
			return false;
		*ret = strtoull(v, &end, base);
	}
	return errno == 0 && *end == '\0';
}

bool dg_vmcoreinfo_hex(const struct dg_vmcore_notes *n, const char *key, uint64_t *ret)
{
	return parse(n, key, 16, false, ret);
}

bool dg_vmcoreinfo_dec(const struct dg_vmcore_notes *n, const char *key, int64_t *ret)
{
	uint64_t v;

	if (!parse(n, key, 10, true, &v))
		return false;
	*ret = (int64_t)v;
	return true;
}
