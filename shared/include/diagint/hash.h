/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "diagint/error.h"

#define DG_SHA256_HEX_LEN 64

/* SHA-256 of a file's contents as lower-case hex, plus its apparent size and the bytes actually allocated
 * (smaller than the size for a sparse file). */
int dg_hash_file(const char *path, char hex[DG_SHA256_HEX_LEN + 1], uint64_t *ret_size, uint64_t *ret_allocated,
		 struct dg_error *err);

/* SHA-256 of a buffer, as lower-case hex. */
void dg_hash_buffer(const void *data, size_t len, char hex[DG_SHA256_HEX_LEN + 1]);
