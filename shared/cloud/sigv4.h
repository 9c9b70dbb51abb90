/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "diagint/error.h"

/* AWS Signature Version 4 (HMAC-SHA256), header and query-string (presigned) forms, as specified by the AWS
 * SigV4 test suite (aws-c-auth tests/aws-signing-test-suite/v4), which the unit tests pass in full. */

struct dg_sigv4_header {
	const char *name;
	const char *value;
};

struct dg_sigv4_request {
	const char *method;
	const char *path;     /* as on the request line, without the query; not yet percent-encoded */
	const char *query;    /* as on the request line after '?'; NULL or "" when none */
	const struct dg_sigv4_header *headers; /* must include host */
	size_t n_headers;
	const void *body;
	size_t body_len;
};

struct dg_sigv4_key {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token; /* NULL for long-term keys */
};

struct dg_sigv4_opts {
	const char *region;
	const char *service;
	time_t when;
	bool normalize_path;     /* remove dot segments and double slashes: every service but S3 */
	bool sign_body;          /* add and sign x-amz-content-sha256 */
	bool omit_session_token; /* send the token but do not sign it */
	bool presign;            /* sign the query string instead of adding an Authorization header */
	long expires;            /* presign: X-Amz-Expires seconds */
};

struct dg_sigv4 {
	char *canonical_request;
	char *string_to_sign;
	char signature[65];
	char amz_date[17];       /* 20150830T123600Z: send as X-Amz-Date (header form) */
	char payload_hash[65];   /* send as x-amz-content-sha256 when sign_body */
	char *signed_headers;    /* "host;x-amz-date" */
	char *authorization;     /* header form: the Authorization header's value */
	char *query;             /* presign form: the whole query string to send */
};

int dg_sigv4_sign(const struct dg_sigv4_request *req, const struct dg_sigv4_key *key,
		  const struct dg_sigv4_opts *opts, struct dg_sigv4 *ret, struct dg_error *err);
/* Frees and wipes; accepts a zeroed or NULL struct. */
void dg_sigv4_clear(struct dg_sigv4 *s);
