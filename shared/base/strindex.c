/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A chained hash table of (key, item) in two arrays sized once: bucket heads and tails, and the entries, each
 * linked to the next of its bucket (indexes + 1, so that 0 ends a chain). */
#include <stdlib.h>
#include <string.h>

#include "diagint/error.h"
#include "diagint/strindex.h"

struct entry {
	const char *key;
	void *item;
	size_t next;
};

struct dg_strindex {
	size_t mask, n, capacity;
	size_t *head, *tail;
	struct entry *e;
};

/* FNV-1a: short host names, no adversary choosing them (they come from the configuration). */
static size_t hash(const char *s)
{
	size_t h = (size_t)14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * (size_t)1099511628211ULL;
	return h;
}

int dg_strindex_new(size_t capacity, struct dg_strindex **ret)
{
	struct dg_strindex *x = calloc(1, sizeof(*x));
	size_t size = 16;

	while (size < 2 * capacity)
		size <<= 1;
	if (x) {
		x->head = calloc(size, sizeof(*x->head));
		x->tail = calloc(size, sizeof(*x->tail));
		x->e = calloc(capacity ? capacity : 1, sizeof(*x->e));
	}
	if (!x || !x->head || !x->tail || !x->e) {
		dg_strindex_free(x);
		return -DG_FAILED;
	}
	x->mask = size - 1;
	x->capacity = capacity;
	*ret = x;
	return 0;
}

int dg_strindex_add(struct dg_strindex *x, const char *key, void *item)
{
	size_t b = hash(key) & x->mask;

	if (x->n == x->capacity)
		return -DG_FAILED;
	x->e[x->n] = (struct entry){ .key = key, .item = item };
	if (x->tail[b])
		x->e[x->tail[b] - 1].next = x->n + 1;
	else
		x->head[b] = x->n + 1;
	x->tail[b] = ++x->n;
	return 0;
}

void *dg_strindex_next(const struct dg_strindex *x, const char *key, size_t *it)
{
	size_t i;

	if (!x)
		return NULL;
	i = *it ? x->e[*it - 1].next : x->head[hash(key) & x->mask];
	for (; i; i = x->e[i - 1].next)
		if (!strcmp(x->e[i - 1].key, key)) {
			*it = i;
			return x->e[i - 1].item;
		}
	return NULL;
}

void dg_strindex_free(struct dg_strindex *x)
{
	if (!x)
		return;
	free(x->head);
	free(x->tail);
	free(x->e);
	free(x);
}
