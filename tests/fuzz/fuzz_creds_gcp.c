/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A Google credentials file (GOOGLE_APPLICATION_CREDENTIALS): service account (with its PEM private key) or
 * authorized user, read by dg_gcp_auth_init. Invariants: a known status; success means every field the token
 * request needs, by kind; nothing left allocated after dg_gcp_auth_clear (ASan's leak check). */
#include "cloud/creds_gcp.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct dg_gcp_auth a;
	struct dg_error err = { 0 };
	int r;

	if (!ready) {
		setenv("HOME", "/nonexistent", 1);
		unsetenv("CLOUDSDK_CONFIG");
		unsetenv("GCE_METADATA_HOST");
		ready = true;
	}
	setenv("GOOGLE_APPLICATION_CREDENTIALS", fz_write_file("gcp.json", data, size), 1);
	memset(&a, 0, sizeof(a));
	r = dg_gcp_auth_init(&a, &err);
	fz_check_status(r, &err);
	if (r == 0) {
		FZ_CHECK(a.token_uri && a.token_uri[0], "no token_uri");
		FZ_CHECK(fz_terminated(a.source, sizeof(a.source)), "source not terminated");
		if (a.kind == DG_GCP_SERVICE_ACCOUNT)
			FZ_CHECK(a.client_email && a.client_email[0] && a.key, "service account without email or key");
		else
			FZ_CHECK(a.kind == DG_GCP_AUTHORIZED_USER && a.client_id && a.client_secret && a.refresh_token,
				 "authorized user without client id, secret or refresh token (kind %d)", a.kind);
	}
	dg_gcp_auth_clear(&a);
	return 0;
}
