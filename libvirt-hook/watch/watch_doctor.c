/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Readiness: the doctor's libvirt checks, once per domain when the watcher starts watching it, so that a guest
 * whose NMI would produce nothing (no <panic>, on_crash=destroy, no room for its dump) is known before it hangs.
 * On a thread of its own with a connection and a configuration of its own: the checks block (guest agent
 * timeouts), and the watcher's connection and configuration may be replaced under it (reconnect, SIGHUP). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "diagint/config.h"
#include "diagint/doctor.h"
#include "watch/watch-internal.h"

struct watch_doctor {
	struct dg_watch *w;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char **queue; /* names waiting for their checks */
	size_t n;
	char **done;  /* names checked already: once per domain and process */
	size_t ndone;
	bool quit;
	pthread_t thread;
};

static void on_check(void *ud, const struct dg_doctor_check *c)
{
	struct dg_watch *w = ud;

	if (c->level == DG_DOCTOR_OK)
		return;
	watch_log(w, DG_LOG_WARNING, "%s: readiness %s: %s: %s%s%s", c->target, dg_doctor_level_name(c->level),
		  c->name, c->message, c->fix[0] ? "; fix: " : "", c->fix);
}

static void *doctor_main(void *arg)
{
	struct watch_doctor *d = arg;
	struct dg_watch *w = d->w;
	struct dg_config *cfg = NULL;
	struct dg_lv *lv = NULL;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		struct dg_error err = { 0 };
		struct dg_doctor_summary sum = { 0 };
		struct dg_doctor_opts opts = { .libvirt_uri = w->o.uri };
		char *name;
		int r;

		while (!d->quit && !d->n)
			pthread_cond_wait(&d->cond, &d->lock);
		if (d->quit)
			break;
		name = d->queue[--d->n];
		pthread_mutex_unlock(&d->lock);

		/* A fresh configuration and connection each time: cheap next to the checks, and never stale. */
		if (dg_config_load(w->o.config_path, &cfg, &err) < 0 || dg_lv_open(w->o.uri, &lv, &err) < 0) {
			watch_log(w, DG_LOG_WARNING, "%s: readiness checks skipped: %s", name, err.message);
		} else {
			opts.config = cfg;
			r = dg_doctor_check_libvirt(lv, name, NULL, &opts, on_check, w, &sum, &err);
			watch_log(w, r == 0 ? DG_LOG_INFO : DG_LOG_WARNING, "%s: readiness: %s (%u ok, %u warn, %u fail)",
				  name, r == 0 ? "an NMI would produce a dump" : "NOT READY", sum.n_ok, sum.n_warn,
				  sum.n_fail);
		}
		dg_lv_free(lv);
		lv = NULL;
		dg_config_free(cfg);
		cfg = NULL;
		free(name);
		pthread_mutex_lock(&d->lock);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

struct watch_doctor *watch_doctor_start(struct dg_watch *w)
{
	struct watch_doctor *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->w = w;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	if (pthread_create(&d->thread, NULL, doctor_main, d) != 0) {
		pthread_cond_destroy(&d->cond);
		pthread_mutex_destroy(&d->lock);
		free(d);
		return NULL;
	}
	return d;
}

void watch_doctor_enqueue(struct watch_doctor *d, const char *name)
{
	char **q, *copy;

	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->ndone; i++)
		if (!strcmp(d->done[i], name))
			goto out;
	copy = strdup(name);
	q = realloc(d->queue, (d->n + 1) * sizeof(*q));
	if (q)
		d->queue = q;
	if (copy && q && (q = realloc(d->done, (d->ndone + 1) * sizeof(*q)))) {
		d->done = q;
		d->done[d->ndone] = strdup(name);
		if (d->done[d->ndone]) {
			d->ndone++;
			d->queue[d->n++] = copy;
			copy = NULL;
			pthread_cond_signal(&d->cond);
		}
	}
	free(copy);
out:
	pthread_mutex_unlock(&d->lock);
}

void watch_doctor_stop(struct watch_doctor *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->quit = true;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thread, NULL);
	for (size_t i = 0; i < d->n; i++)
		free(d->queue[i]);
	for (size_t i = 0; i < d->ndone; i++)
		free(d->done[i]);
	free(d->queue);
	free(d->done);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
}
