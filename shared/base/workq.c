/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A ring of item numbers and a flag per item (queued or not), under the caller's mutex; the condition variable
 * runs on the monotonic clock, so a wall-clock step neither cuts the settle wait short nor stretches it. */
#include <stdlib.h>
#include <time.h>

#include "diagint/clock.h"
#include "diagint/workq.h"

struct dg_workq {
	struct dg_workq_opts o;
	pthread_cond_t cond;
	size_t *ring;
	size_t head, len;
	bool *queued;
	double last_activity; /* dg_clock_mono; 0: none yet */
	bool stopped;
};

int dg_workq_new(const struct dg_workq_opts *o, struct dg_workq **ret, struct dg_error *err)
{
	struct dg_workq *q = NULL;
	pthread_condattr_t ca;
	int r = 0;

	if (!o->size || !o->lock)
		return dg_error_set(err, DG_USAGE, "a work queue needs a size of 1 or more and the caller's lock");
	q = calloc(1, sizeof(*q));
	if (!q || !(q->ring = calloc(o->size, sizeof(*q->ring))) || !(q->queued = calloc(o->items + 1, 1))) {
		r = dg_error_set(err, DG_FAILED, "out of memory");
		goto out;
	}
	q->o = *o;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &ca);
	pthread_condattr_destroy(&ca);
	*ret = q;
	q = NULL;
out:
	if (q) {
		free(q->ring);
		free(q);
	}
	return r;
}

void dg_workq_free(struct dg_workq *q)
{
	if (!q)
		return;
	pthread_cond_destroy(&q->cond);
	free(q->ring);
	free(q->queued);
	free(q);
}

int dg_workq_push(struct dg_workq *q, size_t item)
{
	if (item >= q->o.items)
		return -1;
	if (q->queued[item] || q->stopped)
		return 0;
	if (q->len == q->o.size)
		return -1;
	q->ring[(q->head + q->len++) % q->o.size] = item;
	q->queued[item] = true;
	pthread_cond_signal(&q->cond);
	return 1;
}

bool dg_workq_queued(const struct dg_workq *q, size_t item)
{
	return item < q->o.items && q->queued[item];
}

size_t dg_workq_len(const struct dg_workq *q)
{
	return q->len;
}

void dg_workq_activity(struct dg_workq *q)
{
	q->last_activity = dg_clock_mono();
}

int dg_workq_pop(struct dg_workq *q, size_t *ret_item)
{
	double start, until, now;
	struct timespec ts;

	while (!q->stopped && !q->len)
		pthread_cond_wait(&q->cond, q->o.lock);
	/* Let a burst of detections land before deciding: until no new one for `settle`, at most `settle_max`. */
	start = dg_clock_mono();
	while (!q->stopped) {
		now = dg_clock_mono();
		until = q->last_activity + q->o.settle;
		if (until > start + q->o.settle_max)
			until = start + q->o.settle_max;
		if (now >= until)
			break;
		ts = dg_clock_deadline(CLOCK_MONOTONIC, until - now);
		pthread_cond_timedwait(&q->cond, q->o.lock, &ts);
	}
	if (q->stopped)
		return -1;
	*ret_item = q->ring[q->head];
	q->head = (q->head + 1) % q->o.size;
	q->len--;
	q->queued[*ret_item] = false;
	return 0;
}

size_t dg_workq_stop(struct dg_workq *q)
{
	q->stopped = true;
	pthread_cond_broadcast(&q->cond);
	return q->len;
}
