/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ~/.oci/config and the API key it names (dg_oci_creds_load). Input: the config file, then "\n%%\n" and the PEM
 * key written to ~/key.pem (HOME is the scratch directory, so "key_file=~/key.pem" finds it). Invariants: a known
 * status; success means tenancy, user, fingerprint, a key and key_id = tenancy/user/fingerprint. */
#include "cloud/creds_oci.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct dg_oci_creds c;
	struct dg_error err = { 0 };
	const uint8_t *a, *b;
	size_t alen, blen;
	char want[4096];
	int r;

	if (!ready) {
		setenv("HOME", fz_scratch(), 1);
		unsetenv("OCI_CLI_PROFILE");
		unsetenv("OCI_CONFIG_FILE");
		ready = true;
	}
	fz_split(data, size, &a, &alen, &b, &blen);
	fz_write_file("key.pem", b, blen);
	setenv("OCI_CLI_CONFIG_FILE", fz_write_file("config", a, alen), 1);
	r = dg_oci_creds_load(&c, &err);
	fz_check_status(r, &err);
	if (r == 0) {
		FZ_CHECK(c.tenancy && c.user && c.fingerprint && c.key && c.key_id, "success without every field");
		snprintf(want, sizeof(want), "%s/%s/%s", c.tenancy, c.user, c.fingerprint);
		FZ_CHECK(strlen(want) >= sizeof(want) - 1 || !strcmp(want, c.key_id), "key_id %s", c.key_id);
	} else {
		FZ_CHECK(!c.key && !c.tenancy && !c.key_id, "a failure left fields set");
	}
	dg_oci_creds_clear(&c);
	return 0;
}
