/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "diagint/clock.h"
#include "base/encode.h"
#include "diagint/provider.h"
#include "diagint/send.h"

#define MAX_SLOTS 16
#define BACKOFF_CAP 20.0

struct slot {
	const struct dg_provider *p;
	struct dg_provider_env env;
	void *ctx;
	bool opened;
	struct dg_error open_err; /* when opening failed: every target of the provider gets it */
};

struct dg_sender {
	struct dg_send_opts o;
	struct dg_http *http;
	struct slot slots[MAX_SLOTS];
	unsigned n_slots;
};

enum job_state { JOB_READY, JOB_RUNNING, JOB_DONE };

struct job {
	struct dg_sender *s;
	const struct dg_target *t;
	struct dg_send_result *res;
	struct slot *slot;
	struct dg_step step;
	enum job_state state;
	bool idempotent;      /* of the request in flight */
	double due;           /* monotonic seconds: not before */
	double start;
	char token[33];
};

int dg_send_endpoint_check(const char *provider, const char *url, struct dg_error *err)
{
	const char *rest = strstr(url, "://");

	if (!dg_provider_find(provider, strlen(provider)))
		return dg_error_set(err, DG_USAGE, "no such provider: use aws, gcp, oci or openstack.");
	if (strncasecmp(url, "https://", 8) != 0)
		return dg_error_set(err, DG_USAGE, "plain http (or no scheme) is refused: credentials and interrupts go "
				    "over https only; write https://%s", rest ? rest + 3 : url);
	return 0;
}

int dg_sender_new(const struct dg_send_opts *opts, struct dg_sender **ret, struct dg_error *err)
{
	struct dg_http_opts ho = { 0 };
	struct dg_sender *s;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return dg_error_set(err, DG_FAILED, "out of memory");
	if (opts)
		s->o = *opts;
	if (s->o.timeout <= 0)
		s->o.timeout = 30;
	if (s->o.connect_timeout <= 0)
		s->o.connect_timeout = 10;
	if (s->o.retries < 0)
		s->o.retries = DG_SEND_DEFAULT_RETRIES;
	if (!s->o.parallel)
		s->o.parallel = DG_SEND_DEFAULT_PARALLEL;
	if (s->o.retry_base <= 0)
		s->o.retry_base = 0.5;
	if (s->o.retry_after_max <= 0)
		s->o.retry_after_max = 30;
	ho.timeout = s->o.timeout;
	ho.connect_timeout = s->o.connect_timeout;
	ho.max_host_connections = s->o.parallel;
	r = dg_http_new(&ho, &s->http, err);
	if (r < 0) {
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

void dg_sender_free(struct dg_sender *s)
{
	if (!s)
		return;
	/* The HTTP client first: nothing may still point into a provider's context. */
	dg_http_free(s->http);
	for (unsigned i = 0; i < s->n_slots; i++)
		if (s->slots[i].opened && s->slots[i].p->close)
			s->slots[i].p->close(s->slots[i].ctx);
	free(s);
}

void dg_sender_stats(const struct dg_sender *s, unsigned long *ret_connections, unsigned long *ret_requests)
{
	dg_http_stats(s->http, ret_connections, ret_requests);
}

static struct slot *slot_for(struct dg_sender *s, const struct dg_provider *p)
{
	struct slot *sl;

	for (unsigned i = 0; i < s->n_slots; i++)
		if (s->slots[i].p == p)
			return &s->slots[i];
	if (s->n_slots == MAX_SLOTS)
		return NULL;
	sl = &s->slots[s->n_slots++];
	memset(sl, 0, sizeof(*sl));
	sl->p = p;
	sl->env.http = s->http;
	sl->env.cacert = s->o.cacert;
	sl->env.libvirt_uri = s->o.libvirt_uri;
	for (unsigned i = 0; i < s->o.n_endpoints; i++)
		if (s->o.endpoints[i].provider && !strcmp(s->o.endpoints[i].provider, p->name))
			sl->env.endpoint = s->o.endpoints[i].url;
	if (p->open(&sl->env, &sl->ctx, &sl->open_err) == 0)
		sl->opened = true;
	return sl;
}

size_t dg_send_dedupe(struct dg_target *targets, size_t n)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++) {
		bool seen = false;
		for (size_t j = 0; j < w && !seen; j++)
			seen = !strcmp(targets[j].text, targets[i].text);
		if (!seen) {
			if (w != i)
				targets[w] = targets[i];
			w++;
		}
	}
	return w;
}

double dg_send_backoff(double base, unsigned retry, double retry_after, double u)
{
	double d;

	if (retry_after >= 0)
		return retry_after;
	if (retry < 1)
		retry = 1;
	d = base * (double)(1u << (retry - 1 > 20 ? 20 : retry - 1));
	if (d > BACKOFF_CAP)
		d = BACKOFF_CAP;
	/* Jitter, so that many throttled targets do not come back in lock step. */
	return d / 2 + u * d / 2;
}

static void job_done(struct job *j, const struct dg_error *e)
{
	struct dg_send_result *res = j->res;

	res->status = e->status;
	snprintf(res->message, sizeof(res->message), "%s", e->message);
	snprintf(res->request_id, sizeof(res->request_id), "%s", e->request_id);
	res->seconds = dg_clock_mono() - j->start;
	j->state = JOB_DONE;
}

/* Decide what follows a verdict: the next step, a retry later, or the result. */
static void conclude(struct job *j, struct dg_verdict *v)
{
	struct dg_sender *s = j->s;
	double delay;

	j->res->attempts = j->step.attempt;
	if (v->err.status == DG_OK && v->next) {
		j->step.index++;
		j->step.attempt = 1;
		j->due = dg_clock_mono();
		j->state = JOB_READY;
		return;
	}
	if (v->err.status != DG_OK && v->retry) {
		if (v->retry_after > s->o.retry_after_max) {
			size_t len = strlen(v->err.message);
			snprintf(v->err.message + len, sizeof(v->err.message) - len,
				 "; the provider asks to wait %.0f s, longer than diagint waits (%.0f s): try again later",
				 v->retry_after, s->o.retry_after_max);
			job_done(j, &v->err);
			return;
		}
		if (j->step.attempt <= (unsigned)s->o.retries) {
			delay = dg_send_backoff(s->o.retry_base, j->step.attempt, v->retry_after,
						(double)arc4random() / 4294967296.0);
			j->step.attempt++;
			j->due = dg_clock_mono() + delay;
			j->state = JOB_READY;
			return;
		}
		{
			size_t len = strlen(v->err.message);
			snprintf(v->err.message + len, sizeof(v->err.message) - len, "; gave up after %u attempts",
				 j->step.attempt);
		}
	}
	job_done(j, &v->err);
}

static void on_done(void *userdata, struct dg_http_resp *resp)
{
	struct job *j = userdata;
	const struct dg_provider *p = j->slot->p;
	struct dg_verdict v = { .retry_after = -1 };

	if (!j->step.dry_run && resp->sent)
		j->res->sent = true;
	if (resp->status == 0) {
		bool retry = false;
		dg_http_transport_error(resp, j->idempotent, p->api, p->cacert_env, &v.err, &retry);
		v.retry = retry;
	} else {
		p->judge(j->slot->ctx, j->t, &j->step, resp, &v);
	}
	conclude(j, &v);
}

static void launch(struct job *j)
{
	const struct dg_provider *p = j->slot->p;
	struct dg_http_req req = { 0 };
	struct dg_error e = { 0 };

	if (p->request(j->slot->ctx, j->t, &j->step, &req, &e) < 0) {
		dg_http_req_clear(&req);
		job_done(j, &e);
		return;
	}
	j->idempotent = req.idempotent;
	j->state = JOB_RUNNING;
	if (dg_http_submit(j->s->http, &req, on_done, j, &e) < 0)
		job_done(j, &e);
}

static void run_direct(struct job *j)
{
	const struct dg_provider *p = j->slot->p;

	while (j->state != JOB_DONE) {
		struct dg_verdict v = { .retry_after = -1 };
		p->direct(j->slot->ctx, j->t, &j->step, &v);
		if (!j->step.dry_run)
			j->res->sent = true;
		v.retry = false; /* a local call is not retried */
		conclude(j, &v);
	}
}

int dg_sender_run(struct dg_sender *s, const struct dg_target *targets, size_t n, struct dg_send_result *results)
{
	struct job *jobs = calloc(n ? n : 1, sizeof(*jobs));
	bool authed[MAX_SLOTS] = { 0 };
	struct dg_error auth_err[MAX_SLOTS];
	int auth_r[MAX_SLOTS] = { 0 };
	size_t left = n;
	int r = 0;

	if (!jobs)
		return -DG_FAILED;
	for (size_t i = 0; i < n; i++) {
		struct job *j = &jobs[i];
		unsigned char rnd[16];

		memset(&results[i], 0, sizeof(results[i]));
		snprintf(results[i].target, sizeof(results[i].target), "%s", targets[i].text);
		results[i].provider = targets[i].provider->name;
		results[i].dry_run = s->o.dry_run;
		j->s = s;
		j->t = &targets[i];
		j->res = &results[i];
		j->start = dg_clock_mono();
		j->due = j->start;
		j->step.dry_run = s->o.dry_run;
		j->step.attempt = 1;
		arc4random_buf(rnd, sizeof(rnd));
		dg_hex(rnd, sizeof(rnd), j->token);
		j->step.client_token = j->token;
		j->slot = slot_for(s, targets[i].provider);
		if (!j->slot) {
			struct dg_error e;
			dg_error_set(&e, DG_FAILED, "too many providers in one sender");
			job_done(j, &e);
			continue;
		}
		if (!j->slot->opened) {
			job_done(j, &j->slot->open_err);
			continue;
		}
		/* Credentials once per provider and run, before any interrupt goes out. */
		{
			unsigned k = (unsigned)(j->slot - s->slots);
			if (!authed[k]) {
				authed[k] = true;
				memset(&auth_err[k], 0, sizeof(auth_err[k]));
				auth_r[k] = j->slot->p->auth ? j->slot->p->auth(j->slot->ctx, &j->slot->env, &auth_err[k]) : 0;
			}
			if (auth_r[k] < 0) {
				job_done(j, &auth_err[k]);
				continue;
			}
		}
		if (j->slot->p->direct)
			run_direct(j);
	}

	for (;;) {
		double now = dg_clock_mono(), next = -1;
		unsigned running;

		if (s->o.cancel && *s->o.cancel) {
			/* In-flight ones conclude through on_done; anything left (waiting, or queued for a retry) ends
			 * here, never resent: the run is over. */
			dg_http_abort_all(s->http);
			for (size_t i = 0; i < n; i++)
				if (jobs[i].state != JOB_DONE) {
					struct dg_error e = { 0 };
					dg_error_set(&e, DG_FAILED, jobs[i].res->sent
						     ? "stopped while the request was in flight: it may have reached the provider"
						     : "stopped before it was sent: the run was cancelled");
					job_done(&jobs[i], &e);
				}
			break;
		}
		running = dg_http_running(s->http);

		left = 0;
		for (size_t i = 0; i < n; i++) {
			struct job *j = &jobs[i];
			if (j->state == JOB_DONE)
				continue;
			left++;
			if (j->state != JOB_READY)
				continue;
			if (j->due <= now && running < s->o.parallel) {
				launch(j);
				if (j->state == JOB_RUNNING)
					running++;
				continue;
			}
			if (j->due > now && (next < 0 || j->due < next))
				next = j->due;
		}
		if (!left)
			break;
		/* Wake for the earliest retry that is due, or sooner when a transfer finishes. */
		dg_http_step(s->http, next < 0 ? 1000 : (long)((next - now) * 1000) + 1);
	}

	for (size_t i = 0; i < n; i++)
		if (results[i].status != DG_OK) {
			r = -(int)results[i].status;
			break;
		}
	free(jobs);
	return r;
}

json_object *dg_send_result_to_json(const struct dg_send_result *r, const char *reason)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "target", json_object_new_string(r->target));
	json_object_object_add(o, "provider", json_object_new_string(r->provider ? r->provider : ""));
	json_object_object_add(o, "status", json_object_new_string(dg_status_name(r->status)));
	json_object_object_add(o, "exit", json_object_new_int((int)r->status));
	json_object_object_add(o, "message", json_object_new_string(r->message));
	json_object_object_add(o, "request_id", r->request_id[0] ? json_object_new_string(r->request_id) : NULL);
	json_object_object_add(o, "attempts", json_object_new_int((int)r->attempts));
	json_object_object_add(o, "sent", json_object_new_boolean(r->sent));
	json_object_object_add(o, "dry_run", json_object_new_boolean(r->dry_run));
	json_object_object_add(o, "seconds", json_object_new_double((double)(long long)(r->seconds * 1000 + 0.5) / 1000));
	json_object_object_add(o, "reason", reason ? json_object_new_string(reason) : NULL);
	return o;
}
