/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <openssl/evp.h>

#include "diagint/error.h"

/* Oracle Cloud Infrastructure API keys from the CLI's config file (OCI_CLI_CONFIG_FILE, OCI_CONFIG_FILE, then
 * ~/.oci/config), profile OCI_CLI_PROFILE or DEFAULT; keys missing from the profile come from [DEFAULT], as
 * the SDKs do. key_file may be encrypted: pass_phrase in the profile decrypts it. */

struct dg_oci_creds {
	char *tenancy;
	char *user;
	char *fingerprint;
	char *region;        /* the profile's, informational: targets name their region */
	char *key_id;        /* tenancy/user/fingerprint */
	EVP_PKEY *key;
	char source[512];    /* "profile DEFAULT of /root/.oci/config" */
};

int dg_oci_creds_load(struct dg_oci_creds *ret, struct dg_error *err);
void dg_oci_creds_clear(struct dg_oci_creds *c);
