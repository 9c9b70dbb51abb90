/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Google token endpoint's and the metadata server's answers (dg_gcp_token_answer, creds_gcp.c). Input: an
 * HTTP answer as reply.h reads it; FLAGS bit 0 picks the metadata server (its Metadata-Flavor check) over a
 * service account. Invariants: a known status; success means a token fit to send in a header and an expiry
 * computed without overflow (UBSan), and nothing else; a failure leaves the cached token alone. */
#include "cloud/creds_gcp.h"
#include "reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_gcp_auth a;
	struct dg_error err = { 0 };
	struct fz_reply r;
	time_t now = 1790000000;
	int rc;

	fz_reply_parse(data, size, &r);
	memset(&a, 0, sizeof(a));
	a.kind = r.dry_run ? DG_GCP_METADATA : DG_GCP_SERVICE_ACCOUNT;
	snprintf(a.source, sizeof(a.source), "fuzz");
	a.metadata_host = strdup("169.254.169.254");
	a.token = strdup("old-token");
	a.expires = now - 1;
	rc = dg_gcp_token_answer(&a, &r.resp, now, &err);
	fz_check_status(rc, &err);
	if (rc == 0) {
		FZ_CHECK(r.resp.status == 200, "a token from HTTP %ld", r.resp.status);
		FZ_CHECK(a.token && dg_http_token_valid(a.token), "a token unfit for a header");
		FZ_CHECK(a.fetches == 1, "fetches %lu", a.fetches);
	} else {
		FZ_CHECK(a.token && !strcmp(a.token, "old-token"), "a failed answer changed the token");
	}
	dg_gcp_auth_clear(&a);
	dg_http_resp_clear(&r.resp);
	return 0;
}
