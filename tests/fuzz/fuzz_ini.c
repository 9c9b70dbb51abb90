/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The INI reader behind ~/.aws/credentials, ~/.aws/config and ~/.oci/config (shared/src/ini.c, inih set up as
 * botocore and the OCI SDK read them), and its raw callback form used by diagint.conf. Invariants: a known
 * status; every entry has a section, key and value, and looking each one up finds a value (the last one). */
#include "base/ini.h"
#include "fuzz.h"

struct count {
	unsigned calls;
};

static int handler(void *user, const char *section, const char *key, const char *value)
{
	struct count *c = user;

	FZ_CHECK(section && key && value, "a NULL section, key or value in the callback");
	c->calls++;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_ini ini = { 0 };
	struct dg_error err = { 0 };
	struct count c = { 0 };
	char *text = fz_strndup(data, size);
	int r;

	r = dg_ini_load(text, "fuzz.ini", &ini, &err);
	fz_check_status(r, &err);
	if (r == 0) {
		for (size_t i = 0; i < ini.n; i++) {
			const struct dg_ini_entry *e = &ini.entries[i];
			FZ_CHECK(e->section && e->key && e->value, "entry %zu incomplete", i);
			FZ_CHECK(dg_ini_get(&ini, e->section, e->key) != NULL, "[%s] %s not found again", e->section,
				 e->key);
			FZ_CHECK(dg_ini_has_section(&ini, e->section), "section [%s] not found again", e->section);
		}
	} else {
		FZ_CHECK(ini.n == 0 && !ini.entries, "entries left after a failure");
	}
	dg_ini_free(&ini);
	dg_ini_parse_string(text, handler, &c, true);
	dg_ini_parse_string(text, handler, &c, false);
	free(text);
	return 0;
}
