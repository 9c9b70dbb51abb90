/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared between the audit log's own files (writer, verify, query); not part of the public surface. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "diagint/audit.h"

/* Open a log or head to read: O_NONBLOCK, so a FIFO put in its place cannot hang the open or the reads.
 * -1 with errno when it cannot be opened; -2 when it is not a regular file (FIFO, device, directory) or
 * /dev/null. */
static inline int dg_audit_open_regular(const char *path, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd < 0)
		return -1;
	if (fstat(fd, st) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	/* /dev/null reads as an empty log (the CLI's stand-in for a log not written yet). */
	if (!S_ISREG(st->st_mode) && !(S_ISCHR(st->st_mode) && st->st_rdev == makedev(1, 3))) {
		close(fd);
		return -2;
	}
	return fd;
}

#define DG_AUDIT_NOT_REGULAR "%s is not a regular file (a FIFO, a device or a directory): name the file itself"

#define DG_AUDIT_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
/* Every keyed line ends with this member: ,"hmac":"<64 hex>"} */
#define DG_AUDIT_HMAC_TAIL_LEN (sizeof(",\"hmac\":\"") - 1 + DG_SHA256_HEX_LEN + 2)

/* Render a record as one line (no newline) in the canonical layout {"v":1,"seq":N,"prev":"HEX",...[,"hmac":H]}.
 * Returns a malloc'ed string, NULL when out of memory. */
char *dg_audit_render(const struct dg_audit_event *ev, uint64_t seq, const char *prev, const unsigned char *key,
		      size_t keylen, size_t *ret_len);

/* HMAC-SHA256 (hex) of a keyed line's bytes without its hmac member; false when the line carries none. */
bool dg_audit_line_hmac(const char *line, size_t len, const unsigned char *key, size_t keylen,
			char hex[DG_SHA256_HEX_LEN + 1], const char **ret_claimed);
/* HMAC-SHA256 (hex) of a buffer. */
void dg_audit_hmac(const unsigned char *key, size_t keylen, const void *data, size_t len,
		   char hex[DG_SHA256_HEX_LEN + 1]);

/* The canonical text of a time: 2026-11-22T10:00:00.123456789Z. Compares as a string in time order. */
void dg_audit_format_time(const struct timespec *ts, char *buf, size_t len);

/* Head file body (JSON + newline) for a head, keyed when key is given. malloc'ed. */
char *dg_audit_head_render(const struct dg_audit_head *head, const unsigned char *key, size_t keylen,
			   size_t *ret_len);
/* Parse a head file's body; with a key, its HMAC must be right (else -DG_FAILED). */
int dg_audit_head_parse(const char *text, size_t len, const unsigned char *key, size_t keylen,
			struct dg_audit_head *ret, bool *ret_keyed, struct dg_error *err);
