/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The head announcements verify reads back from an external log (dg_audit_anchor_scan): syslog, where any local
 * user can write with logger, and auditd's log. Input: the text log. Invariants: a known status; the points are
 * sorted by seq, each sha256 64 hex digits; no more points than announcements in the text; every point is one
 * the text announced for our log (its sha256 appears in the text). */
#include <ctype.h>

#include "audit/audit_anchor.h"
#include "fuzz.h"

#define LOG "/var/log/diagint/audit.jsonl"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_audit_anchor_point *pts = NULL;
	struct dg_error err = { 0 };
	size_t n = 0, ops = 0;
	const char *path = fz_write_file("anchors.log", data, size);
	int r;

	r = dg_audit_anchor_scan(path, LOG, &pts, &n, &err);
	fz_check_status(r, &err);
	for (const uint8_t *p = data; (p = memmem(p, size - (size_t)(p - data), DG_AUDIT_ANCHOR_OP,
						  sizeof(DG_AUDIT_ANCHOR_OP) - 1));
	     p++)
		ops++;
	if (r == 0) {
		FZ_CHECK(n <= ops, "%zu points from %zu announcements", n, ops);
		FZ_CHECK(n == 0 || pts, "points without an array");
		for (size_t i = 0; i < n; i++) {
			FZ_CHECK(fz_terminated(pts[i].sha256, sizeof(pts[i].sha256)) &&
					 strlen(pts[i].sha256) == DG_SHA256_HEX_LEN,
				 "point %zu sha256 length", i);
			for (int k = 0; k < DG_SHA256_HEX_LEN; k++)
				FZ_CHECK(isxdigit((unsigned char)pts[i].sha256[k]), "point %zu sha256 %s", i, pts[i].sha256);
			FZ_CHECK(memmem(data, size, pts[i].sha256, DG_SHA256_HEX_LEN), "point %zu not from the text", i);
			FZ_CHECK(i == 0 || pts[i - 1].seq <= pts[i].seq, "points not sorted");
		}
	}
	free(pts);
	return 0;
}
