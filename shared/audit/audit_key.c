/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The optional HMAC key: who holds it can extend the chain; the MAC of records and of the head. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "audit/audit-internal.h"
#include "base/encode.h"

#define KEY_MIN 16

int dg_audit_key_load(const char *path, unsigned char *key, size_t keymax, size_t *ret_len, struct dg_error *err)
{
	bool named = path != NULL;
	struct stat st;
	size_t len = 0;
	int fd, r = 0;

	if (!path) {
		path = getenv(DG_AUDIT_ENV_KEY);
		named = path && *path;
		if (!named)
			path = DG_AUDIT_DEFAULT_KEY_PATH;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK); /* a FIFO must not hang us: refused below */
	if (fd < 0) {
		if (errno == ENOENT && !named) {
			*ret_len = 0;
			return 0;
		}
		/* An unreadable key must not silently produce an unkeyed record in a keyed chain. */
		return dg_error_set_errno(err, errno == EACCES ? DG_DENIED : DG_USAGE, errno,
					  "cannot read the audit key %s (run as its owner, or name another with "
					  "--key-file or $%s)", path, DG_AUDIT_ENV_KEY);
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = dg_error_set(err, DG_USAGE, "the audit key %s is not a regular file (a FIFO, a device or a "
				 "directory): name the key file itself", path);
		goto out;
	}
	if (st.st_mode & 0077) {
		r = dg_error_set(err, DG_USAGE, "the audit key %s is readable by others (mode %03o): chmod 600 %s",
				 path, (unsigned)(st.st_mode & 0777), path);
		goto out;
	}
	while (len < keymax) {
		ssize_t n = read(fd, key + len, keymax - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = dg_error_set_errno(err, DG_FAILED, errno, "cannot read the audit key %s", path);
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len < KEY_MIN || (size_t)st.st_size > keymax) {
		r = dg_error_set(err, DG_USAGE, "the audit key %s must hold %d to %zu bytes (it has %lld); make one "
				 "with: head -c 32 /dev/urandom > %s", path, KEY_MIN, keymax, (long long)st.st_size, path);
		goto out;
	}
	*ret_len = len;
out:
	close(fd);
	return r;
}

void dg_audit_hmac(const unsigned char *key, size_t keylen, const void *data, size_t len,
		   char hex[DG_SHA256_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	HMAC(EVP_sha256(), key, (int)keylen, data, len, md, &mdlen);
	dg_hex(md, mdlen, hex);
}

bool dg_audit_line_hmac(const char *line, size_t len, const unsigned char *key, size_t keylen,
			char hex[DG_SHA256_HEX_LEN + 1], const char **ret_claimed)
{
	static const char member[] = ",\"hmac\":\"";
	const char *tail;
	char stack[4096], *body;

	if (len < DG_AUDIT_HMAC_TAIL_LEN + 2)
		return false;
	tail = line + len - DG_AUDIT_HMAC_TAIL_LEN;
	if (memcmp(tail, member, sizeof(member) - 1) || memcmp(line + len - 2, "\"}", 2))
		return false;
	if (ret_claimed)
		*ret_claimed = tail + sizeof(member) - 1;
	if (!key || keylen == 0)
		return true;
	/* The MAC was taken over the record without its last member: the same bytes up to it, then '}'. */
	size_t body_len = (size_t)(tail - line) + 1;
	body = body_len <= sizeof(stack) ? stack : malloc(body_len);
	if (!body)
		return false;
	memcpy(body, line, body_len - 1);
	body[body_len - 1] = '}';
	dg_audit_hmac(key, keylen, body, body_len, hex);
	if (body != stack)
		free(body);
	return true;
}

char *dg_audit_head_render(const struct dg_audit_head *head, const unsigned char *key, size_t keylen,
			   size_t *ret_len)
{
	json_object *o = json_object_new_object();
	const char *s;
	char *out = NULL;

	json_object_object_add(o, "v", json_object_new_int(DG_AUDIT_RECORD_VERSION));
	json_object_object_add(o, "seq", json_object_new_int64((int64_t)head->seq));
	json_object_object_add(o, "sha256", json_object_new_string(head->sha256));
	if (keylen > 0) {
		char mac[DG_SHA256_HEX_LEN + 1];

		s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		dg_audit_hmac(key, keylen, s, strlen(s), mac);
		json_object_object_add(o, "hmac", json_object_new_string(mac));
	}
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (s && asprintf(&out, "%s\n", s) >= 0)
		*ret_len = strlen(out);
	else
		out = NULL;
	json_object_put(o);
	return out;
}

int dg_audit_head_parse(const char *text, size_t len, const unsigned char *key, size_t keylen,
			struct dg_audit_head *ret, bool *ret_keyed, struct dg_error *err)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = NULL, *seq, *sha, *mac;
	const char *hex;
	int r = 0;

	if (!tok)
		return dg_error_set(err, DG_FAILED, "out of memory");
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\0'))
		len--;
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (!o || json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "seq", &seq) || !json_object_is_type(seq, json_type_int) ||
	    !json_object_object_get_ex(o, "sha256", &sha) || !json_object_is_type(sha, json_type_string) ||
	    json_object_get_string_len(sha) != DG_SHA256_HEX_LEN ||
	    strspn(json_object_get_string(sha), "0123456789abcdef") != DG_SHA256_HEX_LEN ||
	    json_object_get_int64(seq) < 0) {
		r = dg_error_set(err, DG_FAILED, "the head anchor is not a diagint audit head");
		goto out;
	}
	ret->seq = (uint64_t)json_object_get_int64(seq);
	hex = json_object_get_string(sha);
	memcpy(ret->sha256, hex, DG_SHA256_HEX_LEN + 1);
	mac = json_object_object_get_ex(o, "hmac", &mac) ? mac : NULL;
	if (ret_keyed)
		*ret_keyed = mac != NULL;
	if (keylen > 0) {
		struct dg_audit_head plain = *ret;
		char *body;
		size_t blen = 0;
		char want[DG_SHA256_HEX_LEN + 1];

		if (!mac) {
			r = dg_error_set(err, DG_FAILED, "the head anchor carries no HMAC, but a key was given");
			goto out;
		}
		body = dg_audit_head_render(&plain, NULL, 0, &blen);
		if (!body) {
			r = dg_error_set(err, DG_FAILED, "out of memory");
			goto out;
		}
		dg_audit_hmac(key, keylen, body, blen - 1, want);
		free(body);
		if (strcmp(want, json_object_get_string(mac))) {
			r = dg_error_set(err, DG_FAILED, "the head anchor's HMAC is wrong: it was not written with this key");
			goto out;
		}
	}
out:
	json_object_put(o);
	json_tokener_free(tok);
	return r;
}
