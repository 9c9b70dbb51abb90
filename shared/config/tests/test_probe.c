/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The probe kinds as Probes= and probes="" spell them: words, separators, case, "none", unknown words. */
#include <string.h>

#include "diagint/probe_kinds.h"
#include "tap.h"

int main(void)
{
	unsigned m = 99;
	struct dg_error err = { 0 };
	const char *e = err.message;
	char buf[64];

	CHECK(dg_probe_kinds_parse("heartbeat cputime agent", &m, &err) == 0 && m == DG_PROBE_ALL,
	      "all three words");
	CHECK(dg_probe_kinds_parse("  CPUTIME,agent ", &m, &err) == 0 &&
		      m == (DG_PROBE_CPUTIME | DG_PROBE_AGENT),
	      "commas, spaces, any case");
	CHECK(dg_probe_kinds_parse("", &m, &err) == 0 && m == 0, "empty: none");
	CHECK(dg_probe_kinds_parse("none", &m, &err) == 0 && m == 0, "none");
	CHECK(dg_probe_kinds_parse("agent agent", &m, &err) == 0 && m == DG_PROBE_AGENT, "repeated word");
	m = 7;
	CHECK(dg_probe_kinds_parse("heartbeat ping", &m, &err) == -DG_USAGE && m == 7, "unknown word refused, "
	      "mask untouched");
	CHECK(strstr(e, "'ping'") && strstr(e, "cputime"), "the message names the word and the known ones: %s", e);
	CHECK_STR(dg_probe_kinds_format(DG_PROBE_ALL, buf, sizeof(buf)), "heartbeat cputime agent", "format all");
	CHECK_STR(dg_probe_kinds_format(DG_PROBE_AGENT, buf, sizeof(buf)), "agent", "format one");
	CHECK_STR(dg_probe_kinds_format(0, buf, sizeof(buf)), "none", "format none");
	CHECK(dg_probe_kinds_parse(dg_probe_kinds_format(DG_PROBE_HEARTBEAT | DG_PROBE_AGENT, buf, sizeof(buf)), &m,
				   &err) == 0 && m == (DG_PROBE_HEARTBEAT | DG_PROBE_AGENT),
	      "format and parse round trip");
	return tap_done();
}
