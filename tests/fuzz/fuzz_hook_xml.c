/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The domain XML libvirt hands the hook on stdin (libvirt-hook/diagint-hook.c): read with the hook's own
 * functions (its source is included here, its main() renamed), the way its main() does: xmlReadMemory with the
 * same options, then the name, the uuid and <memory unit=...> through the same XPath reads. Invariants: a name
 * and uuid are non-empty strings or absent; the memory size is the number times its unit without overflow, or 0
 * (an unknown unit or an overflow: no room check). */
#include <limits.h>
#include <stdint.h>

#define main dg_hook_main
#include "../../libvirt-hook/diagint-hook.c"
#undef main

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	xmlDocPtr doc;
	xmlXPathContextPtr ctx;
	char *name, *uuid;
	uint64_t bytes;

	if (size > INT_MAX)
		return 0;
	doc = size ? xmlReadMemory((const char *)data, (int)size, "domain.xml", NULL,
				   XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)
		   : NULL;
	ctx = doc ? xmlXPathNewContext(doc) : NULL;
	if (ctx) {
		name = xpath_string(ctx, "string(/domain/name)");
		uuid = xpath_string(ctx, "string(/domain/uuid)");
		FZ_CHECK(!name || name[0], "an empty name");
		FZ_CHECK(!uuid || uuid[0], "an empty uuid");
		bytes = memory_bytes(ctx);
		{
			char *v = xpath_string(ctx, "string(/domain/memory)");
			if (!v)
				FZ_CHECK(bytes == 0, "%llu bytes without a <memory>", (unsigned long long)bytes);
			else if (bytes)
				FZ_CHECK(bytes >= strtoull(v, NULL, 10), "%llu bytes for <memory>%s",
					 (unsigned long long)bytes, v);
			free(v);
		}
		free(name);
		free(uuid);
	}
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	return 0;
}
