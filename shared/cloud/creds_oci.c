/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cloud/creds_oci.h"
#include "base/ini.h"
#include "base/keyfile.h"
#include "diagint/provider.h"

void dg_oci_creds_clear(struct dg_oci_creds *c)
{
	if (!c)
		return;
	free(c->tenancy);
	free(c->user);
	free(c->fingerprint);
	free(c->region);
	free(c->key_id);
	EVP_PKEY_free(c->key);
	memset(c, 0, sizeof(*c));
}

static const char *get(const struct dg_ini *ini, const char *profile, const char *key)
{
	const char *v = dg_ini_get(ini, profile, key);

	return v ? v : dg_ini_get(ini, "DEFAULT", key);
}

int dg_oci_creds_load(struct dg_oci_creds *ret, struct dg_error *err)
{
	const char *env = dg_provider_getenv((const char *const[]){ "OCI_CLI_CONFIG_FILE", "OCI_CONFIG_FILE", NULL });
	const char *profile = dg_provider_getenv((const char *const[]){ "OCI_CLI_PROFILE", NULL });
	const char *tenancy, *user, *fp, *key_file, *pass, *region;
	char *path = NULL, *text = NULL, *key_path = NULL, *pem = NULL, hint[700];
	size_t len = 0, pem_len = 0;
	struct dg_ini ini = { 0 };
	struct stat st;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!profile)
		profile = "DEFAULT";
	r = dg_path_expand(env ? env : "~/.oci/config", &path, err);
	if (r < 0)
		return r;
	r = dg_file_read(path, "the OCI config file", &text, &len, err);
	if (r < 0) {
		if (err)
			snprintf(err->message + strlen(err->message), sizeof(err->message) - strlen(err->message),
				 "; create it with 'oci setup config' or point OCI_CLI_CONFIG_FILE at it");
		goto out;
	}
	r = dg_ini_load(text, path, &ini, err);
	if (r < 0)
		goto out;
	if (!dg_ini_has_section(&ini, profile)) {
		r = dg_error_set(err, DG_USAGE, "OCI profile [%s] is not in %s: check OCI_CLI_PROFILE", profile, path);
		goto out;
	}
	tenancy = get(&ini, profile, "tenancy");
	user = get(&ini, profile, "user");
	fp = get(&ini, profile, "fingerprint");
	key_file = get(&ini, profile, "key_file");
	pass = get(&ini, profile, "pass_phrase");
	region = get(&ini, profile, "region");
	if (!tenancy || !user || !fp || !key_file) {
		r = dg_error_set(err, DG_USAGE, "OCI profile [%s] in %s lacks %s: API-key profiles need user, "
				 "fingerprint, key_file and tenancy", profile, path,
				 !user ? "user" : !fp ? "fingerprint" : !key_file ? "key_file" : "tenancy");
		goto out;
	}
	/* A pass phrase in the config makes the config a secret too. */
	if (pass && *pass && stat(path, &st) == 0 && (st.st_mode & 077)) {
		r = dg_error_set(err, DG_USAGE, "the OCI config file %s holds a pass_phrase and is accessible by others "
				 "(mode %04o): fix with: chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	r = dg_path_expand(key_file, &key_path, err);
	if (r < 0)
		goto out;
	r = dg_keyfile_read(key_path, "the OCI API key (key_file)", &pem, &pem_len, err);
	if (r < 0)
		goto out;
	snprintf(hint, sizeof(hint), "pass_phrase in profile [%s] of %s", profile, path);
	r = dg_key_load_pem(pem, pem_len, pass, "the OCI API key (key_file)", hint, &ret->key, err);
	if (r < 0)
		goto out;
	ret->tenancy = strdup(tenancy);
	ret->user = strdup(user);
	ret->fingerprint = strdup(fp);
	ret->region = region ? strdup(region) : NULL;
	if (asprintf(&ret->key_id, "%s/%s/%s", tenancy, user, fp) < 0)
		ret->key_id = NULL;
	if (!ret->tenancy || !ret->user || !ret->fingerprint || !ret->key_id || (region && !ret->region)) {
		r = dg_error_set(err, DG_FAILED, "out of memory");
		goto out;
	}
	snprintf(ret->source, sizeof(ret->source), "profile [%s] of %s", profile, path);
out:
	if (r < 0)
		dg_oci_creds_clear(ret);
	dg_ini_free(&ini);
	dg_secret_free(text, len);
	dg_secret_free(pem, pem_len);
	free(key_path);
	free(path);
	return r;
}
