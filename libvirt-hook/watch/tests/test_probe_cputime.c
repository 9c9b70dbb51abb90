/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vCPU-time probe: the decision on numbers, and the libvirt side on the test driver, which has domains but
 * reports no vCPU time (a real guest's is tested in tests/integration/test_watch_probes.py). */
#include <string.h>

#include "watch/probe.h"
#include "tap.h"

int main(void)
{
	struct dg_probe p = { 0 };
	struct dg_error err = { 0 };
	virConnectPtr conn;
	virDomainPtr dom;

	CHECK(dg_probe_cputime_judge(1000, 1001, 0) == 1, "any growth is alive with no minimum");
	CHECK(dg_probe_cputime_judge(1000, 1000, 0) == 0, "no growth is a miss");
	CHECK(dg_probe_cputime_judge(1000, 10001000, 10000000) == 0, "growth of exactly the minimum is a miss");
	CHECK(dg_probe_cputime_judge(1000, 10001001, 10000000) == 1, "more than the minimum is alive");
	CHECK(dg_probe_cputime_judge(5000, 10, 0) == 1, "time going back (vCPU unplugged) is not a miss");
	CHECK(dg_probe_cputime_judge(0, UINT64_MAX, 0) == 1, "no overflow at the top");

	CHECK(dg_probe_cputime_new(NULL, 0, &p, &err) < 0 && err.status == DG_USAGE, "no domain: usage error");

	conn = virConnectOpen("test:///default");
	if (!conn)
		SKIP_ALL("test:///default unavailable");
	dom = virDomainLookupByName(conn, "test");
	CHECK(dom != NULL, "the test driver's domain");
	if (dom) {
		memset(&err, 0, sizeof(err));
		CHECK(dg_probe_cputime_new(dom, 0, &p, &err) == 0, "created: %s", err.message);
		/* The probe keeps its own reference: the caller's may go. */
		virDomainFree(dom);
		memset(&err, 0, sizeof(err));
		CHECK(dg_probe_check(&p, &err) < 0 && err.status == DG_UNAVAILABLE, "no vCPU time: could not look");
		CHECK(strstr(err.message, "no vCPU time for test"), "the message names the domain: %s", err.message);
		CHECK(!strcmp(p.ops->name, "cputime") && p.ops->miss && p.ops->sign, "ops describe the probe");
		dg_probe_free(&p);
		CHECK(p.ops == NULL && p.state == NULL, "freed");

		/* Through a sampler: one call for every domain, the probe outliving the caller's reference. */
		{
			struct dg_vcpu_sampler *s = NULL;

			memset(&err, 0, sizeof(err));
			CHECK(dg_vcpu_sampler_new(conn, 0.1, &s, &err) == 0 && s, "sampler: %s", err.message);
			dom = virDomainLookupByName(conn, "test");
			CHECK(dg_probe_cputime_sampled_new(s, dom, 0, &p, &err) == 0, "sampled probe created");
			virDomainFree(dom);
			dg_vcpu_sampler_unref(s);
			memset(&err, 0, sizeof(err));
			CHECK(dg_probe_check(&p, &err) < 0 && err.status == DG_UNAVAILABLE &&
				      strstr(err.message, "no vCPU time for test"),
			      "sampled: no vCPU time is could-not-look, naming the domain: %s", err.message);
			memset(&err, 0, sizeof(err));
			CHECK(dg_probe_check(&p, &err) < 0, "again, from the cached sample");
			dg_probe_free(&p);
			dg_vcpu_sampler_unref(NULL);
		}
	}
	virConnectClose(conn);
	return tap_done();
}
