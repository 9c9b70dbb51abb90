/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A configured destination judged when the configuration is read (collectd's Capture, Destination=): relative
 * paths, missing or non-directories, and a bare pipe are refused with the fix; the default may be missing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dg_config.h"
#include "diagint/inject.h"
#include "tap.h"

static int check(const char *dest, struct dg_error *err)
{
	memset(err, 0, sizeof(*err));
	return dg_inject_destination_check(dest, err);
}

int main(void)
{
	char dir[] = "/tmp/dg-test-destination-XXXXXX", file[64];
	struct dg_error err;
	FILE *f;

	if (!mkdtemp(dir))
		return 1;
	snprintf(file, sizeof(file), "%s/file", dir);
	f = fopen(file, "w");
	if (f)
		fclose(f);

	CHECK(check(dir, &err) == 0, "an existing directory");
	CHECK(check(DG_DEFAULT_DUMP_DIR, &err) == 0, "the default, whether it exists or not");
	CHECK(check("|gzip > /srv/x.gz", &err) == 0, "a command");
	CHECK(check("relative/dir", &err) == -DG_USAGE && strstr(err.message, "is relative: give an absolute"),
	      "relative: %s", err.message);
	CHECK(check("/nonexistent-dg-dir/dumps", &err) == -DG_USAGE && strstr(err.message, "create it"),
	      "missing: %s", err.message);
	CHECK(check(file, &err) == -DG_USAGE && strstr(err.message, "is not a directory"), "a file: %s", err.message);
	CHECK(check("|  ", &err) == -DG_USAGE && strstr(err.message, "no command after the pipe"), "a bare pipe: %s",
	      err.message);
	CHECK(check("", &err) == -DG_USAGE, "empty: %s", err.message);

	unlink(file);
	rmdir(dir);
	return tap_done();
}
