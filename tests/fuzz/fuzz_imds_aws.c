/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The EC2 instance metadata service's credentials document (dg_aws_imds_document, creds_aws.c): the JSON whose
 * keys are then signed with and whose Token is sent back as a header. Invariants: 1, 0 or -DG_FAILED; usable
 * means a key id and a secret; a session token only when the document had one; the expiry is 0 or a time; an
 * unusable document says why (made one line by dg_error_set where it is shown); nothing is left allocated after
 * dg_aws_creds_clear (ASan). */
#include "cloud/creds_aws.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_aws_creds c;
	char why[256] = "", *doc = fz_strndup(data, size);
	int r;

	memset(&c, 0, sizeof(c));
	r = dg_aws_imds_document(doc, &c, why, sizeof(why));
	FZ_CHECK(r == 1 || r == 0 || r == -DG_FAILED, "returned %d", r);
	if (r == 1) {
		FZ_CHECK(c.access_key_id && c.secret_access_key, "usable without a key id and secret");
		FZ_CHECK(!c.session_token || strstr(doc, "Token"), "a session token from nowhere");
		FZ_CHECK(c.expiration >= 0, "expiration %lld", (long long)c.expiration);
	} else if (r == 0) {
		FZ_CHECK(why[0] && fz_terminated(why, sizeof(why)), "unusable without a reason"); /* one line: dg_error_set */
		FZ_CHECK(!c.access_key_id && !c.secret_access_key, "keys set from an unusable document");
	}
	dg_aws_creds_clear(&c);
	free(doc);
	return 0;
}
