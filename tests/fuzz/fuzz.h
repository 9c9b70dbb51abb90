/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by every libFuzzer harness here (fuzz_NAME.c): invariant checks that abort with a message, and
 * scratch files for parsers that read a file (credentials, configuration, the audit log). The same harnesses run
 * under libFuzzer (-Dfuzz=true, clang) and under driver.c in the unit suite. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diagint/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant: abort (a libFuzzer crash, a failed unit test) with what broke. */
#define FZ_CHECK(cond, ...)                                                                          \
	do {                                                                                         \
		if (!(cond)) {                                                                       \
			fprintf(stderr, "fuzz invariant broken at %s:%d: ", __FILE__, __LINE__);     \
			fprintf(stderr, __VA_ARGS__);                                                \
			fputc('\n', stderr);                                                         \
			abort();                                                                     \
		}                                                                                    \
	} while (0)

/* The input as a C string (embedded NULs end it early, as they would in a file read as text). */
static inline char *fz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A NUL within len bytes (a fixed buffer was terminated). */
static inline bool fz_terminated(const char *s, size_t len)
{
	return memchr(s, '\0', len) != NULL;
}

/* No byte below 0x20 and no DEL: a one-line message a terminal shows as it is. */
static inline bool fz_one_line(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return false;
	return true;
}

/* What every core function that returns 0 or -status must hold: a known status, the error filled in. */
static inline void fz_check_status(int r, const struct dg_error *err)
{
	FZ_CHECK(r <= 0 && r >= -DG_REFUSED, "returned %d, not 0 or -status", r);
	FZ_CHECK(fz_terminated(err->message, sizeof(err->message)), "error message not terminated");
	if (r < 0)
		FZ_CHECK(err->status == (enum dg_status)-r && err->message[0],
			 "returned %d but the error says status %d, message \"%s\"", r, err->status, err->message);
}

/* A private scratch directory (one per process, removed at exit) on tmpfs when there is one. */
static char fz_dir[256];

static void fz_dir_remove(void)
{
	char cmd[300];

	if (fz_dir[0] && strstr(fz_dir, "dg-fuzz-")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fz_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", fz_dir);
	}
}

static inline const char *fz_scratch(void)
{
	if (!fz_dir[0]) {
		const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(fz_dir, sizeof(fz_dir), "%s/dg-fuzz-XXXXXX", base);
		if (!mkdtemp(fz_dir))
			abort();
		atexit(fz_dir_remove);
	}
	return fz_dir;
}

/* Write data to NAME in the scratch directory, mode 0600 (what the credential readers demand). */
static inline const char *fz_write_file(const char *name, const void *data, size_t size)
{
	static char path[4][512];
	static unsigned slot;
	char *p = path[slot++ % 4];
	int fd;

	snprintf(p, sizeof(path[0]), "%s/%s", fz_scratch(), name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || close(fd) < 0)
		abort();
	return p;
}

/* Split the input at the first "\n%%\n": two files from one input (credentials and config, log and head). */
static inline void fz_split(const uint8_t *data, size_t size, const uint8_t **a, size_t *alen, const uint8_t **b,
			    size_t *blen)
{
	const uint8_t *m = size >= 4 ? memmem(data, size, "\n%%\n", 4) : NULL;

	*a = data;
	*alen = m ? (size_t)(m - data) + 1 : size;
	*b = m ? m + 4 : data + size;
	*blen = m ? size - (size_t)(*b - data) : 0;
}
