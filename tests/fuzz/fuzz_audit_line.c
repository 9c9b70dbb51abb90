/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One audit line and the head anchor, as every reader takes them apart: dg_audit_line_header (seq and prev from
 * the fixed opening), dg_audit_line_hmac (the claimed HMAC and the one to expect) and dg_audit_head_parse (with and
 * without a key). Invariants: what is read is what the bytes say (seq re-read independently, prev and HMACs 64 hex
 * digits inside the line); a head read without a key and rendered with one reads back with that key, unchanged. */
#include <ctype.h>

#include "audit/audit-internal.h"
#include "fuzz.h"

static const unsigned char key[] = "0123456789abcdef-fuzz-key";

static bool hex64(const char *s)
{
	for (int i = 0; i < DG_SHA256_HEX_LEN; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data, *claimed = NULL;
	char prev[DG_SHA256_HEX_LEN + 1], hex[DG_SHA256_HEX_LEN + 1];
	struct dg_audit_head head, again;
	struct dg_error err = { 0 };
	uint64_t seq = 0;
	bool keyed = false;
	int r;

	if (dg_audit_line_header(line, size, &seq, prev)) {
		char *copy = fz_strndup(data, size), *end;
		unsigned long long want = strtoull(copy + sizeof("{\"v\":1,\"seq\":") - 1, &end, 10);
		FZ_CHECK(want == seq, "seq %llu read as %llu", want, (unsigned long long)seq);
		FZ_CHECK(strlen(prev) == DG_SHA256_HEX_LEN && hex64(prev), "prev %s", prev);
		FZ_CHECK(memmem(data, size, prev, DG_SHA256_HEX_LEN) != NULL, "prev not from the line");
		free(copy);
	}
	if (dg_audit_line_hmac(line, size, NULL, 0, hex, &claimed))
		FZ_CHECK(claimed >= line && claimed + DG_SHA256_HEX_LEN + 2 == line + size, "claimed HMAC outside the line");
	memset(hex, 'x', sizeof(hex));
	if (dg_audit_line_hmac(line, size, key, sizeof(key) - 1, hex, &claimed))
		FZ_CHECK(strlen(hex) == DG_SHA256_HEX_LEN && hex64(hex), "computed HMAC %.65s", hex);

	r = dg_audit_head_parse(line, size, NULL, 0, &head, &keyed, &err);
	fz_check_status(r, &err);
	if (r == 0) {
		size_t len = 0;
		char *text = dg_audit_head_render(&head, key, sizeof(key) - 1, &len);
		FZ_CHECK(strlen(head.sha256) == DG_SHA256_HEX_LEN && hex64(head.sha256), "head sha256 %s is not 64 hex",
			 head.sha256);
		FZ_CHECK(text != NULL, "render failed");
		r = dg_audit_head_parse(text, len, key, sizeof(key) - 1, &again, &keyed, &err);
		FZ_CHECK(r == 0 && keyed && again.seq == head.seq && !strcmp(again.sha256, head.sha256),
			 "a head rendered with the key does not read back (%s)", err.message);
		free(text);
	}
	memset(&err, 0, sizeof(err));
	r = dg_audit_head_parse(line, size, key, sizeof(key) - 1, &head, &keyed, &err);
	fz_check_status(r, &err);
	if (r == 0)
		FZ_CHECK(keyed, "a head without an HMAC accepted with a key");
	return 0;
}
