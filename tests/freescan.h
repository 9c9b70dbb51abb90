/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* "Was a secret handed back to malloc unwiped?" The test program's own free() sees every block freed through
 * free() in the process, json-c's and OpenSSL's included, and counts those that still hold the marker.
 * Blocks the C library frees inside realloc() are not seen. Under ASan (which owns free()) nothing is
 * interposed and freescan_active() says so. Include in one file of a test program only. */
#pragma once

#include <malloc.h>
#include <stdbool.h>
#include <string.h>

static const char *freescan_marker;
static unsigned freescan_hits;

#if defined(__SANITIZE_ADDRESS__)
static inline bool freescan_active(void)
{
	return false;
}
#else
extern void __libc_free(void *p);

void free(void *p)
{
	if (p && freescan_marker && memmem(p, malloc_usable_size(p), freescan_marker, strlen(freescan_marker)))
		freescan_hits++;
	__libc_free(p);
}

static inline bool freescan_active(void)
{
	return true;
}
#endif

/* Start counting freed blocks that hold marker (NULL: stop). */
static inline void freescan_watch(const char *marker)
{
	freescan_marker = marker;
	freescan_hits = 0;
}
