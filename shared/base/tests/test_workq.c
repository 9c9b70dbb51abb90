/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The work queue: an item is queued once, full means full, the oldest comes first, the worker waits for a burst
 * to settle (and no longer than settle_max while detections keep coming), and stop wakes a waiting worker. */
#include <pthread.h>
#include <unistd.h>

#include "diagint/clock.h"
#include "diagint/workq.h"
#include "tap.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

struct busy {
	struct dg_workq *q;
	double seconds;
};

/* A detector that keeps reporting new detections every 20 ms for a while. */
static void *keep_detecting(void *arg)
{
	struct busy *b = arg;
	double end = dg_clock_mono() + b->seconds;

	while (dg_clock_mono() < end) {
		pthread_mutex_lock(&lock);
		dg_workq_activity(b->q);
		pthread_mutex_unlock(&lock);
		usleep(20000);
	}
	return NULL;
}

static void *stop_later(void *arg)
{
	usleep(100000);
	pthread_mutex_lock(&lock);
	dg_workq_stop(arg);
	pthread_mutex_unlock(&lock);
	return NULL;
}

int main(void)
{
	struct dg_workq_opts o = { .items = 3, .size = 2, .settle = 0.2, .settle_max = 0.5, .lock = &lock };
	struct dg_workq *q = NULL;
	struct dg_error err = { 0 };
	struct busy b;
	pthread_t th;
	size_t item = 99;
	double t0;

	CHECK(dg_workq_new(&(struct dg_workq_opts){ .items = 3, .lock = &lock }, &q, &err) == -DG_USAGE,
	      "size 0 is refused: %s", err.message);
	CHECK(dg_workq_new(&o, &q, &err) == 0, "three items, room for two");
	pthread_mutex_lock(&lock);
	CHECK(dg_workq_push(q, 2) == 1 && dg_workq_push(q, 2) == 0 && dg_workq_len(q) == 1, "queued once");
	CHECK(dg_workq_push(q, 0) == 1 && dg_workq_push(q, 1) == -1, "full: the third is turned away");
	CHECK(dg_workq_push(q, 3) == -1, "no such item");
	CHECK(dg_workq_queued(q, 2) && dg_workq_queued(q, 0) && !dg_workq_queued(q, 1), "queued flags");

	/* No detection yet: nothing to settle, the oldest comes at once. */
	t0 = dg_clock_mono();
	CHECK(dg_workq_pop(q, &item) == 0 && item == 2 && !dg_workq_queued(q, 2), "the oldest first");
	CHECK(dg_clock_mono() - t0 < 0.15, "no settle wait without a detection");

	/* A detection just now: the worker waits `settle` for more. */
	dg_workq_activity(q);
	t0 = dg_clock_mono();
	CHECK(dg_workq_pop(q, &item) == 0 && item == 0, "then the next");
	CHECK(dg_clock_mono() - t0 >= 0.19 && dg_clock_mono() - t0 < 0.45, "waited for the burst to settle (%.3f s)",
	      dg_clock_mono() - t0);

	/* Detections that keep coming: the worker waits no longer than settle_max. */
	CHECK(dg_workq_push(q, 1) == 1, "queued again");
	b = (struct busy){ q, 1.5 };
	dg_workq_activity(q);
	pthread_mutex_unlock(&lock);
	pthread_create(&th, NULL, keep_detecting, &b);
	pthread_mutex_lock(&lock);
	t0 = dg_clock_mono();
	CHECK(dg_workq_pop(q, &item) == 0 && item == 1, "taken while detections go on");
	CHECK(dg_clock_mono() - t0 >= 0.45 && dg_clock_mono() - t0 < 1.2, "after settle_max (%.3f s)",
	      dg_clock_mono() - t0);
	pthread_mutex_unlock(&lock);
	pthread_join(th, NULL);

	/* An empty queue: the worker waits until stopped. */
	pthread_mutex_lock(&lock);
	pthread_create(&th, NULL, stop_later, q);
	CHECK(dg_workq_pop(q, &item) == -1, "stop wakes the waiting worker");
	CHECK(dg_workq_push(q, 0) == 0 && !dg_workq_len(q), "nothing is queued after stop, and it is not full");
	pthread_mutex_unlock(&lock);
	pthread_join(th, NULL);
	dg_workq_free(q);
	dg_workq_free(NULL);

	/* What was still queued at the stop is counted. */
	CHECK(dg_workq_new(&o, &q, &err) == 0, "a second queue");
	pthread_mutex_lock(&lock);
	dg_workq_push(q, 0);
	dg_workq_push(q, 1);
	CHECK(dg_workq_stop(q) == 2 && dg_workq_pop(q, &item) == -1, "two waited; the worker stops");
	pthread_mutex_unlock(&lock);
	dg_workq_free(q);
	return tap_done();
}
