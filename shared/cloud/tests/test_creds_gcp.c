/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Google credential discovery (no network): GOOGLE_APPLICATION_CREDENTIALS kinds, the gcloud ADC file, the
 * metadata-server fallback, token freshness. Token exchange itself runs against the lab (test_send.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>

#include "cloud/creds_gcp.h"
#include "tap.h"

static char home[] = "/tmp/dg-gcp-XXXXXX";

static char *put(const char *name, const char *text, mode_t mode)
{
	static char path[300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", home, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	return path;
}

int main(void)
{
	struct dg_gcp_auth a;
	struct dg_error err = { 0 };
	EVP_PKEY *key = EVP_RSA_gen(2048);
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem, json[8192], cmd[300];
	long n;

	if (!mkdtemp(home))
		return 1;
	setenv("HOME", home, 1);
	unsetenv("CLOUDSDK_CONFIG");
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	setenv("GCE_METADATA_HOST", "127.0.0.1:9", 1);
	PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(bio, &pem);
	{
		/* JSON-escape the PEM's newlines. */
		char esc[6000];
		size_t w = 0;
		for (long i = 0; i < n && w < sizeof(esc) - 3; i++) {
			if (pem[i] == '\n') {
				esc[w++] = '\\';
				esc[w++] = 'n';
			} else
				esc[w++] = pem[i];
		}
		esc[w] = '\0';
		snprintf(json, sizeof(json), "{\"type\":\"service_account\",\"client_email\":\"sa@p.iam.gserviceaccount.com\","
			 "\"private_key_id\":\"k1\",\"private_key\":\"%s\",\"token_uri\":\"https://127.0.0.1:1/token\"}", esc);
	}

	CHECK(dg_gcp_auth_init(&a, &err) == 0 && a.kind == DG_GCP_METADATA, "nothing configured: metadata server");
	CHECK_STR(a.metadata_host, "127.0.0.1:9", "GCE_METADATA_HOST");
	dg_gcp_auth_clear(&a);

	setenv("GOOGLE_APPLICATION_CREDENTIALS", put("sa.json", json, 0600), 1);
	CHECK(dg_gcp_auth_init(&a, &err) == 0 && a.kind == DG_GCP_SERVICE_ACCOUNT, "service account key (%s)",
	      err.message);
	CHECK_STR(a.token_uri, "https://127.0.0.1:1/token", "token_uri from the file");
	CHECK_STR(a.private_key_id, "k1", "private_key_id becomes the JWT kid");
	CHECK(a.key != NULL, "private key loaded");
	dg_gcp_auth_clear(&a);

	setenv("GOOGLE_APPLICATION_CREDENTIALS", put("sa-open.json", json, 0644), 1);
	CHECK(dg_gcp_auth_init(&a, &err) == -DG_USAGE && strstr(err.message, "chmod 600"),
	      "a key file others can read is refused: %s", err.message);

	setenv("GOOGLE_APPLICATION_CREDENTIALS", put("user.json", "{\"type\":\"authorized_user\",\"client_id\":\"c\","
						      "\"client_secret\":\"s\",\"refresh_token\":\"r\"}", 0600), 1);
	CHECK(dg_gcp_auth_init(&a, &err) == 0 && a.kind == DG_GCP_AUTHORIZED_USER, "authorized_user");
	CHECK_STR(a.token_uri, "https://oauth2.googleapis.com/token", "default token_uri");
	dg_gcp_auth_clear(&a);

	setenv("GOOGLE_APPLICATION_CREDENTIALS", put("ext.json", "{\"type\":\"external_account\"}", 0600), 1);
	CHECK(dg_gcp_auth_init(&a, &err) == -DG_USAGE && strstr(err.message, "external_account"),
	      "unsupported type named: %s", err.message);
	setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json", 1);
	CHECK(dg_gcp_auth_init(&a, &err) == -DG_USAGE, "GOOGLE_APPLICATION_CREDENTIALS must exist");

	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/.config/gcloud", home);
	if (system(cmd) != 0)
		return 1;
	put(".config/gcloud/application_default_credentials.json",
	    "{\"type\":\"authorized_user\",\"client_id\":\"c\",\"client_secret\":\"s\",\"refresh_token\":\"r\"}", 0600);
	CHECK(dg_gcp_auth_init(&a, &err) == 0 && a.kind == DG_GCP_AUTHORIZED_USER && strstr(a.source, "gcloud"),
	      "gcloud's ADC file (%s)", a.source);
	dg_gcp_auth_clear(&a);

	CHECK(!dg_token_fresh(NULL, 5000, 1000), "no token: not fresh");
	CHECK(dg_token_fresh("t", 1000 + 3600, 1000), "an hour left: fresh");
	CHECK(!dg_token_fresh("t", 1000 + DG_TOKEN_REFRESH_MARGIN, 1000), "within the margin: refresh");
	dg_gcp_auth_clear(NULL);

	BIO_free(bio);
	EVP_PKEY_free(key);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", home);
	if (system(cmd) != 0)
		return 1;
	return tap_done();
}
