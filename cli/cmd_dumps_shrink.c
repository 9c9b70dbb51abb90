/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `diagint dumps shrink NAME`: makedumpfile's filtered, compressed kdump file in place of the ELF dump. */
#include <stdio.h>

#include "authz.h"
#include "cli.h"
#include "diagint/dumpdir.h"
#include "diagint/units.h"
#include "diagint/vmcore.h"

int dg_cmd_dumps_shrink(struct dg_dumpdir *dir, const char *name, const char *compression, int dump_level, bool json)
{
	struct dg_shrink_opts o = { .dump_level = dump_level, .compression = compression };
	struct dg_shrink_result res;
	struct dg_error err = { 0 };
	char before[16], after[16];

	struct dg_authz az;
	char target[600];
	int r;

	/* The ELF is evidence, replaced by a filtered copy: authorized (PAM, target dump:NAME) and recorded before
	 * it happens, like dumps remove. */
	snprintf(target, sizeof(target), "dump:%.500s", name);
	if (dg_authz_begin(&az, "dump-shrink", target, false, &err) < 0)
		return dg_cli_fail(&err);
	r = dg_vmcore_shrink(dir, name, &o, &res, &err);
	dg_authz_end(&az, r, &err, r == 0 ? res.path : NULL, r == 0 ? res.sha256 : NULL, 0);
	if (r < 0)
		return dg_cli_fail(&err);
	if (json) {
		printf("{\"name\":\"%s\",\"size_before\":%llu,\"allocated_before\":%llu,\"size_after\":%llu,"
		       "\"allocated_after\":%llu,\"seconds\":%.3f}\n",
		       res.name, (unsigned long long)res.size_before, (unsigned long long)res.allocated_before,
		       (unsigned long long)res.size_after, (unsigned long long)res.allocated_after, res.seconds);
	} else {
		dg_format_bytes(res.allocated_before, true, before, sizeof(before));
		dg_format_bytes(res.allocated_after, true, after, sizeof(after));
		printf("%s/%s\n", dg_dumpdir_path(dir), res.name);
		fprintf(stderr, "shrunk %s to %s: %s on disk -> %s (makedumpfile -d %d, %s) in %.1f s\n", name, res.name,
			before, after, dump_level ? dump_level : 31, compression ? compression : "zlib", res.seconds);
	}
	return 0;
}
