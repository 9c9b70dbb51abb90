/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Keystone's answer to the token request: X-Subject-Token and the token body with its expiry and service catalog
 * (dg_os_token_answer, creds_openstack.c). Input: an HTTP answer as reply.h reads it; FLAGS bit 0 asks for a
 * region. Invariants: a known status; success means a token fit to send in a header, an expiry, and a compute
 * URL only from a compute endpoint of the wanted interface. */
#include "cloud/creds_openstack.h"
#include "reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_os_auth a;
	struct dg_error err = { 0 };
	struct fz_reply r;
	time_t now = 1790000000;
	int rc;

	fz_reply_parse(data, size, &r);
	memset(&a, 0, sizeof(a));
	snprintf(a.source, sizeof(a.source), "fuzz");
	a.interface = strdup("public");
	a.region = r.dry_run ? strdup("RegionOne") : NULL;
	a.auth_url = strdup("https://keystone:5000/v3");
	rc = dg_os_token_answer(&a, &r.resp, now, &err);
	fz_check_status(rc, &err);
	if (rc == 0) {
		FZ_CHECK(r.resp.status == 200 || r.resp.status == 201, "a token from HTTP %ld", r.resp.status);
		FZ_CHECK(a.token && dg_http_token_valid(a.token), "a token unfit for a header");
		FZ_CHECK(a.expires > 0, "no expiry");
		FZ_CHECK(!a.compute_url || strstr(r.resp.body, "compute"), "a compute URL without a compute service");
	} else {
		FZ_CHECK(!a.token, "a failed answer set a token");
	}
	dg_os_auth_clear(&a);
	dg_http_resp_clear(&r.resp);
	return 0;
}
