/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Guest agent ping. A ping to a hung guest waits for the whole timeout, so it never runs on the watcher's loop:
 * each probe has one thread that sends the ping check() asks for. The thread and the owner share the state;
 * whichever lets go last frees it, so freeing the probe never waits for a ping in flight (a connection that
 * died under it may take the agent timeout to say so). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

#include "diagint/lv.h"
#include "watch/probe.h"

struct agent {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	virDomainPtr dom;
	int timeout_s;
	bool want;      /* check() asked for a ping */
	bool inflight;  /* the thread is sending it */
	enum { NONE, ANSWERED, FAILED } result; /* of the latest ping, until check() reports it; FAILED: see reason */
	bool quit;      /* the owner let go */
	unsigned refs;  /* owner + thread */
	char reason[256];
};

static void agent_unref(struct agent *a)
{
	bool last;

	pthread_mutex_lock(&a->lock);
	last = --a->refs == 0;
	pthread_mutex_unlock(&a->lock);
	if (!last)
		return;
	virDomainFree(a->dom);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static void *agent_main(void *arg)
{
	struct agent *a = arg;

	pthread_mutex_lock(&a->lock);
	for (;;) {
		char *out;
		bool ok;
		char why[256] = "";

		while (!a->want && !a->quit)
			pthread_cond_wait(&a->cond, &a->lock);
		if (a->quit)
			break;
		a->want = false;
		a->inflight = true;
		pthread_mutex_unlock(&a->lock);

		out = virDomainQemuAgentCommand(a->dom, "{\"execute\":\"guest-ping\"}", a->timeout_s, 0);
		ok = out != NULL;
		if (!ok) {
			virErrorPtr e = virGetLastError();
			snprintf(why, sizeof(why), "%s", e && e->message ? e->message : "no answer");
			virResetLastError();
		}
		free(out);

		pthread_mutex_lock(&a->lock);
		a->inflight = false;
		a->result = ok ? ANSWERED : FAILED;
		snprintf(a->reason, sizeof(a->reason), "%s", why);
	}
	pthread_mutex_unlock(&a->lock);
	agent_unref(a);
	return NULL;
}

static int ag_check(void *state, struct dg_error *err)
{
	struct agent *a = state;
	int r;

	pthread_mutex_lock(&a->lock);
	if (a->inflight)
		r = 0; /* the previous ping is still unanswered after a whole interval */
	else if (a->result == FAILED)
		r = dg_error_set(err, DG_UNAVAILABLE, "guest-ping: %s", a->reason);
	else
		r = a->result == ANSWERED;
	/* The next ping, unless one is still out (an agent that failed once may answer the next time). */
	if (!a->inflight)
		a->want = true;
	a->result = NONE;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
	return r;
}

static void ag_free(void *state)
{
	struct agent *a = state;

	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->quit = true;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
	agent_unref(a);
}

static const struct dg_probe_ops agent_ops = {
	.name = "agent",
	.sign = "guest-agent answer",
	.miss = "the guest agent did not answer guest-ping",
	.check = ag_check,
	.free = ag_free,
};

int dg_probe_agent_new(virDomainPtr dom, int timeout_s, struct dg_probe *ret, struct dg_error *err)
{
	struct agent *a;
	pthread_t t;
	pthread_attr_t attr;
	int r;

	if (!dom || timeout_s < 1)
		return dg_error_set(err, DG_USAGE, "agent probe needs a domain and a timeout of at least 1 s");
	a = calloc(1, sizeof(*a));
	if (!a)
		return dg_error_set(err, DG_FAILED, "out of memory");
	if (virDomainRef(dom) < 0) {
		free(a);
		return dg_lv_error(err, DG_FAILED, "cannot hold the domain");
	}
	a->dom = dom;
	a->timeout_s = timeout_s;
	a->refs = 2;
	a->want = true; /* the first ping goes out now: the first check then has an answer to report */
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* The thread only waits on libvirt: a small stack keeps 100 probes cheap. */
	pthread_attr_setstacksize(&attr, 256 * 1024);
	r = pthread_create(&t, &attr, agent_main, a);
	pthread_attr_destroy(&attr);
	if (r) {
		a->refs = 1;
		agent_unref(a);
		return dg_error_set_errno(err, DG_FAILED, r, "cannot start the agent probe's thread");
	}
	ret->ops = &agent_ops;
	ret->state = a;
	return 0;
}
