/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The domain XML libvirt hands the hook on stdin (libvirt-hook/diagint-hook.c), read the way its main() does:
 * with the shared reader, dg_domxml_parse_len (shared/libvirt/domxml.c), over exactly the bytes given.
 * Invariants: the name and uuid are NUL-terminated within their fields; a document without <memory> has no
 * size (0: no room check); a size is never less than the number written (units only multiply). */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diagint/domxml.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_domxml x;
	struct dg_error err = { 0 };
	const char *m;

	if (!size || size > INT_MAX || dg_domxml_parse_len((const char *)data, size, &x, &err) < 0)
		return 0;
	FZ_CHECK(memchr(x.name, '\0', sizeof(x.name)) != NULL, "a name without its NUL");
	FZ_CHECK(memchr(x.uuid, '\0', sizeof(x.uuid)) != NULL, "a uuid without its NUL");
	m = memmem(data, size, "<memory", 7);
	if (!m)
		FZ_CHECK(x.memory_bytes == 0, "%llu bytes without a <memory>", (unsigned long long)x.memory_bytes);
	return 0;
}
