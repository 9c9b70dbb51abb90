/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vCPU time progress: the numbers of `virsh domstats --vcpu`, asked for without waiting for a domain job (a dump
 * or a stuck monitor must not stall the watcher's loop), always through a sampler: one call for every domain on
 * the connection, shared by the probes that look at the same moment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagint/clock.h"
#include "diagint/lv.h"
#include "watch/probe.h"

struct dg_vcpu_sampler {
	unsigned refs;
	virConnectPtr conn;
	double max_age;
	double fetched;  /* monotonic time of the last call; < 0: never */
	bool ok;         /* the last call worked */
	char error[1024]; /* else why not */
	size_t n;
	struct sample {
		char uuid[VIR_UUID_STRING_BUFLEN];
		uint64_t ns;
		bool any; /* libvirt reported at least one vCPU's time */
	} *samples;
};

struct cputime {
	virDomainPtr dom;
	struct dg_vcpu_sampler *sampler; /* shared, or the probe's own */
	char uuid[VIR_UUID_STRING_BUFLEN];
	uint64_t min_ns;
	uint64_t last;
	bool started;
};

/* The sum of vcpu.N.time over one record's vCPUs; false when it has none. */
static bool record_vcpu_time(const virDomainStatsRecord *rec, uint64_t *ret)
{
	uint64_t sum = 0;
	bool any = false;

	for (int j = 0; j < rec->nparams; j++) {
		const virTypedParameter *p = &rec->params[j];
		unsigned idx;
		char tail[8];

		if (p->type == VIR_TYPED_PARAM_ULLONG && sscanf(p->field, "vcpu.%u.%7s", &idx, tail) == 2 &&
		    !strcmp(tail, "time")) {
			sum += p->value.ul;
			any = true;
		}
	}
	*ret = sum;
	return any;
}

int dg_vcpu_sampler_new(virConnectPtr conn, double max_age, struct dg_vcpu_sampler **ret, struct dg_error *err)
{
	struct dg_vcpu_sampler *s = calloc(1, sizeof(*s));

	if (!s)
		return dg_error_set(err, DG_FAILED, "out of memory");
	if (virConnectRef(conn) < 0) {
		free(s);
		return dg_lv_error(err, DG_FAILED, "cannot hold the libvirt connection");
	}
	s->refs = 1;
	s->conn = conn;
	s->max_age = max_age;
	s->fetched = -1;
	*ret = s;
	return 0;
}

void dg_vcpu_sampler_unref(struct dg_vcpu_sampler *s)
{
	if (!s || --s->refs)
		return;
	virConnectClose(s->conn);
	free(s->samples);
	free(s);
}

static void sampler_refresh(struct dg_vcpu_sampler *s)
{
	virDomainStatsRecordPtr *recs = NULL;
	struct sample *v;
	int n;

	s->fetched = dg_clock_mono();
	n = virConnectGetAllDomainStats(s->conn, VIR_DOMAIN_STATS_VCPU,
					&recs, VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE |
						       VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT);
	if (n < 0) {
		struct dg_error e = { 0 };
		dg_lv_error(&e, DG_UNAVAILABLE, "cannot read the vCPU statistics");
		snprintf(s->error, sizeof(s->error), "%s", e.message);
		s->ok = false;
		return;
	}
	v = realloc(s->samples, ((size_t)n + 1) * sizeof(*v));
	if (!v) {
		virDomainStatsRecordListFree(recs);
		snprintf(s->error, sizeof(s->error), "out of memory");
		s->ok = false;
		return;
	}
	s->samples = v;
	s->n = 0;
	for (int i = 0; i < n; i++) {
		struct sample *x = &s->samples[s->n];

		if (virDomainGetUUIDString(recs[i]->dom, x->uuid) < 0)
			continue;
		x->any = record_vcpu_time(recs[i], &x->ns);
		s->n++;
	}
	virDomainStatsRecordListFree(recs);
	s->ok = true;
}

int dg_probe_cputime_judge(uint64_t before_ns, uint64_t now_ns, uint64_t min_ns)
{
	/* Less than before: vCPUs were unplugged or their threads replaced. Not a sign of a hang either way. */
	if (now_ns < before_ns)
		return 1;
	return now_ns - before_ns > min_ns;
}

static void ct_free(void *state)
{
	struct cputime *c = state;

	if (!c)
		return;
	if (c->dom)
		virDomainFree(c->dom);
	dg_vcpu_sampler_unref(c->sampler);
	free(c);
}

static int sampled_vcpu_time(struct cputime *c, uint64_t *ret, struct dg_error *err)
{
	struct dg_vcpu_sampler *s = c->sampler;

	if (s->fetched < 0 || dg_clock_mono() - s->fetched > s->max_age)
		sampler_refresh(s);
	if (!s->ok)
		return dg_error_set(err, DG_UNAVAILABLE, "%s", s->error);
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->samples[i].uuid, c->uuid)) {
			if (!s->samples[i].any)
				break;
			*ret = s->samples[i].ns;
			return 0;
		}
	return dg_error_set(err, DG_UNAVAILABLE, "libvirt reported no vCPU time for %s (domain busy or not running)",
			    virDomainGetName(c->dom));
}

static int ct_check(void *state, struct dg_error *err)
{
	struct cputime *c = state;
	uint64_t now = 0;
	int r = sampled_vcpu_time(c, &now, err);

	if (r < 0)
		return r;
	if (!c->started) {
		c->started = true;
		c->last = now;
		return 1;
	}
	r = dg_probe_cputime_judge(c->last, now, c->min_ns);
	c->last = now; /* each interval is judged on its own growth */
	return r;
}

static const struct dg_probe_ops cputime_ops = {
	.name = "cputime",
	.sign = "vCPU time progress",
	.miss = "its vCPUs used no CPU time",
	.check = ct_check,
	.free = ct_free,
};

int dg_probe_cputime_sampled_new(struct dg_vcpu_sampler *s, virDomainPtr dom, uint64_t min_ns, struct dg_probe *ret,
				 struct dg_error *err)
{
	struct cputime *c;

	if (!s || !dom)
		return dg_error_set(err, DG_USAGE, "cputime probe needs a sampler and a domain");
	c = calloc(1, sizeof(*c));
	if (!c)
		return dg_error_set(err, DG_FAILED, "out of memory");
	if (virDomainGetUUIDString(dom, c->uuid) < 0 || virDomainRef(dom) < 0) {
		free(c);
		return dg_lv_error(err, DG_FAILED, "cannot hold the domain");
	}
	c->dom = dom;
	c->min_ns = min_ns;
	s->refs++;
	c->sampler = s;
	ret->ops = &cputime_ops;
	ret->state = c;
	return 0;
}

int dg_probe_cputime_new(virDomainPtr dom, uint64_t min_ns, struct dg_probe *ret, struct dg_error *err)
{
	struct dg_vcpu_sampler *s;
	int r;

	if (!dom)
		return dg_error_set(err, DG_USAGE, "cputime probe needs a domain");
	/* A sampler of its own that never reuses a sample. */
	r = dg_vcpu_sampler_new(virDomainGetConnect(dom), 0, &s, err);
	if (r < 0)
		return r;
	r = dg_probe_cputime_sampled_new(s, dom, min_ns, ret, err);
	dg_vcpu_sampler_unref(s);
	return r;
}
