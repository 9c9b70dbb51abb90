/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* A size limit given as bytes ("10G") or as a share of the filesystem ("15%"). */
struct dg_size_limit {
	bool set;
	bool is_percent;
	uint64_t bytes;
	double percent;
};

/* Value parsers, shared with plugins that read their host tool's configuration. All return 0 or -EINVAL. */
int dg_config_parse_size(const char *text, uint64_t *ret);              /* 123, 10K, 512M, 2G, 1T (1024-based) */
int dg_config_parse_limit(const char *text, struct dg_size_limit *ret); /* a size or "N%" */
int dg_config_parse_bool(const char *text, bool *ret);
int dg_config_parse_seconds(const char *text, double *ret);             /* 30, 2.5, 10s, 250ms, 5m, 1h, 1d;
                                                                         * over a year: -ERANGE */

/* Bytes a limit means on a filesystem of fs_size bytes. */
uint64_t dg_size_limit_bytes(const struct dg_size_limit *l, uint64_t fs_size);
