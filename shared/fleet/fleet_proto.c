/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* etcd v3 JSON gateway: request bodies and reply parsing (fleet-internal.h). No I/O here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/encode.h"
#include "cloud/jsonsecret.h"
#include "fleet/fleet-internal.h"

#define JSON_DEPTH 16

static int why_set(char *why, size_t len, const char *msg)
{
	if (why && len)
		snprintf(why, len, "%s", msg);
	return -1;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int dg_fleet_b64decode(const char *in, size_t in_len, char *out, size_t out_max, size_t *ret_len)
{
	size_t n = 0;

	if (in_len % 4)
		return -1;
	for (size_t i = 0; i < in_len; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];
			if (c == '=' && i + 4 == in_len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad) /* data after padding */
				return -1;
			v[k] = b64val(c);
			if (v[k] < 0)
				return -1;
		}
		uint32_t w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) | (uint32_t)v[3];
		unsigned bytes = 3u - (unsigned)pad;
		if (n + bytes > out_max)
			return -1;
		out[n++] = (char)(w >> 16);
		if (bytes > 1)
			out[n++] = (char)(w >> 8);
		if (bytes > 2)
			out[n++] = (char)w;
	}
	*ret_len = n;
	return 0;
}

size_t dg_fleet_range_end(const char *prefix, size_t len, char *out)
{
	memcpy(out, prefix, len);
	while (len > 0) {
		unsigned char c = (unsigned char)out[len - 1];
		if (c < 0xff) {
			out[len - 1] = (char)(c + 1);
			out[len] = '\0';
			return len;
		}
		len--;
	}
	out[0] = '\0';
	return 1; /* "\0": every key from the start key on */
}

bool dg_fleet_name_ok(const char *s, bool is_monitor)
{
	size_t n = 0;

	for (; s && s[n]; n++) {
		unsigned char c = (unsigned char)s[n];
		if (c < 0x20 || c == 0x7f || (is_monitor && (c == '/' || c == ' ')))
			return false;
	}
	return n > 0 && n < (is_monitor ? DG_FLEET_MONITOR_MAX : 512);
}

/* --- request bodies --------------------------------------------------------------------------------------- */

static json_object *b64str(const void *data, size_t len)
{
	char *b = dg_base64(data, len);
	json_object *j;

	if (!b)
		return NULL;
	j = json_object_new_string(b);
	free(b);
	return j;
}

static char *finish(json_object *o)
{
	char *s = NULL;

	/* The authenticate request carries the etcd password: every body is printed and freed as a secret. */
	if (o)
		s = dg_json_print_secret(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	return s;
}

static json_object *i64str(int64_t v)
{
	char b[32];

	snprintf(b, sizeof(b), "%lld", (long long)v);
	return json_object_new_string(b);
}

char *dg_fleet_req_grant(int64_t ttl)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "TTL", i64str(ttl));
	return finish(o);
}

char *dg_fleet_req_lease(int64_t id)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ID", i64str(id));
	return finish(o);
}

static json_object *range_obj(const char *key, size_t key_len, const char *end, size_t end_len, bool count_only,
			      bool keys_only)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "key", b64str(key, key_len));
	if (end)
		json_object_object_add(o, "range_end", b64str(end, end_len));
	if (count_only)
		json_object_object_add(o, "count_only", json_object_new_boolean(1));
	if (keys_only)
		json_object_object_add(o, "keys_only", json_object_new_boolean(1));
	return o;
}

char *dg_fleet_req_range(const char *key, size_t key_len, const char *end, size_t end_len, bool count_only,
			 bool keys_only)
{
	return finish(range_obj(key, key_len, end, end_len, count_only, keys_only));
}

static json_object *compare_absent(const char *key)
{
	json_object *c = json_object_new_object();

	json_object_object_add(c, "key", b64str(key, strlen(key)));
	json_object_object_add(c, "target", json_object_new_string("CREATE"));
	json_object_object_add(c, "result", json_object_new_string("EQUAL"));
	json_object_object_add(c, "create_revision", json_object_new_string("0"));
	return c;
}

static json_object *put_op(const char *key, const char *value, int64_t lease)
{
	json_object *op = json_object_new_object(), *put = json_object_new_object();

	json_object_object_add(put, "key", b64str(key, strlen(key)));
	json_object_object_add(put, "value", b64str(value, strlen(value)));
	if (lease)
		json_object_object_add(put, "lease", i64str(lease));
	json_object_object_add(op, "request_put", put);
	return op;
}

static json_object *range_op(const char *key)
{
	json_object *op = json_object_new_object();

	json_object_object_add(op, "request_range", range_obj(key, strlen(key), NULL, 0, false, false));
	return op;
}

char *dg_fleet_req_claim(const char *claim_key, const char *claim_value, int64_t claim_lease, const char *slot_key,
			 int64_t slot_lease)
{
	json_object *o = json_object_new_object(), *cmp = json_object_new_array(), *ok = json_object_new_array(),
		    *no = json_object_new_array();

	json_object_array_add(cmp, compare_absent(claim_key));
	json_object_array_add(ok, put_op(claim_key, claim_value, claim_lease));
	json_object_array_add(no, range_op(claim_key));
	if (slot_key) {
		json_object_array_add(cmp, compare_absent(slot_key));
		json_object_array_add(ok, put_op(slot_key, claim_key, slot_lease));
		json_object_array_add(no, range_op(slot_key));
	}
	json_object_object_add(o, "compare", cmp);
	json_object_object_add(o, "success", ok);
	json_object_object_add(o, "failure", no);
	return finish(o);
}

char *dg_fleet_req_batch(const struct dg_fleet_op *ops, size_t n)
{
	json_object *o = json_object_new_object(), *ok = json_object_new_array();

	for (size_t i = 0; i < n; i++) {
		if (ops[i].value) {
			json_object_array_add(ok, put_op(ops[i].key, ops[i].value, ops[i].lease));
		} else {
			json_object *op = json_object_new_object(), *del = json_object_new_object();
			json_object_object_add(del, "key", b64str(ops[i].key, strlen(ops[i].key)));
			json_object_object_add(op, "request_delete_range", del);
			json_object_array_add(ok, op);
		}
	}
	json_object_object_add(o, "success", ok);
	return finish(o);
}

char *dg_fleet_req_auth(const char *user, const char *password)
{
	json_object *o = json_object_new_object();
	char *s;

	json_object_object_add(o, "name", json_object_new_string(user));
	json_object_object_add(o, "password", json_object_new_string(password));
	s = finish(o);
	return s;
}

char *dg_fleet_holder_value(const char *monitor, const char *action, double since, double until, const char *nonce)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "monitor", json_object_new_string(monitor));
	json_object_object_add(o, "action", json_object_new_string(action));
	json_object_object_add(o, "time", json_object_new_double(since));
	json_object_object_add(o, "until", json_object_new_double(until));
	json_object_object_add(o, "nonce", json_object_new_string(nonce));
	return finish(o);
}

/* --- replies ---------------------------------------------------------------------------------------------- */

static json_object *parse_json(const char *body, size_t len, char *why, size_t why_len)
{
	json_tokener *tok;
	json_object *j;

	if (!body || len == 0) {
		why_set(why, why_len, "empty reply");
		return NULL;
	}
	if (len > DG_FLEET_REPLY_MAX || len > (size_t)INT32_MAX) {
		why_set(why, why_len, "reply too large");
		return NULL;
	}
	tok = json_tokener_new_ex(JSON_DEPTH);
	if (!tok) {
		why_set(why, why_len, "out of memory");
		return NULL;
	}
	j = json_tokener_parse_ex(tok, body, (int)len);
	if (!j || json_tokener_get_error(tok) != json_tokener_success) {
		dg_json_put_secret(j);
		j = NULL;
		why_set(why, why_len, "reply is not JSON");
	} else if (!json_object_is_type(j, json_type_object)) {
		dg_json_put_secret(j);
		j = NULL;
		why_set(why, why_len, "reply is not a JSON object");
	}
	/* An authenticate reply carries the session token. */
	dg_json_tokener_free_secret(tok);
	return j;
}

/* An int64 as grpc-gateway writes it ("123") or a plain JSON integer; absent = 0. -1 when present and not a
 * non-negative integer. */
static int get_i64(json_object *o, const char *name, int64_t *ret)
{
	json_object *v;
	const char *s;
	char *end;
	long long x;

	*ret = 0;
	if (!json_object_object_get_ex(o, name, &v) || !v)
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		x = (long long)json_object_get_int64(v);
		if (x < 0)
			return -1;
		*ret = x;
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	if (!*s || *s == '-' || *s == '+' || *s == ' ' || strlen(s) > 19)
		return -1;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno || *end || x < 0)
		return -1;
	*ret = x;
	return 0;
}

static int get_b64(json_object *o, const char *name, char *out, size_t max, size_t *ret_len)
{
	json_object *v;
	const char *s;

	*ret_len = 0;
	out[0] = '\0';
	if (!json_object_object_get_ex(o, name, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	if (dg_fleet_b64decode(s, (size_t)json_object_get_string_len(v), out, max, ret_len) < 0)
		return -1;
	out[*ret_len] = '\0';
	return 0;
}

static int parse_kv(json_object *o, struct dg_fleet_kv *kv)
{
	memset(kv, 0, sizeof(*kv));
	if (!json_object_is_type(o, json_type_object))
		return -1;
	if (get_b64(o, "key", kv->key, DG_FLEET_KEY_MAX, &kv->key_len) < 0 ||
	    get_b64(o, "value", kv->value, DG_FLEET_VALUE_MAX, &kv->value_len) < 0 ||
	    get_i64(o, "create_revision", &kv->create_revision) < 0 ||
	    get_i64(o, "mod_revision", &kv->mod_revision) < 0 || get_i64(o, "version", &kv->version) < 0 ||
	    get_i64(o, "lease", &kv->lease) < 0)
		return -1;
	return kv->key_len ? 0 : -1;
}

static int parse_kvs(json_object *o, dg_fleet_kv_fn each, void *userdata, size_t *ret_n, struct dg_fleet_kv *first)
{
	json_object *arr;
	struct dg_fleet_kv kv;
	size_t n;

	*ret_n = 0;
	if (!json_object_object_get_ex(o, "kvs", &arr) || !arr)
		return 0;
	if (!json_object_is_type(arr, json_type_array))
		return -1;
	n = json_object_array_length(arr);
	for (size_t i = 0; i < n; i++) {
		if (parse_kv(json_object_array_get_idx(arr, i), &kv) < 0)
			return -1;
		if (i == 0 && first)
			*first = kv;
		if (each)
			each(userdata, &kv);
	}
	*ret_n = n;
	return 0;
}

static int parse_error(json_object *j, struct dg_fleet_reply *r)
{
	json_object *e, *c;

	if (!json_object_object_get_ex(j, "error", &e))
		return 0;
	r->is_error = true;
	if (json_object_is_type(e, json_type_string))
		snprintf(r->error, sizeof(r->error), "%s", json_object_get_string(e));
	else
		snprintf(r->error, sizeof(r->error), "unreadable error");
	/* Remote text goes into our messages: one line, printable. */
	for (char *p = r->error; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			*p = ' ';
	if (json_object_object_get_ex(j, "code", &c) && json_object_is_type(c, json_type_int)) {
		int64_t code = json_object_get_int64(c);
		r->code = code >= 0 && code < 100 ? (int)code : -1;
	}
	return 1;
}

static int parse_txn(json_object *j, struct dg_fleet_reply *r)
{
	json_object *v, *arr;
	size_t n;

	if (json_object_object_get_ex(j, "succeeded", &v)) {
		if (!json_object_is_type(v, json_type_boolean))
			return -1;
		r->succeeded = json_object_get_boolean(v);
	}
	if (!json_object_object_get_ex(j, "responses", &arr) || !arr)
		return 0;
	if (!json_object_is_type(arr, json_type_array))
		return -1;
	n = json_object_array_length(arr);
	for (size_t i = 0; i < n && i < DG_FLEET_MAX_RESPONSES; i++) {
		struct dg_fleet_txn_response *tr = &r->responses[i];
		json_object *op = json_object_array_get_idx(arr, i), *rr;
		size_t nk;

		if (!json_object_is_type(op, json_type_object))
			return -1;
		if (json_object_object_get_ex(op, "response_range", &rr) ||
		    json_object_object_get_ex(op, "responseRange", &rr)) {
			snprintf(tr->op, sizeof(tr->op), "range");
			if (!json_object_is_type(rr, json_type_object) || get_i64(rr, "count", &tr->count) < 0 ||
			    parse_kvs(rr, NULL, NULL, &nk, &tr->kv) < 0)
				return -1;
			tr->has_kv = nk > 0;
		} else if (json_object_object_get_ex(op, "response_put", &rr) ||
			   json_object_object_get_ex(op, "responsePut", &rr)) {
			snprintf(tr->op, sizeof(tr->op), "put");
		} else if (json_object_object_get_ex(op, "response_delete_range", &rr) ||
			   json_object_object_get_ex(op, "responseDeleteRange", &rr)) {
			snprintf(tr->op, sizeof(tr->op), "delete");
		}
		r->n_responses = i + 1;
	}
	return 0;
}

int dg_fleet_parse_reply(const char *body, size_t len, enum dg_fleet_kind kind, struct dg_fleet_reply *r,
			 dg_fleet_kv_fn each, void *userdata, char *why, size_t why_len)
{
	json_object *j, *h, *res;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	j = parse_json(body, len, why, why_len);
	if (!j)
		return -1;
	if (parse_error(j, r)) {
		rc = 0;
		goto out;
	}
	if (json_object_object_get_ex(j, "header", &h) &&
	    (!json_object_is_type(h, json_type_object) || get_i64(h, "revision", &r->revision) < 0)) {
		why_set(why, why_len, "bad header");
		goto out;
	}
	switch (kind) {
	case DG_FLEET_R_PLAIN:
		break;
	case DG_FLEET_R_GRANT:
		if (get_i64(j, "ID", &r->id) < 0 || get_i64(j, "TTL", &r->ttl) < 0 || r->id == 0) {
			why_set(why, why_len, "lease grant without a lease ID");
			goto out;
		}
		break;
	case DG_FLEET_R_KEEPALIVE:
		/* One streamed message: {"result":{...}}. A lease etcd no longer has comes back without TTL. */
		if (!json_object_object_get_ex(j, "result", &res) || !json_object_is_type(res, json_type_object) ||
		    get_i64(res, "ID", &r->id) < 0 || get_i64(res, "TTL", &r->ttl) < 0) {
			why_set(why, why_len, "keepalive without a result");
			goto out;
		}
		break;
	case DG_FLEET_R_RANGE:
		if (get_i64(j, "count", &r->count) < 0 || parse_kvs(j, each, userdata, &r->n_kvs, NULL) < 0) {
			why_set(why, why_len, "bad range reply");
			goto out;
		}
		break;
	case DG_FLEET_R_TXN:
		if (parse_txn(j, r) < 0) {
			why_set(why, why_len, "bad txn reply");
			goto out;
		}
		break;
	case DG_FLEET_R_AUTH: {
		json_object *t;
		if (!json_object_object_get_ex(j, "token", &t) || !json_object_is_type(t, json_type_string) ||
		    (size_t)json_object_get_string_len(t) >= sizeof(r->token) ||
		    !json_object_get_string_len(t)) {
			why_set(why, why_len, "authenticate without a token");
			goto out;
		}
		snprintf(r->token, sizeof(r->token), "%s", json_object_get_string(t));
		break;
	}
	}
	rc = 0;
out:
	dg_json_put_secret(j); /* an authenticate reply's token */
	return rc;
}

int dg_fleet_parse_holder(const char *value, size_t len, struct dg_fleet_claim *c, char *nonce, size_t nonce_len)
{
	json_object *j = parse_json(value, len, NULL, 0), *v;
	int rc = -1;

	if (nonce && nonce_len)
		nonce[0] = '\0';
	if (!j)
		return -1;
	if (!json_object_object_get_ex(j, "monitor", &v) || !json_object_is_type(v, json_type_string) ||
	    !dg_fleet_name_ok(json_object_get_string(v), true))
		goto out;
	snprintf(c->holder, sizeof(c->holder), "%s", json_object_get_string(v));
	c->action[0] = '\0';
	if (json_object_object_get_ex(j, "action", &v) && json_object_is_type(v, json_type_string) &&
	    dg_fleet_name_ok(json_object_get_string(v), false))
		snprintf(c->action, sizeof(c->action), "%s", json_object_get_string(v));
	c->since = c->until = 0;
	if (json_object_object_get_ex(j, "time", &v) &&
	    (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
		c->since = json_object_get_double(v);
	if (json_object_object_get_ex(j, "until", &v) &&
	    (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
		c->until = json_object_get_double(v);
	if (!(c->since >= 0 && c->since < 1e11) || !(c->until >= 0 && c->until < 1e11))
		c->since = c->until = 0;
	if (nonce && json_object_object_get_ex(j, "nonce", &v) && json_object_is_type(v, json_type_string))
		snprintf(nonce, nonce_len, "%s", json_object_get_string(v));
	rc = 0;
out:
	json_object_put(j);
	return rc;
}
