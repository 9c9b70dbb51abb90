/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* OCI config profiles: OCI_CLI_CONFIG_FILE, OCI_CLI_PROFILE, [DEFAULT] inheritance, key files and pass phrases. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>

#include "cloud/creds_oci.h"
#include "tap.h"

static char dir[] = "/tmp/dg-oci-XXXXXX";

static void put(const char *name, const char *text, mode_t mode)
{
	char path[300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

int main(void)
{
	struct dg_oci_creds c;
	struct dg_error err = { 0 };
	EVP_PKEY *key = EVP_RSA_gen(2048);
	char path[300], conf[2048];
	FILE *f;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	f = fopen(path, "w");
	PEM_write_PrivateKey(f, key, EVP_aes_256_cbc(), (unsigned char *)"p; #w", 5, NULL, NULL);
	fclose(f);
	chmod(path, 0600);
	snprintf(conf, sizeof(conf), "[DEFAULT]\ntenancy = ocid1.tenancy.oc1..t\nregion = us-ashburn-1\n"
		 "key_file = %s/key.pem\n\n[LAB]\nuser = ocid1.user.oc1..u\nfingerprint = aa:bb\npass_phrase = p; #w\n"
		 "\n[NOPASS]\nuser = ocid1.user.oc1..u\nfingerprint = aa:bb\n\n[PARTIAL]\nfingerprint = aa:bb\n", dir);
	put("config", conf, 0600);
	snprintf(path, sizeof(path), "%s/config", dir);
	setenv("OCI_CLI_CONFIG_FILE", path, 1);
	setenv("OCI_CLI_PROFILE", "LAB", 1);

	CHECK(dg_oci_creds_load(&c, &err) == 0, "profile LAB with an encrypted key (%s)", err.message);
	CHECK_STR(c.key_id, "ocid1.tenancy.oc1..t/ocid1.user.oc1..u/aa:bb", "keyId: tenancy from [DEFAULT]");
	CHECK_STR(c.region, "us-ashburn-1", "region inherited from [DEFAULT]");
	CHECK(c.key != NULL && strstr(c.source, "[LAB]"), "key loaded, source names the profile");
	dg_oci_creds_clear(&c);

	setenv("OCI_CLI_PROFILE", "NOPASS", 1);
	CHECK(dg_oci_creds_load(&c, &err) == -DG_USAGE && strstr(err.message, "pass_phrase in profile [NOPASS]"),
	      "encrypted key without pass_phrase: %s", err.message);
	setenv("OCI_CLI_PROFILE", "PARTIAL", 1);
	CHECK(dg_oci_creds_load(&c, &err) == -DG_USAGE && strstr(err.message, "lacks user"), "missing user named");
	setenv("OCI_CLI_PROFILE", "GONE", 1);
	CHECK(dg_oci_creds_load(&c, &err) == -DG_USAGE && strstr(err.message, "[GONE]"), "unknown profile named");

	setenv("OCI_CLI_PROFILE", "LAB", 1);
	put("config", conf, 0644);
	CHECK(dg_oci_creds_load(&c, &err) == -DG_USAGE && strstr(err.message, "holds a pass_phrase"),
	      "a config holding a pass phrase must not be readable by others: %s", err.message);
	put("config", conf, 0600);
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	chmod(path, 0644);
	CHECK(dg_oci_creds_load(&c, &err) == -DG_USAGE && strstr(err.message, "chmod 600"), "open key refused");

	setenv("OCI_CLI_CONFIG_FILE", "/nonexistent/config", 1);
	CHECK(dg_oci_creds_load(&c, &err) == -DG_USAGE && strstr(err.message, "oci setup config"),
	      "missing config: how to make one");
	dg_oci_creds_clear(NULL);
	EVP_PKEY_free(key);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		return 1;
	return tap_done();
}
