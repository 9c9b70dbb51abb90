/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stddef.h>
#include <string.h>

#include "diagint/provider.h"

/* The registry: one X(name) per provider, defined in provider_NAME.c as dg_provider_NAME. */
#define DG_PROVIDERS(X) X(gcp) X(aws) X(oci) X(openstack) X(libvirt)

#define DECLARE(n) extern const struct dg_provider dg_provider_##n;
DG_PROVIDERS(DECLARE)
#undef DECLARE

#define ENTRY(n) &dg_provider_##n,
static const struct dg_provider *const registry[] = { DG_PROVIDERS(ENTRY) };
#undef ENTRY

const struct dg_provider *dg_provider_find(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(registry) / sizeof(registry[0]); i++)
		if (strlen(registry[i]->name) == len && !memcmp(registry[i]->name, name, len))
			return registry[i];
	return NULL;
}

const struct dg_provider *dg_provider_at(unsigned index)
{
	return index < sizeof(registry) / sizeof(registry[0]) ? registry[index] : NULL;
}
