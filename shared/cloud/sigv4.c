/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "diagint/buf.h"
#include "base/encode.h"
#include "diagint/hash.h"
#include "cloud/sigv4.h"

struct hdr {
	char *name;  /* lower case */
	char *value; /* trimmed, inner whitespace runs as one space */
	size_t order;
};

struct param {
	char *key; /* encoded */
	char *value;
};

static char *header_value(const char *v)
{
	struct dg_buf b = DG_BUF_INIT;
	bool space = false;

	while (isspace((unsigned char)*v))
		v++;
	for (; *v; v++) {
		if (isspace((unsigned char)*v)) {
			space = true;
			continue;
		}
		if (space)
			dg_buf_putc(&b, ' ');
		space = false;
		dg_buf_putc(&b, *v);
	}
	return dg_buf_steal(&b);
}

static int hdr_cmp(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int param_cmp(const void *a, const void *b)
{
	const struct param *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : strcmp(x->value, y->value);
}

static void normalize_path(const char *path, struct dg_buf *out)
{
	size_t len = strlen(path), nseg = 0;
	const char **seg = calloc(len + 1, sizeof(*seg));
	size_t *seglen = calloc(len + 1, sizeof(*seglen));
	const char *s = path;
	bool trailing = len > 0 && path[len - 1] == '/';

	if (!seg || !seglen) {
		out->oom = true;
		goto out;
	}
	while (*s) {
		const char *e;
		size_t n;

		while (*s == '/')
			s++;
		if (!*s)
			break;
		e = strchr(s, '/');
		n = e ? (size_t)(e - s) : strlen(s);
		if (n == 1 && s[0] == '.') {
			/* nothing */
		} else if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (nseg)
				nseg--;
		} else {
			seg[nseg] = s;
			seglen[nseg++] = n;
		}
		s += n;
	}
	dg_buf_putc(out, '/');
	for (size_t i = 0; i < nseg; i++) {
		dg_buf_append(out, seg[i], seglen[i]);
		if (i + 1 < nseg || trailing)
			dg_buf_putc(out, '/');
	}
out:
	free(seg);
	free(seglen);
}

static void hmac(const void *key, size_t keylen, const char *msg, unsigned char out[32])
{
	unsigned len = 32;

	HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), out, &len);
}

void dg_sigv4_clear(struct dg_sigv4 *s)
{
	if (!s)
		return;
	free(s->canonical_request);
	free(s->string_to_sign);
	free(s->signed_headers);
	free(s->authorization);
	free(s->query);
	memset(s, 0, sizeof(*s));
}

static bool split_query(const char *query, struct param **ret, size_t *ret_n)
{
	struct param *ps = NULL;
	size_t n = 0;
	const char *s = query;

	*ret = NULL;
	*ret_n = 0;
	while (s && *s) {
		const char *amp = strchr(s, '&');
		size_t len = amp ? (size_t)(amp - s) : strlen(s);
		const char *eq = memchr(s, '=', len);
		size_t klen = eq ? (size_t)(eq - s) : len;
		char *k = strndup(s, klen), *v = strndup(eq ? eq + 1 : "", eq ? len - klen - 1 : 0);
		struct dg_buf kb = DG_BUF_INIT, vb = DG_BUF_INIT;
		struct param *np;

		if (!k || !v) {
			free(k);
			free(v);
			goto oom;
		}
		/* Decode what the caller encoded, then encode once the SigV4 way. */
		dg_uri_encode(&kb, k, dg_uri_decode(k, klen), false);
		dg_uri_encode(&vb, v, dg_uri_decode(v, strlen(v)), false);
		free(k);
		free(v);
		np = realloc(ps, (n + 1) * sizeof(*ps));
		if (!np) {
			dg_buf_free(&kb);
			dg_buf_free(&vb);
			goto oom;
		}
		ps = np;
		ps[n].key = dg_buf_steal(&kb);
		ps[n].value = dg_buf_steal(&vb);
		if (!ps[n].key || !ps[n].value) {
			free(ps[n].key);
			free(ps[n].value);
			goto oom;
		}
		n++;
		s = amp ? amp + 1 : NULL;
	}
	*ret = ps;
	*ret_n = n;
	return true;
oom:
	for (size_t i = 0; i < n; i++) {
		free(ps[i].key);
		free(ps[i].value);
	}
	free(ps);
	return false;
}

static bool add_param(struct param **ps, size_t *n, const char *key, const char *value)
{
	struct param *np = realloc(*ps, (*n + 1) * sizeof(**ps));
	struct dg_buf vb = DG_BUF_INIT;

	if (!np)
		return false;
	*ps = np;
	dg_uri_encode(&vb, value, strlen(value), false);
	np[*n].key = strdup(key);
	np[*n].value = dg_buf_steal(&vb);
	if (!np[*n].key || !np[*n].value) {
		free(np[*n].key);
		free(np[*n].value);
		return false;
	}
	(*n)++;
	return true;
}

int dg_sigv4_sign(const struct dg_sigv4_request *req, const struct dg_sigv4_key *key,
		  const struct dg_sigv4_opts *o, struct dg_sigv4 *ret, struct dg_error *err)
{
	struct dg_buf canon = DG_BUF_INIT, sts = DG_BUF_INIT, signed_h = DG_BUF_INIT, scope = DG_BUF_INIT,
		      out = DG_BUF_INIT, secret = DG_BUF_INIT, cred = DG_BUF_INIT;
	struct hdr *hs = NULL;
	size_t nh = 0, np = 0, orig_np = 0;
	struct param *ps = NULL;
	char date[9], canon_hash[65], expires[24];
	unsigned char k[32];
	bool sign_token = key->session_token && *key->session_token && !o->omit_session_token;
	struct tm tm;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	if (!req->method || !req->path || !key->access_key_id || !key->secret_access_key || !o->region || !o->service)
		return dg_error_set(err, DG_FAILED, "SigV4: incomplete request or key");
	if (!gmtime_r(&o->when, &tm))
		return dg_error_set(err, DG_FAILED, "SigV4: bad time");
	strftime(ret->amz_date, sizeof(ret->amz_date), "%Y%m%dT%H%M%SZ", &tm);
	strftime(date, sizeof(date), "%Y%m%d", &tm);
	dg_hash_buffer(req->body ? req->body : "", req->body ? req->body_len : 0, ret->payload_hash);
	dg_buf_printf(&scope, "%s/%s/%s/aws4_request", date, o->region, o->service);

	/* Canonical headers: the request's, plus what the signature itself adds in the header form. */
	hs = calloc(req->n_headers + 3, sizeof(*hs));
	if (!hs)
		goto oom;
	for (size_t i = 0; i < req->n_headers; i++) {
		struct dg_buf nb = DG_BUF_INIT;
		for (const char *c = req->headers[i].name; *c; c++)
			dg_buf_putc(&nb, (char)tolower((unsigned char)*c));
		hs[nh].name = dg_buf_steal(&nb);
		hs[nh].value = header_value(req->headers[i].value);
		hs[nh].order = nh;
		if (!hs[nh].name || !hs[nh].value) {
			nh++;
			goto oom;
		}
		nh++;
	}
	if (!o->presign) {
		hs[nh] = (struct hdr){ strdup("x-amz-date"), strdup(ret->amz_date), nh };
		nh++;
		if (sign_token) {
			hs[nh] = (struct hdr){ strdup("x-amz-security-token"), header_value(key->session_token), nh };
			nh++;
		}
		if (o->sign_body) {
			hs[nh] = (struct hdr){ strdup("x-amz-content-sha256"), strdup(ret->payload_hash), nh };
			nh++;
		}
		for (size_t i = 0; i < nh; i++)
			if (!hs[i].name || !hs[i].value)
				goto oom;
	}
	qsort(hs, nh, sizeof(*hs), hdr_cmp);
	for (size_t i = 0; i < nh; i++) {
		if (i && !strcmp(hs[i].name, hs[i - 1].name))
			continue;
		dg_buf_printf(&signed_h, "%s%s", signed_h.len ? ";" : "", hs[i].name);
	}

	/* Query: the caller's parameters, and in the presigned form the signature's own. */
	if (!split_query(req->query, &ps, &np))
		goto oom;
	orig_np = np;
	if (o->presign) {
		snprintf(expires, sizeof(expires), "%ld", o->expires);
		dg_buf_printf(&cred, "%s/%s", key->access_key_id, dg_buf_str(&scope));
		if (!add_param(&ps, &np, "X-Amz-Algorithm", "AWS4-HMAC-SHA256") ||
		    !add_param(&ps, &np, "X-Amz-Credential", dg_buf_str(&cred)) ||
		    !add_param(&ps, &np, "X-Amz-Date", ret->amz_date) ||
		    !add_param(&ps, &np, "X-Amz-SignedHeaders", dg_buf_str(&signed_h)) ||
		    !add_param(&ps, &np, "X-Amz-Expires", expires) ||
		    (sign_token && !add_param(&ps, &np, "X-Amz-Security-Token", key->session_token)))
			goto oom;
	}

	/* The canonical request. */
	dg_buf_printf(&canon, "%s\n", req->method);
	if (o->normalize_path) {
		struct dg_buf norm = DG_BUF_INIT;
		normalize_path(req->path, &norm);
		dg_uri_encode(&canon, dg_buf_str(&norm), norm.len, true);
		if (!dg_buf_ok(&norm))
			canon.oom = true;
		dg_buf_free(&norm);
	} else {
		dg_uri_encode(&canon, req->path, strlen(req->path), true);
	}
	dg_buf_putc(&canon, '\n');
	{
		struct param *sorted = np ? malloc(np * sizeof(*sorted)) : NULL;
		if (np && !sorted)
			goto oom;
		if (np)
			memcpy(sorted, ps, np * sizeof(*sorted));
		if (np)
			qsort(sorted, np, sizeof(*sorted), param_cmp);
		for (size_t i = 0; i < np; i++)
			dg_buf_printf(&canon, "%s%s=%s", i ? "&" : "", sorted[i].key, sorted[i].value);
		free(sorted);
	}
	dg_buf_putc(&canon, '\n');
	for (size_t i = 0; i < nh; i++) {
		if (i && !strcmp(hs[i].name, hs[i - 1].name)) {
			dg_buf_printf(&canon, ",%s", hs[i].value);
			continue;
		}
		dg_buf_printf(&canon, "%s%s:%s", i ? "\n" : "", hs[i].name, hs[i].value);
	}
	dg_buf_printf(&canon, "\n\n%s\n%s", dg_buf_str(&signed_h), ret->payload_hash);
	if (!dg_buf_ok(&canon) || !dg_buf_ok(&signed_h) || !dg_buf_ok(&scope))
		goto oom;

	dg_hash_buffer(canon.data, canon.len, canon_hash);
	dg_buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", ret->amz_date, dg_buf_str(&scope), canon_hash);

	dg_buf_printf(&secret, "AWS4%s", key->secret_access_key);
	if (!dg_buf_ok(&sts) || !dg_buf_ok(&secret))
		goto oom;
	hmac(secret.data, secret.len, date, k);
	hmac(k, 32, o->region, k);
	hmac(k, 32, o->service, k);
	hmac(k, 32, "aws4_request", k);
	{
		unsigned char sig[32];
		hmac(k, 32, sts.data, sig);
		dg_hex(sig, 32, ret->signature);
	}

	if (o->presign) {
		/* The caller's parameters as they were, then the signature's, in the order AWS's SDKs send them. */
		if (req->query && *req->query)
			dg_buf_printf(&out, "%s&", req->query);
		for (size_t i = orig_np; i < np; i++)
			dg_buf_printf(&out, "%s=%s&", ps[i].key, ps[i].value);
		if (key->session_token && *key->session_token && !sign_token) {
			dg_buf_puts(&out, "X-Amz-Security-Token=");
			dg_uri_encode(&out, key->session_token, strlen(key->session_token), false);
			dg_buf_putc(&out, '&');
		}
		dg_buf_printf(&out, "X-Amz-Signature=%s", ret->signature);
		ret->query = dg_buf_steal(&out);
		if (!ret->query)
			goto oom;
	} else {
		dg_buf_printf(&out, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
			      key->access_key_id, dg_buf_str(&scope), dg_buf_str(&signed_h), ret->signature);
		ret->authorization = dg_buf_steal(&out);
		if (!ret->authorization)
			goto oom;
	}
	ret->canonical_request = dg_buf_steal(&canon);
	ret->string_to_sign = dg_buf_steal(&sts);
	ret->signed_headers = dg_buf_steal(&signed_h);
	if (!ret->canonical_request || !ret->string_to_sign || !ret->signed_headers)
		goto oom;
	goto out;
oom:
	dg_sigv4_clear(ret);
	r = dg_error_set(err, DG_FAILED, "SigV4: out of memory");
out:
	OPENSSL_cleanse(k, sizeof(k));
	for (size_t i = 0; i < nh; i++) {
		free(hs[i].name);
		free(hs[i].value);
	}
	free(hs);
	for (size_t i = 0; i < np; i++) {
		free(ps[i].key);
		free(ps[i].value);
	}
	free(ps);
	dg_buf_free(&canon);
	dg_buf_free(&sts);
	dg_buf_free(&signed_h);
	dg_buf_free(&scope);
	dg_buf_free(&out);
	dg_buf_free(&cred);
	dg_buf_free_secret(&secret);
	return r;
}
