/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <time.h>

#include "diagint/error.h"
#include "diagint/http.h"

/* OpenStack Keystone v3 tokens from the OS_* environment (an openrc file): password auth (OS_USERNAME or
 * OS_USER_ID, OS_PASSWORD, OS_USER_DOMAIN_NAME/ID, OS_PROJECT_NAME/ID, OS_PROJECT_DOMAIN_NAME/ID) or an
 * application credential (OS_AUTH_TYPE=v3applicationcredential, OS_APPLICATION_CREDENTIAL_ID or _NAME with
 * OS_USERNAME, OS_APPLICATION_CREDENTIAL_SECRET). The compute endpoint comes from the token's catalog
 * (OS_INTERFACE, default public; OS_REGION_NAME). */

struct dg_os_auth {
	char *auth_url;        /* ends in /v3 */
	char *body;            /* the auth request (a secret) */
	char *region;
	char *interface;
	char *token;
	time_t expires;
	char *compute_url;     /* from the catalog */
	char source[512];
	unsigned long fetches;
};

int dg_os_auth_init(struct dg_os_auth *a, struct dg_error *err);
int dg_os_auth_token(struct dg_os_auth *a, struct dg_http *http, const char *cacert, struct dg_error *err);
void dg_os_auth_clear(struct dg_os_auth *a);
/* Keystone's HTTP answer to the token request, read into a->token, a->expires and a->compute_url (the part of
 * dg_os_auth_token after the transfer; also the fuzz harness's entry). */
int dg_os_token_answer(struct dg_os_auth *a, const struct dg_http_resp *resp, time_t now, struct dg_error *err);
