/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vCPU time progress. One virDomainListGetStats call per check (the same numbers as `virsh domstats --vcpu`),
 * asked not to wait for a domain job: a dump or a stuck monitor must not stall the watcher's loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagint/lv.h"
#include "diagint/probe.h"

struct cputime {
	virDomainPtr dom;
	uint64_t min_ns;
	uint64_t last;
	bool started;
};

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
	free(c);
}

/* The sum of vcpu.N.time over the domain's vCPUs. */
static int read_vcpu_time(virDomainPtr dom, uint64_t *ret, struct dg_error *err)
{
	virDomainPtr doms[2] = { dom, NULL };
	virDomainStatsRecordPtr *recs = NULL;
	uint64_t sum = 0;
	unsigned found = 0;
	int n, r;

	n = virDomainListGetStats(doms, VIR_DOMAIN_STATS_VCPU, &recs, VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT);
	if (n < 0)
		return dg_lv_error(err, DG_UNAVAILABLE, "cannot read the vCPU statistics of %s", virDomainGetName(dom));
	for (int i = 0; i < n; i++)
		for (int j = 0; j < recs[i]->nparams; j++) {
			const virTypedParameter *p = &recs[i]->params[j];
			unsigned idx;
			char tail[8];

			if (p->type == VIR_TYPED_PARAM_ULLONG && sscanf(p->field, "vcpu.%u.%7s", &idx, tail) == 2 &&
			    !strcmp(tail, "time")) {
				sum += p->value.ul;
				found++;
			}
		}
	virDomainStatsRecordListFree(recs);
	if (!found) {
		r = dg_error_set(err, DG_UNAVAILABLE, "libvirt reported no vCPU time for %s (domain busy or not running)",
				 virDomainGetName(dom));
		return r;
	}
	*ret = sum;
	return 0;
}

static int ct_check(void *state, struct dg_error *err)
{
	struct cputime *c = state;
	uint64_t now = 0;
	int r = read_vcpu_time(c->dom, &now, err);

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

int dg_probe_cputime_new(virDomainPtr dom, uint64_t min_ns, struct dg_probe *ret, struct dg_error *err)
{
	struct cputime *c;

	if (!dom)
		return dg_error_set(err, DG_USAGE, "cputime probe needs a domain");
	c = calloc(1, sizeof(*c));
	if (!c)
		return dg_error_set(err, DG_FAILED, "out of memory");
	if (virDomainRef(dom) < 0) {
		free(c);
		return dg_lv_error(err, DG_FAILED, "cannot hold the domain");
	}
	c->dom = dom;
	c->min_ns = min_ns;
	ret->ops = &cputime_ops;
	ret->state = c;
	return 0;
}
