/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dg_audit_verify on a log written from the input. Input: the log's bytes, then optionally "\n%%\n" and the head
 * anchor (PATH.head); without the marker there is no head file. Verified twice: without a key and with one.
 * Invariants: 0 exactly when the result says ok; a failure names its problem in one line (a reviewer reads it);
 * counts agree (HMACs checked <= keyed records <= records; the last seq is first + records - 1); nothing the
 * input can do makes verify pass with a key when a record lacks its HMAC. */
#include "diagint/audit_verify.h"
#include "fuzz.h"

static const unsigned char key[] = "0123456789abcdef-fuzz-key";

static void check(int r, const struct dg_audit_verify_result *res, const struct dg_error *err, bool with_key)
{
	FZ_CHECK(r <= 0 && r >= -DG_REFUSED, "returned %d", r);
	FZ_CHECK((r == 0) == res->ok, "returned %d but ok is %d", r, res->ok);
	FZ_CHECK(fz_terminated(res->problem, sizeof(res->problem)) && fz_terminated(res->bad_file, sizeof(res->bad_file)),
		 "unterminated problem");
	FZ_CHECK(res->nnotes <= DG_AUDIT_VERIFY_NOTES, "%u notes", res->nnotes);
	for (unsigned i = 0; i < res->nnotes; i++)
		FZ_CHECK(fz_terminated(res->notes[i], sizeof(res->notes[i])) && fz_one_line(res->notes[i]),
			 "note %u: %s", i, res->notes[i]);
	if (r == 0) {
		FZ_CHECK(!res->problem[0], "ok with a problem: %s", res->problem);
		FZ_CHECK(res->hmac_checked <= res->keyed && res->keyed <= res->records, "counts %llu %llu %llu",
			 (unsigned long long)res->hmac_checked, (unsigned long long)res->keyed,
			 (unsigned long long)res->records);
		if (res->records)
			FZ_CHECK(res->last_seq - res->first_seq + 1 == res->records, "seq %llu..%llu for %llu records",
				 (unsigned long long)res->first_seq, (unsigned long long)res->last_seq,
				 (unsigned long long)res->records);
		if (with_key)
			FZ_CHECK(res->hmac_checked == res->keyed, "keyed records not checked with a key");
	} else if (r == -DG_FAILED) {
		FZ_CHECK(res->problem[0], "a failure without a problem");
		FZ_CHECK(fz_one_line(res->problem), "problem with a control character: %s", res->problem);
	} else {
		FZ_CHECK(err->message[0], "status %d without a message", -r);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_audit_verify_opts opts = { 0 };
	struct dg_audit_verify_result res;
	struct dg_error err = { 0 };
	const uint8_t *a, *b;
	size_t alen, blen;
	const char *path, *files[1];
	char head[600];
	int r;

	fz_split(data, size, &a, &alen, &b, &blen);
	path = fz_write_file("audit.jsonl", a, alen);
	snprintf(head, sizeof(head), "%s%s", path, DG_AUDIT_HEAD_SUFFIX);
	if (a + alen < data + size)
		fz_write_file("audit.jsonl" DG_AUDIT_HEAD_SUFFIX, b, blen);
	else
		unlink(head);
	files[0] = path;
	memset(&res, 0, sizeof(res));
	r = dg_audit_verify(files, 1, &opts, &res, &err);
	check(r, &res, &err, false);
	opts.key = key;
	opts.keylen = sizeof(key) - 1;
	memset(&res, 0, sizeof(res));
	memset(&err, 0, sizeof(err));
	r = dg_audit_verify(files, 1, &opts, &res, &err);
	check(r, &res, &err, true);
	opts.no_head = true;
	memset(&res, 0, sizeof(res));
	memset(&err, 0, sizeof(err));
	r = dg_audit_verify(files, 1, &opts, &res, &err);
	check(r, &res, &err, true);
	return 0;
}
