/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Byte counts for people: "512 B", "63.4 MiB" (compact: "63.4M", for tables). 1024-based, one decimal. */
void dg_format_bytes(uint64_t n, bool compact, char *buf, size_t len);
