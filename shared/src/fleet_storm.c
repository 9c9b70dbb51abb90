/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The storm view across the fleet (fleet.h): what each monitor watches and suspects, published under the
 * monitor's own lease (diffs only, a keepalive per publish), counted with range count_only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet-internal.h"

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static struct entry *lookup(struct dg_fleet *f, const char *target, bool insert)
{
	size_t i;

	if (insert && (f->n + 1) * 2 > f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		struct entry *t = calloc(cap, sizeof(*t));
		if (!t)
			return NULL;
		for (size_t k = 0; k < f->cap; k++) {
			if (!f->table[k].target)
				continue;
			for (i = hash(f->table[k].target) & (cap - 1); t[i].target; i = (i + 1) & (cap - 1))
				;
			t[i] = f->table[k];
		}
		free(f->table);
		f->table = t;
		f->cap = cap;
	}
	if (!f->cap)
		return NULL;
	for (i = hash(target) & (f->cap - 1); f->table[i].target; i = (i + 1) & (f->cap - 1))
		if (!strcmp(f->table[i].target, target))
			return &f->table[i];
	if (!insert)
		return NULL;
	f->table[i].target = strdup(target);
	if (!f->table[i].target)
		return NULL;
	f->n++;
	return &f->table[i];
}

int dg_fleet_set(struct dg_fleet *f, const char *target, bool watched, bool suspect)
{
	struct entry *e;
	int r = 0;

	if (!dg_fleet_name_ok(target, false))
		return -DG_USAGE;
	pthread_mutex_lock(&f->lock);
	e = lookup(f, target, watched || suspect);
	if (e)
		e->want = (unsigned char)((watched ? W_WATCHED : 0) | (suspect ? W_SUSPECT : 0));
	else if (watched || suspect)
		r = -DG_FAILED;
	pthread_mutex_unlock(&f->lock);
	return r;
}

static int keep_lease(struct dg_fleet *f, double ttl, struct dg_error *err)
{
	struct dg_fleet_reply reply;
	char *body;
	int r;

	if (f->monitor_lease) {
		body = dg_fleet_req_lease(f->monitor_lease);
		r = dg_fleet_call(f, "/v3/lease/keepalive", body, DG_FLEET_R_KEEPALIVE, &reply, NULL, NULL, err);
		free(body);
		if (r < 0)
			return r;
		if (reply.ttl > 0)
			return 0;
		/* Gone (expired while we stalled, or etcd lost it): everything we had is gone with it. */
		f->monitor_lease = 0;
		for (size_t i = 0; i < f->cap; i++)
			f->table[i].have = 0;
	}
	return dg_fleet_grant(f, ttl, &f->monitor_lease, err);
}

static int flush(struct dg_fleet *f, struct dg_fleet_op *ops, size_t n_ops, size_t *touched, size_t n_touched,
		 struct dg_error *err)
{
	struct dg_fleet_reply reply;
	char *body;
	int r;

	if (!n_ops)
		return 0;
	body = dg_fleet_req_batch(ops, n_ops);
	r = dg_fleet_call(f, "/v3/kv/txn", body, DG_FLEET_R_TXN, &reply, NULL, NULL, err);
	free(body);
	for (size_t k = 0; k < n_ops; k++)
		free((char *)ops[k].key);
	if (r < 0)
		return r;
	for (size_t k = 0; k < n_touched; k++)
		f->table[touched[k]].have = f->table[touched[k]].want;
	return 0;
}

int dg_fleet_publish(struct dg_fleet *f, double ttl, struct dg_error *err)
{
	struct dg_fleet_op ops[DG_FLEET_TXN_OPS];
	size_t touched[DG_FLEET_TXN_OPS], n_ops = 0, n_touched = 0;
	int r;

	if (!(ttl >= 2 && ttl <= 86400))
		return dg_error_set(err, DG_USAGE, "fleet publish: the lease must last 2 s to a day");
	pthread_mutex_lock(&f->lock);
	r = keep_lease(f, ttl, err);
	for (size_t i = 0; r == 0 && i < f->cap; i++) {
		struct entry *e = &f->table[i];
		static const struct {
			unsigned bit;
			const char *dir;
		} kinds[] = { { W_WATCHED, "watched" }, { W_SUSPECT, "suspect" } };

		if (!e->target || e->want == e->have)
			continue;
		/* Two ops at most per entry: flush first when they may not fit. */
		if (n_ops + 2 > DG_FLEET_TXN_OPS) {
			r = flush(f, ops, n_ops, touched, n_touched, err);
			n_ops = n_touched = 0;
			if (r < 0)
				break;
		}
		for (int k = 0; k < 2; k++) {
			bool want = e->want & kinds[k].bit, have = e->have & kinds[k].bit;
			char *key;
			if (want == have)
				continue;
			if (asprintf(&key, "%s%s/%s/%s", f->cfg.key_prefix, kinds[k].dir, f->monitor, e->target) < 0) {
				r = dg_error_set(err, DG_FAILED, "out of memory");
				break;
			}
			ops[n_ops++] = (struct dg_fleet_op){ key, want ? "1" : NULL, want ? f->monitor_lease : 0 };
		}
		touched[n_touched++] = i;
	}
	if (r == 0)
		r = flush(f, ops, n_ops, touched, n_touched, err);
	else
		for (size_t k = 0; k < n_ops; k++)
			free((char *)ops[k].key);
	pthread_mutex_unlock(&f->lock);
	return r;
}

static int count_prefix(struct dg_fleet *f, const char *dir, uint64_t *ret, struct dg_error *err)
{
	char prefix[256], end[256];
	struct dg_fleet_reply reply;
	size_t n, end_len;
	char *body;
	int r;

	n = (size_t)snprintf(prefix, sizeof(prefix), "%s%s/", f->cfg.key_prefix, dir);
	end_len = dg_fleet_range_end(prefix, n, end);
	body = dg_fleet_req_range(prefix, n, end, end_len, true, false);
	r = dg_fleet_call(f, "/v3/kv/range", body, DG_FLEET_R_RANGE, &reply, NULL, NULL, err);
	free(body);
	if (r == 0)
		*ret = (uint64_t)reply.count;
	return r;
}

int dg_fleet_counts(struct dg_fleet *f, uint64_t *ret_watched, uint64_t *ret_suspect, struct dg_error *err)
{
	int r;

	pthread_mutex_lock(&f->lock);
	r = count_prefix(f, "watched", ret_watched, err);
	if (r == 0)
		r = count_prefix(f, "suspect", ret_suspect, err);
	pthread_mutex_unlock(&f->lock);
	return r;
}

void dg_fleet_storm_free(struct dg_fleet *f)
{
	for (size_t i = 0; i < f->cap; i++)
		free(f->table[i].target);
	free(f->table);
	f->table = NULL;
	f->cap = f->n = 0;
}
