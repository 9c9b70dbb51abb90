/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ~/.aws/credentials and ~/.aws/config as botocore reads them (dg_aws_creds_resolve, files only: the metadata
 * service is off). Input: the credentials file, then "\n%%\n" and the config file. Invariants: a known status;
 * success means an access key and a secret; expirations read from text are -1 or a time. */
#include "cloud/creds_aws.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct dg_aws_creds c;
	struct dg_error err = { 0 };
	const uint8_t *a, *b;
	size_t alen, blen;
	char *line, known[2048];
	const char *cred_path, *conf_path;
	int r;

	if (!ready) {
		unsetenv("AWS_ACCESS_KEY_ID");
		unsetenv("AWS_SECRET_ACCESS_KEY");
		unsetenv("AWS_PROFILE");
		unsetenv("AWS_DEFAULT_PROFILE");
		setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
		setenv("HOME", fz_scratch(), 1);
		ready = true;
	}
	fz_split(data, size, &a, &alen, &b, &blen);
	cred_path = fz_write_file("credentials", a, alen);
	conf_path = fz_write_file("config", b, blen);
	setenv("AWS_SHARED_CREDENTIALS_FILE", cred_path, 1);
	setenv("AWS_CONFIG_FILE", conf_path, 1);
	/* What the source text may say: where and which profile (from_ini's "%s %s, profile '%s'"). */
	snprintf(known, sizeof(known), "shared credentials file %s, profile 'default'|config file %s, profile 'default'",
		 cred_path, conf_path);
	r = dg_aws_creds_resolve(NULL, NULL, &c, &err);
	fz_check_status(r, &err);
	if (r == 0) {
		FZ_CHECK(c.access_key_id && c.secret_access_key, "success without a key and a secret");
		FZ_CHECK(fz_terminated(c.source, sizeof(c.source)) && c.source[0], "no source");
		FZ_CHECK(!strstr(c.source, c.secret_access_key) || strstr(known, c.secret_access_key),
			 "the secret in the source text: %s", c.source);
	}
	dg_aws_creds_clear(&c);
	line = fz_strndup(data, size < 64 ? size : 64);
	(void)dg_parse_iso8601(line);
	free(line);
	return 0;
}
