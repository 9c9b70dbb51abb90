/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Check the chain, the HMACs, the head anchor and the external announcements of an audit log. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "audit/audit-internal.h"
#include "base/encode.h"
#include "audit/audit_anchor.h"
#include "diagint/audit_verify.h"

struct verifier {
	const struct dg_audit_verify_opts *opts;
	struct dg_audit_verify_result *res;
	EVP_MD_CTX *md;
	bool started;
	uint64_t expect;
	char prev[DG_SHA256_HEX_LEN + 1];
	uint64_t prev_line;
	const char *prev_file;
	struct dg_audit_head head;
	bool have_head;
	bool head_matched;
	struct dg_audit_anchor_point *anchors;
	size_t nanchors, next_anchor;
	uint64_t unkeyed_before_key;
};

static void note(struct dg_audit_verify_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct dg_audit_verify_result *res, const char *fmt, ...)
{
	va_list ap;

	if (res->nnotes >= DG_AUDIT_VERIFY_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(res->notes[res->nnotes], sizeof(res->notes[0]), fmt, ap);
	va_end(ap);
	dg_error_one_line(res->notes[res->nnotes++]); /* it may quote a record: a reviewer's terminal shows it */
}

static int bad(struct verifier *v, const char *file, uint64_t line, uint64_t seq, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int bad(struct verifier *v, const char *file, uint64_t line, uint64_t seq, const char *fmt, ...)
{
	va_list ap;

	v->res->ok = false;
	snprintf(v->res->bad_file, sizeof(v->res->bad_file), "%s", file);
	v->res->bad_line = line;
	v->res->bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(v->res->problem, sizeof(v->res->problem), fmt, ap);
	va_end(ap);
	dg_error_one_line(v->res->problem); /* it may quote a record: a reviewer's terminal shows it */
	return -DG_FAILED;
}

static void sha256_hex(EVP_MD_CTX *md, const char *data, size_t len, char hex[DG_SHA256_HEX_LEN + 1])
{
	unsigned char out[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, data, len);
	EVP_DigestFinal_ex(md, out, &n);
	dg_hex(out, n, hex);
}

/* The reason a gap record gives, for the message. */
static void gap_reason(const char *line, size_t len, char *out, size_t outlen)
{
	json_object *o = json_tokener_parse(strndupa(line, len)), *r;

	snprintf(out, outlen, "%s", "records were removed");
	if (o && json_object_object_get_ex(o, "reason", &r) && json_object_is_type(r, json_type_string))
		snprintf(out, outlen, "%s", json_object_get_string(r));
	json_object_put(o);
}

static int check_line(struct verifier *v, const char *file, uint64_t lineno, const char *line, size_t len)
{
	struct dg_audit_verify_result *res = v->res;
	char prev[DG_SHA256_HEX_LEN + 1], mac[DG_SHA256_HEX_LEN + 1], hash[DG_SHA256_HEX_LEN + 1];
	const char *claimed = NULL;
	uint64_t seq;
	bool keyed;

	if (len > DG_AUDIT_LINE_MAX || !dg_audit_line_header(line, len, &seq, prev))
		return bad(v, file, lineno, 0, "line %llu is not a diagint audit record (it does not start with "
			   "{\"v\":1,\"seq\":N,\"prev\":...): it was altered or added by hand",
			   (unsigned long long)lineno);
	if (!v->started) {
		if (seq == 1 && !strcmp(prev, DG_AUDIT_ZERO_HASH)) {
			/* the genesis record */
		} else if (memmem(line, len, "\"action\":\"rotate\"", 17)) {
			note(res, "%s starts at seq %llu, continuing a rotated file; name the files in order to check "
			     "that link too", file, (unsigned long long)seq);
		} else {
			return bad(v, file, lineno, seq, "the log starts at seq %llu without a rotation record: "
				   "records 1..%llu were removed", (unsigned long long)seq, (unsigned long long)seq - 1);
		}
		v->started = true;
		res->first_seq = seq;
	} else {
		if (seq < v->expect)
			return bad(v, file, lineno, seq, "record seq %llu on line %llu comes after seq %llu: records "
				   "were reordered or duplicated", (unsigned long long)seq, (unsigned long long)lineno,
				   (unsigned long long)v->expect - 1);
		if (seq > v->expect)
			return bad(v, file, lineno, seq, "records seq %llu..%llu are missing before line %llu: they "
				   "were removed or moved", (unsigned long long)v->expect, (unsigned long long)seq - 1,
				   (unsigned long long)lineno);
		if (strcmp(prev, v->prev))
			return bad(v, file, lineno - 1, seq - 1, "line %llu (seq %llu) was altered: its SHA-256 no "
				   "longer matches the prev of line %llu (seq %llu)", (unsigned long long)lineno - 1,
				   (unsigned long long)seq - 1, (unsigned long long)lineno, (unsigned long long)seq);
	}

	keyed = dg_audit_line_hmac(line, len, v->opts->key, v->opts->keylen, mac, &claimed);
	if (keyed) {
		res->keyed++;
		if (v->opts->keylen) {
			if (memcmp(mac, claimed, DG_SHA256_HEX_LEN))
				return bad(v, file, lineno, seq, "line %llu (seq %llu) has a wrong HMAC: it was altered, "
					   "or written without this key", (unsigned long long)lineno,
					   (unsigned long long)seq);
			res->hmac_checked++;
		}
	} else if (v->opts->keylen) {
		if (res->keyed > 0)
			return bad(v, file, lineno, seq, "line %llu (seq %llu) carries no HMAC although earlier "
				   "records do: it was written without the key", (unsigned long long)lineno,
				   (unsigned long long)seq);
		v->unkeyed_before_key++;
	}

	if (memmem(line, len, "\"action\":\"audit-gap\"", 20)) {
		char why[600];

		gap_reason(line, len, why, sizeof(why));
		return bad(v, file, lineno, seq, "line %llu (seq %llu) is a writer's notice that records were lost "
			   "before it: %s", (unsigned long long)lineno, (unsigned long long)seq, why);
	}

	sha256_hex(v->md, line, len, hash);
	while (v->next_anchor < v->nanchors && v->anchors[v->next_anchor].seq < seq)
		v->next_anchor++; /* from before the files given (rotated away) */
	while (v->next_anchor < v->nanchors && v->anchors[v->next_anchor].seq == seq) {
		if (strcmp(v->anchors[v->next_anchor].sha256, hash))
			return bad(v, file, lineno, seq, "line %llu (seq %llu) differs from the head announced to %s "
				   "when it was written: it was altered", (unsigned long long)lineno,
				   (unsigned long long)seq, v->opts->anchors);
		res->anchors_checked++;
		v->next_anchor++;
	}
	if (v->have_head && v->head.seq == seq) {
		if (strcmp(v->head.sha256, hash))
			return bad(v, file, lineno, seq, "line %llu (seq %llu) differs from the head anchor: it was "
				   "altered", (unsigned long long)lineno, (unsigned long long)seq);
		v->head_matched = true;
	}
	memcpy(v->prev, hash, sizeof(v->prev));
	v->expect = seq + 1;
	res->records++;
	res->last_seq = seq;
	memcpy(res->last_sha256, hash, sizeof(res->last_sha256));
	return 0;
}

static int check_file(struct verifier *v, const char *file, struct dg_error *err)
{
	const char *data, *p, *end;
	uint64_t lineno = 0;
	struct stat st;
	void *map = NULL;
	int fd, r = 0;

	fd = dg_audit_open_regular(file, &st);
	if (fd == -2)
		return dg_error_set(err, DG_USAGE, "the audit log " DG_AUDIT_NOT_REGULAR, file);
	if (fd < 0)
		return dg_error_set_errno(err, errno == ENOENT ? DG_NOTFOUND : DG_FAILED, errno,
					  "cannot read the audit log %s", file);
	if (st.st_size == 0)
		goto out;
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		map = NULL;
		r = dg_error_set_errno(err, DG_FAILED, errno, "cannot map %s", file);
		goto out;
	}
	madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
	data = map;
	end = data + st.st_size;
	for (p = data; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		lineno++;
		if (!nl) {
			r = bad(v, file, lineno, 0, "line %llu is torn (%zu bytes without a newline): a writer died "
				"mid-append; 'diagint audit repair' (or the next append) cuts it off and records that",
				(unsigned long long)lineno, (size_t)(end - p));
			goto out;
		}
		r = check_line(v, file, lineno, p, (size_t)(nl - p));
		if (r < 0)
			goto out;
		p = nl + 1;
	}
out:
	if (map)
		munmap(map, (size_t)st.st_size);
	close(fd);
	return r;
}

static int read_head(struct verifier *v, const char *file, struct dg_error *err)
{
	char path[PATH_MAX + 8], buf[512];
	struct dg_error e = { 0 };
	bool keyed = false;
	struct stat st;
	ssize_t n;
	int fd, r;

	snprintf(path, sizeof(path), "%s" DG_AUDIT_HEAD_SUFFIX, file);
	fd = dg_audit_open_regular(path, &st);
	if (fd == -2)
		return bad(v, path, 0, 0, "the head anchor " DG_AUDIT_NOT_REGULAR, path);
	if (fd < 0 && errno != ENOENT)
		return dg_error_set_errno(err, DG_FAILED, errno, "cannot read the head anchor %s", path);
	if (fd < 0)
		return 0;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	r = dg_audit_head_parse(buf, (size_t)n, v->opts->key, v->opts->keylen, &v->head, &keyed, &e);
	if (r < 0)
		return bad(v, path, 0, 0, "%s: %s", path, e.message);
	v->have_head = true;
	return 0;
}

int dg_audit_verify(const char *const *files, size_t nfiles, const struct dg_audit_verify_opts *opts,
		    struct dg_audit_verify_result *res, struct dg_error *err)
{
	struct dg_audit_verify_opts none = { 0 };
	struct verifier v = { 0 };
	const char *live;
	int r = 0;

	memset(res, 0, sizeof(*res));
	res->ok = true;
	if (!opts)
		opts = &none;
	if (nfiles == 0)
		return dg_error_set(err, DG_USAGE, "no audit log to verify");
	live = files[nfiles - 1];
	v.opts = opts;
	v.res = res;
	v.md = EVP_MD_CTX_new();
	if (!v.md)
		return dg_error_set(err, DG_FAILED, "out of memory");
	if (opts->anchors) {
		char abs[PATH_MAX];

		if (!realpath(live, abs))
			snprintf(abs, sizeof(abs), "%s", live);
		r = dg_audit_anchor_scan(opts->anchors, abs, &v.anchors, &v.nanchors, err);
		if (r < 0)
			goto out;
	}
	if (!opts->no_head) {
		r = read_head(&v, live, err);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < nfiles; i++) {
		r = check_file(&v, files[i], err);
		if (r < 0)
			goto out;
	}

	if (!opts->no_head) {
		if (!v.have_head && res->records > 0) {
			r = bad(&v, live, 0, 0, "%s has no head anchor (%s" DG_AUDIT_HEAD_SUFFIX "): it was removed, or "
				"the log was replaced; check against syslog or auditd with --anchors FILE", live, live);
			goto out;
		}
		if (v.have_head && v.head.seq > res->last_seq) {
			r = bad(&v, live, 0, v.head.seq, "the log ends at seq %llu but its head anchor says seq %llu "
				"was written: records %llu..%llu were cut from its end", (unsigned long long)res->last_seq,
				(unsigned long long)v.head.seq, (unsigned long long)res->last_seq + 1,
				(unsigned long long)v.head.seq);
			goto out;
		}
		if (v.have_head && v.head.seq > 0 && !v.head_matched) {
			r = bad(&v, live, 0, v.head.seq, "the head anchor names seq %llu, which is not in %s",
				(unsigned long long)v.head.seq, live);
			goto out;
		}
		res->head_checked = v.have_head;
		if (v.have_head && v.head.seq < res->last_seq)
			note(res, "the head anchor (seq %llu) lags the last record (seq %llu): a writer stopped between "
			     "its flush and the head update", (unsigned long long)v.head.seq,
			     (unsigned long long)res->last_seq);
	}
	if (v.nanchors > 0 && v.anchors[v.nanchors - 1].seq > res->last_seq) {
		r = bad(&v, live, 0, v.anchors[v.nanchors - 1].seq, "the log ends at seq %llu but %s shows seq %llu "
			"was written: records %llu..%llu were cut from its end", (unsigned long long)res->last_seq,
			opts->anchors, (unsigned long long)v.anchors[v.nanchors - 1].seq,
			(unsigned long long)res->last_seq + 1, (unsigned long long)v.anchors[v.nanchors - 1].seq);
		goto out;
	}
	if (!opts->keylen && res->keyed > 0)
		note(res, "%llu records carry an HMAC that was not checked: give the key with --key-file",
		     (unsigned long long)res->keyed);
	if (opts->keylen && v.unkeyed_before_key > 0)
		note(res, "the first %llu records carry no HMAC (written before the key was set up)",
		     (unsigned long long)v.unkeyed_before_key);
	if (opts->anchors && v.nanchors == 0)
		note(res, "%s holds no head announcement for this log", opts->anchors);
out:
	free(v.anchors);
	EVP_MD_CTX_free(v.md);
	return r;
}
