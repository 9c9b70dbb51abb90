/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Nova's answers to trigger_crash_dump and the dry run's server GET (JSON), judged by the provider (reply.h: the
 * input's shape and the verdict's invariants). */
#include "cloud/creds_openstack.h"
#include "reply.h"

extern const struct dg_provider dg_provider_openstack;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void *ctx;

	if (!ctx) {
		struct dg_provider_env env = { .endpoint = "https://nova:8774/v2.1/" };
		struct dg_error err = { 0 };
		setenv("OS_AUTH_URL", "https://keystone:5000", 1);
		setenv("OS_USERNAME", "u", 1);
		setenv("OS_PASSWORD", "p", 1);
		if (dg_provider_openstack.open(&env, &ctx, &err) < 0)
			abort();
		((struct dg_os_auth *)ctx)->token = strdup("gAAAAfuzz");
	}
	fz_judge(&dg_provider_openstack, ctx, "openstack:4f2a6c1e-5b7d-4e21-9a0b-3c8d2e1f0a9b", 202, data, size);
	return 0;
}
