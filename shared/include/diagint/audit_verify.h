/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diagint/audit.h"
#include "diagint/error.h"

/* Check an audit log: every record chains to the one before (seq + 1, prev = SHA-256 of its line), every HMAC
 * is right when a key is given, the live file's head anchor (PATH.head) matches, and so does every
 * announcement of the head found in an external log (syslog, auditd). */

struct dg_audit_verify_opts {
	const unsigned char *key; /* NULL: HMACs are not checked (verify says so) */
	size_t keylen;
	bool no_head;             /* do not check PATH.head (a rotated file has none) */
	const char *anchors;      /* a text log with the head announcements (syslog file, audit.log), or NULL */
};

#define DG_AUDIT_VERIFY_NOTES 4

struct dg_audit_verify_result {
	bool ok;
	uint64_t records;
	uint64_t first_seq, last_seq;
	char last_sha256[DG_SHA256_HEX_LEN + 1];
	uint64_t keyed;               /* records carrying an HMAC */
	uint64_t hmac_checked;
	uint64_t anchors_checked;     /* external announcements matched */
	bool head_checked;
	/* The first problem: where and why. */
	char bad_file[PATH_MAX];
	uint64_t bad_line;            /* 1-based; 0 when the problem is not one line (a missing tail) */
	uint64_t bad_seq;             /* the record's seq when it could be read */
	char problem[1024];
	char notes[DG_AUDIT_VERIFY_NOTES][512]; /* what passed but deserves a word (HMACs not checked, ...) */
	unsigned nnotes;
};

/* Verify files in chain order (rotated ones first, the live log last). Returns 0 when the chain holds;
 * -DG_FAILED when it does not (res->problem says where and why); other statuses when a file cannot be read. */
int dg_audit_verify(const char *const *files, size_t nfiles, const struct dg_audit_verify_opts *opts,
		    struct dg_audit_verify_result *res, struct dg_error *err);
