/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <time.h>

#include <openssl/evp.h>

#include "diagint/error.h"
#include "diagint/http.h"

/* Google OAuth2 access tokens, found as google-auth finds Application Default Credentials:
 *  1. GOOGLE_APPLICATION_CREDENTIALS: a service_account key (RS256 JWT bearer grant at the file's token_uri)
 *     or an authorized_user file (refresh-token grant);
 *  2. gcloud's ADC file ($CLOUDSDK_CONFIG or ~/.config/gcloud, application_default_credentials.json);
 *  3. the metadata server (GCE_METADATA_HOST, default metadata.google.internal).
 * The token is cached until shortly before it expires. */

enum dg_gcp_source { DG_GCP_SERVICE_ACCOUNT, DG_GCP_AUTHORIZED_USER, DG_GCP_METADATA };

struct dg_gcp_auth {
	enum dg_gcp_source kind;
	char source[512];      /* for messages, never a secret */
	char *token_uri;
	char *client_email;    /* service account */
	char *private_key_id;
	EVP_PKEY *key;
	char *client_id;       /* authorized user */
	char *client_secret;
	char *refresh_token;
	char *metadata_host;   /* metadata server */
	char *token;           /* the access token */
	time_t expires;
	unsigned long fetches; /* tokens fetched so far (tests, stats) */
};

#define DG_GCP_SCOPE "https://www.googleapis.com/auth/cloud-platform"
/* Refresh this long before expiry (google-auth uses 3 min 45 s). */
#define DG_TOKEN_REFRESH_MARGIN 240

/* Find the source and read its files; no network. */
int dg_gcp_auth_init(struct dg_gcp_auth *a, struct dg_error *err);
/* A valid token in a->token: the cached one while fresh, else a new one. cacert: for https token endpoints. */
int dg_gcp_auth_token(struct dg_gcp_auth *a, struct dg_http *http, const char *cacert, struct dg_error *err);
void dg_gcp_auth_clear(struct dg_gcp_auth *a);
/* The token endpoint's (or metadata server's) HTTP answer, read into a->token and a->expires (the part of
 * dg_gcp_auth_token after the transfer; also the fuzz harness's entry). */
int dg_gcp_token_answer(struct dg_gcp_auth *a, const struct dg_http_resp *resp, time_t now, struct dg_error *err);

/* A cached token is used while more than DG_TOKEN_REFRESH_MARGIN seconds remain. */
bool dg_token_fresh(const char *token, time_t expires, time_t now);
