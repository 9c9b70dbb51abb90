/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The etcd password and session token pass through json-c and the configuration reader: none of them goes
 * back to free() unwiped (tests/freescan.h watches every freed block). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dg_config.h"
#include "diagint/config.h"
#include "fleet/fleet-internal.h"
#include "freescan.h"
#include "tap.h"

#define MARK "SeCrEt-etcd-41c9-do-not-keep"

int main(void)
{
	struct dg_fleet_reply r;
	struct dg_config *cfg = NULL;
	struct dg_error err = { 0 };
	char why[200] = "", path[] = "/tmp/dg-fleet-secret-XXXXXX";
	char *body;
	FILE *f;
	int fd;

	if (!freescan_active()) {
		printf("1..0 # SKIP under ASan free() is the sanitizer's: this runs in the plain build\n");
		return 0;
	}
	freescan_watch(MARK);
	body = dg_fleet_req_auth("diagint", MARK);
	CHECK(body && strstr(body, MARK), "authenticate request built");
	free(body); /* the caller wipes it (fleet.c); here only json-c's copies are judged */
	CHECK(freescan_hits == 1, "the etcd Password: only the request itself held it (%u blocks)", freescan_hits);

	freescan_watch(MARK);
	CHECK(dg_fleet_parse_reply("{\"header\":{\"revision\":\"3\"},\"token\":\"" MARK ".41\"}",
				   strlen("{\"header\":{\"revision\":\"3\"},\"token\":\"" MARK ".41\"}"), DG_FLEET_R_AUTH,
				   &r, NULL, NULL, why, sizeof(why)) == 0 && strstr(r.token, MARK),
	      "authenticate reply read (%s)", why);
	CHECK(freescan_hits == 0, "the session token: no freed block holds it (%u did)", freescan_hits);

	fd = mkstemp(path);
	f = fdopen(fd, "w");
	fprintf(f, "[fleet]\nEndpoints = https://127.0.0.1:2379\nUser = diagint\nPassword = %s\n", MARK);
	fclose(f);
	freescan_watch(MARK);
	CHECK(dg_config_load(path, &cfg, &err) == 0, "configuration with a [fleet] Password read (%s)", err.message);
	dg_config_free(cfg);
	CHECK(freescan_hits == 0, "diagint.conf's Password: no freed block holds it (%u did)", freescan_hits);
	freescan_watch(NULL);
	unlink(path);
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
