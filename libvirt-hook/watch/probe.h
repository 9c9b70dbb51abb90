/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <libvirt/libvirt.h>

#include "diagint/error.h"
#include "diagint/probe_kinds.h"

/* An active probe: a way to ask "is this guest still alive?" of a guest that cannot report its own hang. The
 * watcher calls check() once per interval and counts consecutive misses; N misses in a row is a hang. Adding a
 * probe is one new file implementing these ops and one constructor. check() must not block: a probe that has
 * to wait for the guest (the agent ping) waits on a thread of its own and reports at the next check. */

struct dg_probe_ops {
	const char *name; /* "heartbeat", "cputime", "agent": in logs and audit evidence */
	const char *sign; /* what a sign of life is, for "first ... seen" */
	const char *miss; /* what a miss means, for the evidence of a hang */
	/* 1: alive; 0: no sign of life since the last check; -status: could not look (counts as a miss, err
	 * says why). */
	int (*check)(void *state, struct dg_error *err);
	void (*free)(void *state);
};

struct dg_probe {
	const struct dg_probe_ops *ops;
	void *state;
};

/* Console heartbeat: `pattern` (a fixed string) must appear in what the serial log file at `log_path` gained
 * since the previous check. Output written before the probe starts does not count. A file that shrank
 * (rotated, truncated) is read from its start; at most the last 1 MiB of growth is read per check. */
int dg_probe_heartbeat_new(const char *log_path, const char *pattern, struct dg_probe *ret, struct dg_error *err);

/* vCPU time progress: the CPU time all of the domain's vCPUs used together (virDomainGetVcpus, what `virsh
 * vcpuinfo` shows) must grow by more than min_ns between two checks. A guest halted with interrupts off, or
 * whose vCPUs are stuck outside the guest, shows none. The first check only takes the baseline. The probe keeps
 * its own reference to dom. */
int dg_probe_cputime_new(virDomainPtr dom, uint64_t min_ns, struct dg_probe *ret, struct dg_error *err);
/* Many domains on one connection: one sampler reads every running domain's vCPU time in a single
 * virConnectGetAllDomainStats call, reused by every probe that looks within max_age seconds of it (the watcher
 * aligns its probes so that those due together share one call). Probes made with it hold a reference. */
struct dg_vcpu_sampler;
int dg_vcpu_sampler_new(virConnectPtr conn, double max_age, struct dg_vcpu_sampler **ret, struct dg_error *err);
void dg_vcpu_sampler_unref(struct dg_vcpu_sampler *s); /* accepts NULL */
/* Like dg_probe_cputime_new, reading through the sampler s (required; dg_probe_cputime_new makes one of its own
 * that never reuses a sample). */
int dg_probe_cputime_sampled_new(struct dg_vcpu_sampler *s, virDomainPtr dom, uint64_t min_ns, struct dg_probe *ret,
				 struct dg_error *err);
/* The decision alone, for tests: 1 when the time grew by more than min_ns, else 0. */
int dg_probe_cputime_judge(uint64_t before_ns, uint64_t now_ns, uint64_t min_ns);

/* Guest agent ping: `{"execute":"guest-ping"}` through libvirt must be answered. Each check() reports the ping
 * sent at the previous check (answered: alive; failed or still unanswered: a miss) and sends the next one, on
 * a thread of the probe's own, waiting at most timeout_s. Alone a weak signal: an agent can be stopped,
 * upgraded or starved while the guest is fine (libvirt#590), so combine it with another probe. */
int dg_probe_agent_new(virDomainPtr dom, int timeout_s, struct dg_probe *ret, struct dg_error *err);

static inline int dg_probe_check(struct dg_probe *p, struct dg_error *err)
{
	return p->ops->check(p->state, err);
}

static inline void dg_probe_free(struct dg_probe *p)
{
	if (p->ops && p->ops->free)
		p->ops->free(p->state);
	p->ops = NULL;
	p->state = NULL;
}
