/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The string index: every item of a key in the order added, nothing of another key (also one in the same
 * bucket), full means full, and 10,000 keys stay found. */
#include <stdio.h>
#include <stdlib.h>

#include "diagint/error.h"
#include "diagint/strindex.h"
#include "tap.h"

int main(void)
{
	static char keys[10000][16];
	static int items[10000];
	struct dg_strindex *x = NULL;
	size_t it = 0;
	int a = 1, b = 2, c = 3, lost = 0;

	CHECK(dg_strindex_next(NULL, "web-1", &it) == NULL, "no index: nothing");
	CHECK(dg_strindex_new(3, &x) == 0, "three items");
	CHECK(dg_strindex_add(x, "web-1", &a) == 0 && dg_strindex_add(x, "db-1", &b) == 0 &&
		      dg_strindex_add(x, "web-1", &c) == 0, "added");
	CHECK(dg_strindex_add(x, "web-2", &a) == -DG_FAILED, "a fourth is refused: full");
	it = 0;
	CHECK(dg_strindex_next(x, "web-1", &it) == &a && dg_strindex_next(x, "web-1", &it) == &c &&
		      dg_strindex_next(x, "web-1", &it) == NULL, "both items of web-1, in the order added");
	it = 0;
	CHECK(dg_strindex_next(x, "db-1", &it) == &b && dg_strindex_next(x, "db-1", &it) == NULL, "db-1's one");
	it = 0;
	CHECK(dg_strindex_next(x, "web", &it) == NULL && dg_strindex_next(x, "", &it) == NULL, "unknown keys");
	dg_strindex_free(x);
	dg_strindex_free(NULL);

	/* 10,000 keys in 32,768 buckets: chains share buckets, lookups must still tell the keys apart. */
	CHECK(dg_strindex_new(10000, &x) == 0, "10,000 items");
	for (int i = 0; i < 10000; i++) {
		snprintf(keys[i], sizeof(keys[i]), "host-%d", i);
		items[i] = i;
		dg_strindex_add(x, keys[i], &items[i]);
	}
	for (int i = 0; i < 10000; i++) {
		int *p;
		it = 0;
		p = dg_strindex_next(x, keys[i], &it);
		lost += !p || *p != i || dg_strindex_next(x, keys[i], &it) != NULL;
	}
	CHECK(!lost, "every key finds its one item (%d lost)", lost);
	dg_strindex_free(x);
	return tap_done();
}
