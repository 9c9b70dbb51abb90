/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "diagint/error.h"

/* A bounded queue of work for one worker thread, over a fixed set of items numbered 0..items-1 (a detector's
 * targets), each queued at most once. The detectors push from their own threads and never wait; the worker
 * waits for an item, then lets a burst of detections settle before it takes one: the storm brake must see all
 * the hangs of one burst, not only the first (the collectd plugin's threshold plugin reports the expiries of one
 * pass one after the other).
 *
 * The queue has no lock of its own: it lives under the caller's mutex (the one that guards the episodes the
 * items stand for), and every function is called with that mutex held. dg_workq_pop releases it while waiting. */
struct dg_workq;

struct dg_workq_opts {
	size_t items;        /* items are 0..items-1 */
	size_t size;         /* at most this many queued at once (>= 1) */
	double settle;       /* seconds without new activity before the worker takes an item */
	double settle_max;   /* seconds: the worker waits no longer than this for a burst to settle */
	pthread_mutex_t *lock; /* the caller's */
};

/* 0, -DG_USAGE (size 0, no lock) or -DG_FAILED (out of memory). */
int dg_workq_new(const struct dg_workq_opts *o, struct dg_workq **ret, struct dg_error *err);
void dg_workq_free(struct dg_workq *q); /* accepts NULL */

/* Queue item for the worker. 1: queued; 0: it was queued already, or the queue is stopped (shutting down:
 * nothing to say); -1: the queue is full or there is no such item (nothing queued: the caller says so and tries
 * again later). */
int dg_workq_push(struct dg_workq *q, size_t item);
bool dg_workq_queued(const struct dg_workq *q, size_t item);
size_t dg_workq_len(const struct dg_workq *q);
/* A new detection now: the worker's settle wait starts again (within settle_max). */
void dg_workq_activity(struct dg_workq *q);

/* The worker: waits for an item and for the burst to settle, then takes the oldest. 0 and *ret_item, or -1 once
 * the queue is stopped (what is still queued stays there). */
int dg_workq_pop(struct dg_workq *q, size_t *ret_item);
/* Wakes the worker for good. Returns how many items were still queued. */
size_t dg_workq_stop(struct dg_workq *q);
