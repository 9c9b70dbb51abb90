/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* OCI's answers to InstanceAction SENDDIAGNOSTICINTERRUPT and the dry run's GetInstance (JSON), judged by the
 * provider (reply.h: the input's shape and the verdict's invariants). */
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "reply.h"

extern const struct dg_provider dg_provider_oci;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void *ctx;

	if (!ctx) {
		struct dg_provider_env env = { .endpoint = "https://127.0.0.1:8443" };
		struct dg_error err = { 0 };
		EVP_PKEY *key = EVP_RSA_gen(2048);
		char conf[1024], *pem = NULL;
		const char *key_path;
		BIO *bio = BIO_new(BIO_s_mem());
		long n;

		if (!key || !bio || !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
			abort();
		n = BIO_get_mem_data(bio, &pem);
		key_path = fz_write_file("key.pem", pem, (size_t)n);
		snprintf(conf, sizeof(conf), "[DEFAULT]\nuser=ocid1.user.oc1..u\nfingerprint=aa:bb\n"
			 "tenancy=ocid1.tenancy.oc1..t\nkey_file=%s\n", key_path);
		setenv("OCI_CLI_CONFIG_FILE", fz_write_file("config", conf, strlen(conf)), 1);
		unsetenv("OCI_CLI_PROFILE");
		BIO_free(bio);
		EVP_PKEY_free(key);
		if (dg_provider_oci.open(&env, &ctx, &err) < 0) {
			fprintf(stderr, "%s\n", err.message);
			abort();
		}
	}
	fz_judge(&dg_provider_oci, ctx, "oci:us-ashburn-1/ocid1.instance.oc1.iad.abcd", 200, data, size);
	return 0;
}
