/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <time.h>

#include "diagint/error.h"
#include "diagint/http.h"

/* AWS credentials, found as botocore finds them:
 *  1. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN;
 *  2. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials), section [PROFILE];
 *  3. the config file (AWS_CONFIG_FILE, ~/.aws/config), section [profile PROFILE] ([default] for default);
 *  4. the EC2 instance metadata service, IMDSv2 (AWS_EC2_METADATA_SERVICE_ENDPOINT, default
 *     http://169.254.169.254; off with AWS_EC2_METADATA_DISABLED=true).
 * PROFILE is AWS_PROFILE (or AWS_DEFAULT_PROFILE), else "default". */

struct dg_aws_creds {
	char *access_key_id;
	char *secret_access_key;
	char *session_token;   /* NULL for long-term keys */
	time_t expiration;     /* 0: does not expire */
	char source[256];      /* where they came from, for messages: never the secret itself */
	char *ca_bundle;       /* ca_bundle from the profile's config section, if any */
};

/* http may be NULL: the metadata service is then not asked. cacert applies to an https metadata endpoint. */
int dg_aws_creds_resolve(struct dg_http *http, const char *cacert, struct dg_aws_creds *ret, struct dg_error *err);
/* Usable at `now`: no expiry, or more than 5 minutes left (botocore's mandatory refresh window is 10 min
 * before; a run lasts seconds). */
bool dg_aws_creds_fresh(const struct dg_aws_creds *c, time_t now);
/* The instance metadata service's credentials document (JSON: Code, AccessKeyId, SecretAccessKey, Token,
 * Expiration) read into ret: 1 when usable, 0 when not (why says so), -DG_FAILED out of memory. The part of the
 * metadata lookup after the transfers; also the fuzz harness's entry. */
int dg_aws_imds_document(const char *doc, struct dg_aws_creds *ret, char *why, size_t why_len);

/* Wipes the secrets. Accepts NULL and a zeroed struct. */
void dg_aws_creds_clear(struct dg_aws_creds *c);

/* ISO 8601 UTC ("2024-05-01T12:00:00Z"), as IMDS and STS write expirations; -1 when unreadable. */
time_t dg_parse_iso8601(const char *s);
