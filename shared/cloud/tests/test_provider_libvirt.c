/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvirt behind the provider interface, with libvirt's in-process test driver (test:///default: a running
 * domain "test"), through the send engine: NMI, dry run, not found, a shut-off domain. */
#include <string.h>

#include "diagint/send.h"
#include "tap.h"

int main(void)
{
	struct dg_send_opts o = { .libvirt_uri = "test:///default", .retries = -1 };
	struct dg_target t[2];
	struct dg_send_result res[2];
	struct dg_sender *s = NULL;
	struct dg_error err = { 0 };
	int r;

	CHECK(dg_sender_new(&o, &s, &err) == 0, "sender");
	dg_target_parse("libvirt:test", &t[0], NULL);
	dg_target_parse("libvirt:nope", &t[1], NULL);
	r = dg_sender_run(s, t, 2, res);
	CHECK(r == -DG_NOTFOUND, "overall status: the first failure (%d)", r);
	CHECK(res[0].status == DG_OK && strstr(res[0].message, "NMI injected") && res[0].sent && res[0].attempts == 1,
	      "NMI into the running domain: %s", res[0].message);
	CHECK(res[1].status == DG_NOTFOUND && strstr(res[1].message, "not found"), "unknown domain: %s", res[1].message);
	dg_sender_free(s);

	o.dry_run = true;
	CHECK(dg_sender_new(&o, &s, &err) == 0, "dry-run sender");
	r = dg_sender_run(s, t, 1, res);
	CHECK(r == 0 && res[0].status == DG_OK && !res[0].sent && strstr(res[0].message, "dry run"),
	      "dry run looks the domain up only: %s", res[0].message);
	dg_sender_free(s);

	o.dry_run = false;
	o.libvirt_uri = "test:///nonexistent-file.xml";
	CHECK(dg_sender_new(&o, &s, &err) == 0, "sender with a bad URI");
	r = dg_sender_run(s, t, 1, res);
	CHECK(r < 0 && res[0].status != DG_OK && res[0].attempts == 0 && !res[0].sent,
	      "unopenable connection: nothing sent (%s)", res[0].message);
	dg_sender_free(s);
	return tap_done();
}
