/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* A fixed set of items found by a string key, several items per key allowed: built once, then only read (no
 * lock needed to read it). The collectd plugin finds the targets of a host name with it, once per value
 * dispatched, so a lookup must stay cheap at 10,000 targets. Keys and items are not copied: they must outlive
 * the index. */
struct dg_strindex;

/* Room for `capacity` items (adding more fails). 0 or -DG_FAILED (out of memory). */
int dg_strindex_new(size_t capacity, struct dg_strindex **ret);
/* 0, or -DG_FAILED when full. The items of one key come back in the order they were added. */
int dg_strindex_add(struct dg_strindex *x, const char *key, void *item);
/* The next item of key: *it is 0 for the first, then whatever the previous call left there. NULL: no more
 * (also when x is NULL). */
void *dg_strindex_next(const struct dg_strindex *x, const char *key, size_t *it);
/* Accepts NULL. */
void dg_strindex_free(struct dg_strindex *x);
