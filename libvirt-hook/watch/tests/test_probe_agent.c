/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest-agent probe's plumbing on the test driver, which has no agent: every ping fails, each check reports
 * the previous ping, and the probe can be freed at any moment. A real agent is tested in
 * tests/integration/test_watch_probes.py. */
#include <string.h>
#include <unistd.h>

#include "watch/probe.h"
#include "tap.h"

int main(void)
{
	struct dg_probe p = { 0 };
	struct dg_error err = { 0 };
	virConnectPtr conn;
	virDomainPtr dom;
	int r = 0;

	conn = virConnectOpen("test:///default");
	if (!conn)
		SKIP_ALL("test:///default unavailable");
	dom = virDomainLookupByName(conn, "test");
	CHECK(dom != NULL, "the test driver's domain");
	if (!dom)
		return tap_done();
	CHECK(dg_probe_agent_new(NULL, 5, &p, &err) < 0 && err.status == DG_USAGE, "no domain: usage error");
	CHECK(dg_probe_agent_new(dom, 0, &p, &err) < 0 && err.status == DG_USAGE, "no timeout: usage error");

	memset(&err, 0, sizeof(err));
	CHECK(dg_probe_agent_new(dom, 2, &p, &err) == 0, "created: %s", err.message);
	CHECK(!strcmp(p.ops->name, "agent"), "named agent");
	/* The first ping went out at creation; the failure arrives at once on this driver. */
	for (int i = 0; i < 200; i++) {
		memset(&err, 0, sizeof(err));
		r = dg_probe_check(&p, &err);
		if (r < 0)
			break;
		usleep(10000);
	}
	CHECK(r < 0 && err.status == DG_UNAVAILABLE, "a failed ping is reported as could-not-look");
	CHECK(strstr(err.message, "guest-ping: ") && strstr(err.message, "not supported"),
	      "the message says why: %s", err.message);
	/* Every check asks again: the next failure is reported too, never an alive. */
	usleep(100000);
	memset(&err, 0, sizeof(err));
	r = dg_probe_check(&p, &err);
	CHECK(r <= 0, "still no sign of life (%d)", r);
	dg_probe_free(&p);
	CHECK(p.ops == NULL, "freed");

	/* Freed with a ping just asked for: the thread lets go of the state itself. */
	memset(&err, 0, sizeof(err));
	CHECK(dg_probe_agent_new(dom, 2, &p, &err) == 0, "created again");
	dg_probe_free(&p);
	virDomainFree(dom);
	virConnectClose(conn);
	/* Let the detached threads finish before the leak checker looks. */
	usleep(200000);
	return tap_done();
}
