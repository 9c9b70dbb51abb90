/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
/* Little-endian field access for the vmcore readers: no alignment assumed, no host byte order assumed. */

#include <stdint.h>

static inline uint16_t dg_le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t dg_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t dg_le64(const unsigned char *p)
{
	return (uint64_t)dg_le32(p) | ((uint64_t)dg_le32(p + 4) << 32);
}

static inline void dg_put_le16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static inline void dg_put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
