/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* EC2's answers to SendDiagnosticInterrupt and its DryRun (XML), judged by the provider (reply.h: the input's
 * shape and the verdict's invariants). */
#include "reply.h"

extern const struct dg_provider dg_provider_aws;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void *ctx;

	if (!ctx) {
		struct dg_provider_env env = { .endpoint = "https://127.0.0.1:8443/" };
		struct dg_error err = { 0 };
		setenv("AWS_ACCESS_KEY_ID", "AKIDFUZZ", 1);
		setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
		setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
		if (dg_provider_aws.open(&env, &ctx, &err) < 0 || dg_provider_aws.auth(ctx, &env, &err) < 0)
			abort();
	}
	fz_judge(&dg_provider_aws, ctx, "aws:us-east-1/i-0123456789abcdef0", 200, data, size);
	return 0;
}
