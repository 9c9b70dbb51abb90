/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Compute Engine's answers to sendDiagnosticInterrupt and the dry run's instance GET and testIamPermissions
 * (JSON), judged by the provider (reply.h: the input's shape and the verdict's invariants). */
#include "cloud/creds_gcp.h"
#include "reply.h"

extern const struct dg_provider dg_provider_gcp;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void *ctx;

	if (!ctx) {
		struct dg_provider_env env = { 0 };
		struct dg_error err = { 0 };
		unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
		setenv("HOME", "/nonexistent", 1);
		setenv("GCE_METADATA_HOST", "127.0.0.1:9", 1);
		setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE", "https://127.0.0.1:8443", 1);
		if (dg_provider_gcp.open(&env, &ctx, &err) < 0)
			abort();
		((struct dg_gcp_auth *)ctx)->token = strdup("ya29.fuzz"); /* the context's first member */
	}
	fz_judge(&dg_provider_gcp, ctx, "gcp:my-project/us-central1-a/web-1", 200, data, size);
	return 0;
}
