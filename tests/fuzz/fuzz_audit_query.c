/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading the audit log back for review (dg_audit_query, dg_audit_report; `diagint audit list/show/report`) on a
 * log written from the input, with no filter and with every kind of filter; and dg_audit_parse_time on its first
 * line. Invariants: a known status; as many visits as the count returned, each a JSON object from one line
 * without its newline, never more than the file has lines; a filter never visits more than no filter; the
 * report counts the records the query visits. */
#include "diagint/audit_query.h"
#include "fuzz.h"

struct seen {
	long long n;
	size_t lines;
};

static int visit(void *userdata, const char *line, size_t len, json_object *rec)
{
	struct seen *s = userdata;

	FZ_CHECK(rec && json_object_is_type(rec, json_type_object), "a record that is not an object");
	FZ_CHECK(!memchr(line, '\n', len), "a line with its newline");
	(void)dg_audit_rec_str(rec, "actor.user");
	(void)dg_audit_rec_str(rec, "target");
	s->n++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_audit_filter all = { 0 };
	struct dg_audit_filter some = { .since = "2026-01-01T00:00:00.000000000Z", .until = "2027-01-01T00:00:00Z",
					.user = "root", .target = "libvirt:web-*", .result = "ok", .action = "inject" };
	struct dg_audit_filter one = { .seq = 2 };
	struct dg_error err = { 0 };
	struct seen s = { 0 }, f = { 0 };
	json_object *report = NULL, *v;
	const char *path = fz_write_file("query.jsonl", data, size);
	long long n;
	char when[64], *first;
	int r;

	for (size_t i = 0; i < size; i++)
		s.lines += data[i] == '\n';
	s.lines += size && data[size - 1] != '\n';
	n = dg_audit_query(path, &all, visit, &s, &err);
	FZ_CHECK(n >= -DG_REFUSED, "returned %lld", n);
	if (n >= 0) {
		FZ_CHECK(n == s.n && (size_t)n <= s.lines, "%lld visits, %lld counted, %zu lines", n, s.n, s.lines);
		f.lines = s.lines;
		n = dg_audit_query(path, &some, visit, &f, &err);
		FZ_CHECK(n >= 0 && n <= s.n, "the filter visited %lld of %lld", n, s.n);
		f.n = 0;
		n = dg_audit_query(path, &one, visit, &f, &err);
		FZ_CHECK(n >= 0 && n <= s.n, "seq 2 visited %lld of %lld", n, s.n);
		r = dg_audit_report(path, &all, &report, &err);
		fz_check_status(r, &err);
		if (r == 0) {
			FZ_CHECK(json_object_object_get_ex(report, "records", &v) && json_object_get_int64(v) == s.n,
				 "the report counts %s records, the query %lld", json_object_get_string(v), s.n);
			json_object_put(report);
		}
	}
	first = fz_strndup(data, size < 64 ? size : 64);
	first[strcspn(first, "\n")] = '\0';
	memset(&err, 0, sizeof(err));
	r = dg_audit_parse_time(first, 1790000000, when, sizeof(when), &err);
	fz_check_status(r, &err);
	if (r == 0)
		FZ_CHECK(fz_terminated(when, sizeof(when)) && strlen(when) == 30 && when[29] == 'Z', "time %s", when);
	free(first);
	return 0;
}
