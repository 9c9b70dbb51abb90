/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "base/ini.h"
#include "tap.h"

int main(void)
{
	struct dg_ini ini;
	struct dg_error err = { 0 };
	char *text, *tok = malloc(5001);
	int r;

	memset(tok, 'T', 5000);
	tok[5000] = '\0';
	if (asprintf(&text, "# comment\n; other comment\n[default]\nkey = a ; not a comment\n[profile x]\n"
			    "Token = %s\ns3 =\n  max_concurrent_requests = 10\n", tok) < 0)
		return 1;
	r = dg_ini_load(text, "test.ini", &ini, &err);
	CHECK(r == 0, "parses (%s)", err.message);
	CHECK_STR(dg_ini_get(&ini, "default", "key"), "a ; not a comment", "no inline comments (configparser)");
	CHECK(dg_ini_get(&ini, "profile x", "token") && strlen(dg_ini_get(&ini, "profile x", "token")) == 5000,
	      "a 5000-byte value survives (inih's default line is 200)");
	CHECK_STR(dg_ini_get(&ini, "profile x", "s3"), "\nmax_concurrent_requests = 10", "continuation lines join");
	CHECK(dg_ini_has_section(&ini, "profile x") && !dg_ini_has_section(&ini, "nope"), "sections");
	CHECK(dg_ini_get(&ini, "default", "nope") == NULL, "missing key is NULL");
	dg_ini_free(&ini);
	CHECK(ini_max_line == 200 && ini_allow_inline_comments, "inih's process-wide settings are put back");
	r = dg_ini_load("[a]\nno equals sign here\n", "bad.ini", &ini, &err);
	CHECK(r == -DG_USAGE && strstr(err.message, "bad.ini line 2"), "syntax error names file and line (%s)",
	      err.message);
	dg_ini_free(NULL);
	free(text);
	free(tok);
	return tap_done();
}
