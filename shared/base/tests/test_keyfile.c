/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Secret files: refused when others may read them (as ssh does), PEM keys with and without pass phrases. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "base/keyfile.h"
#include "tap.h"

static char dir[] = "/tmp/dg-keyfile-XXXXXX";

static char *write_key(const char *name, EVP_PKEY *key, const char *pass, mode_t mode)
{
	char *path;
	FILE *f;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return NULL;
	f = fopen(path, "w");
	PEM_write_PrivateKey(f, key, pass ? EVP_aes_256_cbc() : NULL, (unsigned char *)pass, pass ? (int)strlen(pass) : 0,
			     NULL, NULL);
	fclose(f);
	chmod(path, mode);
	return path;
}

int main(void)
{
	EVP_PKEY *key = EVP_RSA_gen(2048), *got = NULL;
	struct dg_error err = { 0 };
	char *plain, *enc, *open_, *text = NULL, *exp = NULL;
	size_t len = 0;

	if (!mkdtemp(dir))
		return 1;
	plain = write_key("plain.pem", key, NULL, 0600);
	enc = write_key("enc.pem", key, "pass word", 0600);
	open_ = write_key("open.pem", key, NULL, 0644);

	CHECK(dg_keyfile_read(plain, "the key", &text, &len, &err) == 0 && len > 100, "0600 key is read");
	CHECK(dg_key_load_pem(text, len, NULL, "the key", "pass_phrase", &got, &err) == 0 && got, "and loads");
	EVP_PKEY_free(got);
	got = NULL;
	dg_secret_free(text, len);

	CHECK(dg_keyfile_read(open_, "the key", &text, &len, &err) == -DG_USAGE, "0644 key is refused");
	CHECK(strstr(err.message, "chmod 600") && strstr(err.message, "0644"), "with mode and fix: %s", err.message);
	CHECK(dg_file_read(open_, "the file", &text, &len, &err) == 0, "dg_file_read does not check the mode");
	dg_secret_free(text, len);

	CHECK(dg_keyfile_read("/nonexistent/k.pem", "the key", &text, &len, &err) == -DG_USAGE && err.sys_errno == 2,
	      "missing file: DG_USAGE with ENOENT");

	CHECK(dg_keyfile_read(enc, "the key", &text, &len, &err) == 0, "encrypted key read");
	CHECK(dg_key_load_pem(text, len, "pass word", "the key", "pass_phrase", &got, &err) == 0 && got,
	      "decrypts with its pass phrase");
	EVP_PKEY_free(got);
	got = NULL;
	CHECK(dg_key_load_pem(text, len, "wrong", "the key", "pass_phrase in X", &got, &err) == -DG_USAGE &&
		      strstr(err.message, "wrong pass phrase") && strstr(err.message, "pass_phrase in X"),
	      "wrong pass phrase named: %s", err.message);
	CHECK(dg_key_load_pem(text, len, NULL, "the key", "pass_phrase in X", &got, &err) == -DG_USAGE &&
		      strstr(err.message, "encrypted"), "no pass phrase: says it is encrypted: %s", err.message);
	dg_secret_free(text, len);
	CHECK(dg_key_load_pem("not a key", 9, NULL, "the key", "-", &got, &err) == -DG_USAGE, "garbage refused");

	setenv("HOME", "/home/u", 1);
	CHECK(dg_path_expand("~/.oci/key.pem", &exp, &err) == 0, "expands ~");
	CHECK_STR(exp, "/home/u/.oci/key.pem", "with HOME");
	free(exp);
	CHECK(dg_path_expand("/abs/~x", &exp, &err) == 0, "absolute path kept");
	CHECK_STR(exp, "/abs/~x", "as is");
	free(exp);

	unlink(plain);
	unlink(enc);
	unlink(open_);
	rmdir(dir);
	free(plain);
	free(enc);
	free(open_);
	EVP_PKEY_free(key);
	return tap_done();
}
