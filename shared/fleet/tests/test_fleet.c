/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fleet brakes, without etcd: request bodies (JSON, base64), reply parsing (etcd 3.4's gateway answers as
 * captured), hostile replies, [fleet] configuration. The cluster tests are tests/integration/test_fleet.py. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "fleet/fleet-internal.h"
#include "diagint/config.h"
#include "base/encode.h"
#include "diagint/fleet.h"
#include "tap.h"

/* Real answers of etcd 3.4.23's gateway. */
static const char GRANT[] = "{\"header\":{\"cluster_id\":\"15118495548433857066\",\"member_id\":\"13668033151171901709\","
			    "\"revision\":\"1\",\"raft_term\":\"2\"},\"ID\":\"4111120482232287749\",\"TTL\":\"10\"}";
static const char TXN_WON[] = "{\"header\":{\"revision\":\"2\",\"raft_term\":\"2\"},\"succeeded\":true,"
			      "\"responses\":[{\"response_put\":{\"header\":{\"revision\":\"2\"}}}]}";
/* value: {"monitor":"mon-b","action":"send","time":1700000000.5,"until":1700003600.5,"nonce":"abc"} */
static const char TXN_LOST_FMT[] = "{\"header\":{\"revision\":\"2\"},\"responses\":[{\"response_range\":{\"header\":"
				   "{\"revision\":\"2\"},\"kvs\":[{\"key\":\"%s\",\"create_revision\":\"2\","
				   "\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"%s\",\"lease\":\"77\"}],"
				   "\"count\":\"1\"}},{\"response_range\":{\"header\":{\"revision\":\"2\"}}}]}";
static const char COUNT[] = "{\"header\":{\"revision\":\"2\"},\"count\":\"10000\"}";
static const char COUNT_ZERO[] = "{\"header\":{\"revision\":\"2\"}}";
static const char KEEPALIVE[] = "{\"result\":{\"header\":{\"revision\":\"2\"},\"ID\":\"42\",\"TTL\":\"30\"}}";
static const char KEEPALIVE_GONE[] = "{\"result\":{\"header\":{\"revision\":\"2\"},\"ID\":\"42\"}}";
static const char ERR_NOLEADER[] = "{\"error\":\"etcdserver: no leader\",\"message\":\"etcdserver: no leader\",\"code\":14}";
static const char ERR_DENIED[] = "{\"error\":\"etcdserver: permission denied\",\"code\":7}";

static const char HOSTILE_ERR[] = "{\"error\":\"a\\nb\\u001b[31m\",\"code\":99999}";

static unsigned kv_seen;

static void count_kv(void *userdata, const struct dg_fleet_kv *kv)
{
	(void)userdata;
	(void)kv;
	kv_seen++;
}

static json_object *member(json_object *o, const char *path)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *t = strtok_r(buf, ".", &save); t && o; t = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, (size_t)atoi(t));
		else if (!json_object_object_get_ex(o, t, &o))
			return NULL;
	}
	return o;
}

static const char *b64_of(json_object *o, const char *path, char *out, size_t max)
{
	json_object *v = member(o, path);
	size_t n;

	if (!v || dg_fleet_b64decode(json_object_get_string(v), strlen(json_object_get_string(v)), out, max - 1, &n) < 0)
		return "(undecodable)";
	out[n] = '\0';
	return out;
}

static void test_base64(void)
{
	char out[64];
	size_t n;

	CHECK(dg_fleet_b64decode("YW55IGNhcm5hbCBwbGVhcw==", 24, out, sizeof(out), &n) == 0 && n == 16 &&
	      !memcmp(out, "any carnal pleas", 16), "base64 with two padding bytes");
	CHECK(dg_fleet_b64decode("YW55IGNhcm5hbCBwbGVhc3U=", 24, out, sizeof(out), &n) == 0 && n == 17,
	      "one padding byte");
	CHECK(dg_fleet_b64decode("+/8=", 4, out, sizeof(out), &n) == 0 && n == 2 && (unsigned char)out[0] == 0xfb,
	      "+ and / decode");
	CHECK(dg_fleet_b64decode("", 0, out, sizeof(out), &n) == 0 && n == 0, "empty");
	CHECK(dg_fleet_b64decode("YW5", 3, out, sizeof(out), &n) < 0, "length not a multiple of 4");
	CHECK(dg_fleet_b64decode("Y=55", 4, out, sizeof(out), &n) < 0, "padding in the middle");
	CHECK(dg_fleet_b64decode("YW5=YW55", 8, out, sizeof(out), &n) < 0, "data after padding");
	CHECK(dg_fleet_b64decode("YW5!", 4, out, sizeof(out), &n) < 0, "a byte outside the alphabet");
	CHECK(dg_fleet_b64decode("YW55IGNh", 8, out, 5, &n) < 0, "longer than the buffer: refused, not cut");
	for (unsigned len = 0; len < 40; len++) {
		unsigned char raw[40];
		char *e;
		for (unsigned i = 0; i < len; i++)
			raw[i] = (unsigned char)(i * 37 + len);
		e = dg_base64(raw, len);
		if (dg_fleet_b64decode(e, strlen(e), out, sizeof(out), &n) < 0 || n != len || memcmp(out, raw, len)) {
			CHECK(0, "round trip of %u bytes", len);
			free(e);
			return;
		}
		free(e);
	}
	CHECK(1, "round trip through dg_base64 for 0..39 bytes");
}

static void test_range_end(void)
{
	char out[16];

	CHECK(dg_fleet_range_end("/d/watched/", 11, out) == 11 && !memcmp(out, "/d/watched0", 11),
	      "prefix end: last byte + 1 ('/' -> '0')");
	CHECK(dg_fleet_range_end("a\xff", 2, out) == 1 && out[0] == 'b', "trailing 0xff dropped");
	CHECK(dg_fleet_range_end("\xff", 1, out) == 1 && out[0] == '\0', "all 0xff: every key from the start");
}

static void test_requests(void)
{
	char buf[1024], *s;
	json_object *j;

	s = dg_fleet_req_claim("/diagint/claims/aws:us-east-1/i-1", "{\"monitor\":\"m\"}", 123, "/diagint/actions/0", 456);
	j = json_tokener_parse(s);
	CHECK(j != NULL, "claim txn is JSON: %s", s);
	CHECK_STR(b64_of(j, "compare.0.key", buf, sizeof(buf)), "/diagint/claims/aws:us-east-1/i-1", "compare key base64");
	CHECK_STR(json_object_get_string(member(j, "compare.0.target")), "CREATE", "compare on CREATE revision");
	CHECK_STR(json_object_get_string(member(j, "compare.0.create_revision")), "0", "== 0: the key does not exist");
	CHECK_STR(json_object_get_string(member(j, "compare.0.result")), "EQUAL", "EQUAL");
	CHECK_STR(b64_of(j, "compare.1.key", buf, sizeof(buf)), "/diagint/actions/0", "the slot is compared too");
	CHECK_STR(b64_of(j, "success.0.request_put.value", buf, sizeof(buf)), "{\"monitor\":\"m\"}", "value base64");
	CHECK_STR(json_object_get_string(member(j, "success.0.request_put.lease")), "123", "claim lease (int64 string)");
	CHECK_STR(json_object_get_string(member(j, "success.1.request_put.lease")), "456", "slot lease");
	CHECK_STR(b64_of(j, "failure.0.request_range.key", buf, sizeof(buf)), "/diagint/claims/aws:us-east-1/i-1",
		  "the loser reads the holder");
	json_object_put(j);
	free(s);

	s = dg_fleet_req_claim("/p/claims/t", "v", 9, NULL, 0);
	j = json_tokener_parse(s);
	CHECK(json_object_array_length(member(j, "compare")) == 1 && json_object_array_length(member(j, "success")) == 1,
	      "without a rate: one compare, one put");
	json_object_put(j);
	free(s);

	s = dg_fleet_req_range("/p/watched/", 11, "/p/watched0", 11, true, false);
	j = json_tokener_parse(s);
	CHECK_STR(b64_of(j, "range_end", buf, sizeof(buf)), "/p/watched0", "range_end base64");
	CHECK(json_object_get_boolean(member(j, "count_only")) && !member(j, "keys_only"), "count_only set, keys_only not");
	json_object_put(j);
	free(s);

	s = dg_fleet_req_grant(3600);
	CHECK_STR(s, "{\"TTL\":\"3600\"}", "lease grant");
	free(s);
	s = dg_fleet_req_lease(4111120482232287749LL);
	CHECK_STR(s, "{\"ID\":\"4111120482232287749\"}", "lease id keeps all 63 bits (a string, not a double)");
	free(s);

	{
		struct dg_fleet_op ops[2] = { { "/p/watched/m/a", "1", 5 }, { "/p/suspect/m/a", NULL, 0 } };
		s = dg_fleet_req_batch(ops, 2);
		j = json_tokener_parse(s);
		CHECK(!member(j, "compare") && member(j, "success.0.request_put") && member(j, "success.1.request_delete_range"),
		      "batch: puts and deletes, no compare");
		json_object_put(j);
		free(s);
	}
	s = dg_fleet_holder_value("mon\"a", "send", 1.5, 3601.5, "n1");
	j = json_tokener_parse(s);
	CHECK(j && !strcmp(json_object_get_string(member(j, "monitor")), "mon\"a"), "holder value escapes quotes");
	json_object_put(j);
	free(s);
}

static void test_replies(void)
{
	struct dg_fleet_reply r;
	struct dg_fleet_claim c;
	char why[128], body[2048], nonce[64], *kb, *vb;

	CHECK(dg_fleet_parse_reply(GRANT, strlen(GRANT), DG_FLEET_R_GRANT, &r, NULL, NULL, why, sizeof(why)) == 0 &&
	      r.id == 4111120482232287749LL && r.ttl == 10 && r.revision == 1 && !r.is_error, "grant: ID, TTL");
	CHECK(dg_fleet_parse_reply(TXN_WON, strlen(TXN_WON), DG_FLEET_R_TXN, &r, NULL, NULL, why, sizeof(why)) == 0 &&
	      r.succeeded && r.n_responses == 1 && !strcmp(r.responses[0].op, "put"), "txn won");

	kb = dg_base64("/diagint/claims/t", 17);
	vb = dg_base64("{\"monitor\":\"mon-b\",\"action\":\"send\",\"time\":1700000000.5,\"until\":1700003600.5,\"nonce\":\"abc\"}",
		       strlen("{\"monitor\":\"mon-b\",\"action\":\"send\",\"time\":1700000000.5,\"until\":1700003600.5,\"nonce\":\"abc\"}"));
	snprintf(body, sizeof(body), TXN_LOST_FMT, kb, vb);
	CHECK(dg_fleet_parse_reply(body, strlen(body), DG_FLEET_R_TXN, &r, NULL, NULL, why, sizeof(why)) == 0 &&
	      !r.succeeded && r.n_responses == 2 && r.responses[0].has_kv && !r.responses[1].has_kv &&
	      r.responses[0].kv.lease == 77 && r.responses[0].kv.create_revision == 2,
	      "txn lost: succeeded absent = false, the holder's kv, an empty second range");
	memset(&c, 0, sizeof(c));
	CHECK(dg_fleet_parse_holder(r.responses[0].kv.value, r.responses[0].kv.value_len, &c, nonce, sizeof(nonce)) == 0 &&
	      !strcmp(c.holder, "mon-b") && !strcmp(c.action, "send") && c.since == 1700000000.5 &&
	      c.until == 1700003600.5 && !strcmp(nonce, "abc"), "holder: monitor, action, time, until, nonce");
	free(kb);
	free(vb);

	CHECK(dg_fleet_parse_reply(COUNT, strlen(COUNT), DG_FLEET_R_RANGE, &r, NULL, NULL, why, sizeof(why)) == 0 &&
	      r.count == 10000, "count_only");
	CHECK(dg_fleet_parse_reply(COUNT_ZERO, strlen(COUNT_ZERO), DG_FLEET_R_RANGE, &r, NULL, NULL, why, sizeof(why)) == 0 &&
	      r.count == 0, "count 0 is left out by the gateway");
	CHECK(dg_fleet_parse_reply(KEEPALIVE, strlen(KEEPALIVE), DG_FLEET_R_KEEPALIVE, &r, NULL, NULL, why, sizeof(why)) == 0 &&
	      r.ttl == 30 && r.id == 42, "keepalive");
	CHECK(dg_fleet_parse_reply(KEEPALIVE_GONE, strlen(KEEPALIVE_GONE), DG_FLEET_R_KEEPALIVE, &r, NULL, NULL, why,
				   sizeof(why)) == 0 && r.ttl == 0, "keepalive of a lease etcd no longer has: TTL 0");
	CHECK(dg_fleet_parse_reply(ERR_NOLEADER, strlen(ERR_NOLEADER), DG_FLEET_R_TXN, &r, NULL, NULL, why, sizeof(why)) == 0 &&
	      r.is_error && r.code == 14 && !strcmp(r.error, "etcdserver: no leader"), "error: code 14 and its text");
	CHECK(dg_fleet_parse_reply(ERR_DENIED, strlen(ERR_DENIED), DG_FLEET_R_RANGE, &r, NULL, NULL, why, sizeof(why)) == 0 &&
	      r.is_error && r.code == 7, "permission denied: code 7");

	{
		char *k1 = dg_base64("/p/actions/0", 12), *k2 = dg_base64("/p/actions/3", 12);
		snprintf(body, sizeof(body), "{\"kvs\":[{\"key\":\"%s\"},{\"key\":\"%s\"}],\"count\":\"2\"}", k1, k2);
		kv_seen = 0;
		CHECK(dg_fleet_parse_reply(body, strlen(body), DG_FLEET_R_RANGE, &r, count_kv, NULL, why, sizeof(why)) == 0 &&
		      kv_seen == 2 && r.n_kvs == 2, "keys_only range: every kv to the callback");
		free(k1);
		free(k2);
	}
}

static void test_hostile(void)
{
	static const char *const bad[] = {
		"", "[]", "null", "{", "{\"ID\":\"-5\",\"TTL\":\"1\"}", "{\"ID\":\"99999999999999999999\"}",
		"{\"ID\":\"12x\"}", "{\"ID\":1.5}", "{\"ID\":\"0\"}", "{\"ID\":\" 1\"}", "{\"ID\":true}",
		"{\"header\":[],\"ID\":\"1\"}",
	};
	static const char *const bad_range[] = {
		"{\"kvs\":{}}", "{\"kvs\":[{\"key\":\"***\"}]}", "{\"kvs\":[{\"value\":\"YQ==\"}]}", "{\"count\":\"-1\"}",
		"{\"kvs\":[1]}", "{\"count\":{}}",
	};
	struct dg_fleet_reply r;
	struct dg_fleet_claim c;
	char why[128], *big, deep[200];
	bool all = true;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (dg_fleet_parse_reply(bad[i], strlen(bad[i]), DG_FLEET_R_GRANT, &r, NULL, NULL, why, sizeof(why)) == 0) {
			all = false;
			printf("# accepted grant: %s\n", bad[i]);
		}
	CHECK(all, "malformed grants refused (negative, overflowing, fractional, zero IDs, wrong types)");
	all = true;
	for (size_t i = 0; i < sizeof(bad_range) / sizeof(bad_range[0]); i++)
		if (dg_fleet_parse_reply(bad_range[i], strlen(bad_range[i]), DG_FLEET_R_RANGE, &r, NULL, NULL, why,
					 sizeof(why)) == 0) {
			all = false;
			printf("# accepted range: %s\n", bad_range[i]);
		}
	CHECK(all, "malformed ranges refused (bad base64, no key, negative count, wrong types)");

	/* A value longer than our buffer is refused, not cut (a cut claim could read as another holder). */
	big = malloc(8192);
	memset(big, 'A', 4000);
	snprintf(big + 4000, 4192, "\"}]}");
	{
		char *b = malloc(9000);
		snprintf(b, 9000, "{\"kvs\":[{\"key\":\"YQ==\",\"value\":\"%.4000s\"}]}", big);
		CHECK(dg_fleet_parse_reply(b, strlen(b), DG_FLEET_R_RANGE, &r, NULL, NULL, why, sizeof(why)) < 0,
		      "a value over %d bytes is refused", DG_FLEET_VALUE_MAX);
		free(b);
	}
	free(big);
	memset(deep, '[', sizeof(deep) - 1);
	deep[sizeof(deep) - 1] = '\0';
	CHECK(dg_fleet_parse_reply(deep, strlen(deep), DG_FLEET_R_RANGE, &r, NULL, NULL, why, sizeof(why)) < 0,
	      "nesting is bounded");
	CHECK(dg_fleet_parse_reply(HOSTILE_ERR, strlen(HOSTILE_ERR), DG_FLEET_R_TXN, &r, NULL, NULL, why, sizeof(why)) == 0 && r.is_error && !strchr(r.error, '\n') &&
	      !strchr(r.error, 0x1b) && r.code == -1, "an error's text is made one printable line; absurd codes dropped");
	memset(&c, 0, sizeof(c));
	CHECK(dg_fleet_parse_holder("{\"monitor\":\"a/b\"}", 17, &c, NULL, 0) < 0, "a holder with '/' is refused");
	CHECK(dg_fleet_parse_holder("{\"monitor\":\"m\",\"time\":1e300}", 29, &c, NULL, 0) == 0 && c.since == 0,
	      "absurd times are dropped");

	/* A deterministic stream of mutations of real answers: never a crash (ASan/UBSan builds check it). */
	{
		const char *seeds[] = { GRANT, TXN_WON, COUNT, KEEPALIVE, ERR_NOLEADER };
		uint32_t x = 2463534242u;
		unsigned parsed = 0;
		for (unsigned round = 0; round < 20000; round++) {
			const char *seed = seeds[round % 5];
			size_t len = strlen(seed);
			char m[512];
			memcpy(m, seed, len);
			for (int k = 0; k < 3; k++) {
				x ^= x << 13;
				x ^= x >> 17;
				x ^= x << 5;
				m[x % len] = (char)(x >> 8);
			}
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			if (dg_fleet_parse_reply(m, len - (x % 4), (enum dg_fleet_kind)(round % 6), &r, count_kv, NULL, why,
						 sizeof(why)) == 0)
				parsed++;
			dg_fleet_parse_holder(m, len, &c, why, sizeof(why));
		}
		CHECK(parsed < 20000, "20000 mutated replies parsed without a crash (%u accepted)", parsed);
	}
}

static void test_config(void)
{
	struct dg_config *cfg = NULL;
	struct dg_error err = { 0 };
	const struct dg_fleet_config *fc;
	int r;

	r = dg_config_parse_string("[capture]\nFormat = elf\n", "t.conf", &cfg, &err);
	CHECK(r == 0 && dg_config_fleet(cfg) == NULL, "no [fleet]: no fleet (the local state file decides)");
	dg_config_free(cfg);

	r = dg_config_parse_string("[fleet]\nEndpoints = http://127.0.0.1:2379, http://127.0.0.1:22379 "
				   "http://127.0.0.1:32379\nKeyPrefix = /dg/\nDialTimeout = 500ms\nCommandTimeout = 3s\n"
				   "RequireFleet = yes\n", "t.conf", &cfg, &err);
	fc = dg_config_fleet(cfg);
	CHECK(r == 0 && fc && fc->n_endpoints == 3 && !strcmp(fc->endpoints[1], "http://127.0.0.1:22379") &&
	      !strcmp(fc->key_prefix, "/dg/") && fc->dial_timeout == 0.5 && fc->command_timeout == 3 && fc->require_fleet,
	      "[fleet] read: endpoints (space or comma), prefix, timeouts, RequireFleet (%s)", err.message);
	dg_config_free(cfg);

	r = dg_config_parse_string("[fleet]\nEndpoints = https://e:2379\n", "t.conf", &cfg, &err);
	fc = dg_config_fleet(cfg);
	CHECK(r == 0 && !strcmp(fc->key_prefix, "/diagint/") && fc->dial_timeout == 2 && fc->command_timeout == 5 &&
	      !fc->require_fleet, "defaults as etcdctl's: 2 s dial, 5 s command; prefix /diagint/");
	{
		char name[DG_FLEET_MONITOR_MAX], host[128] = "";
		gethostname(host, sizeof(host) - 1);
		dg_fleet_monitor_name(fc, "watch", name, sizeof(name));
		CHECK(!strncmp(name, "watch@", 6) && !strncmp(name + 6, host, 10), "no Monitor: watch@HOST (%s)", name);
	}
	dg_config_free(cfg);

	r = dg_config_parse_string("[fleet]\nEndpoints = https://e:2379\nMonitor = watch@kvm7-b\n", "t.conf", &cfg, &err);
	{
		char name[DG_FLEET_MONITOR_MAX];
		dg_fleet_monitor_name(dg_config_fleet(cfg), "watch", name, sizeof(name));
		CHECK(r == 0 && !strcmp(name, "watch@kvm7-b"), "Monitor names this host's monitor (%s)", name);
	}
	dg_config_free(cfg);

	static const struct {
		const char *text, *expect;
	} bad[] = {
		{ "[fleet]\nKeyPrefix = /x/\n", "needs Endpoints" },
		{ "[fleet]\nEndpoints = ftp://e:1\n", "not an etcd client URL" },
		{ "[fleet]\nEndpoints = https://e:2379/v3\n", "not an etcd client URL" },
		{ "[fleet]\nEndpoints = https://u@e:2379\n", "not an etcd client URL" },
		{ "[fleet]\nEndpoints = http://e:2379\nUser = root\nPassword = x\n", "https only" },
		{ "[fleet]\nEndpoints = https://e:2379\nUser = root\n", "together" },
		{ "[fleet]\nEndpoints = https://e:2379\nCert = /c.pem\n", "together" },
		{ "[fleet]\nEndpoints = https://e:2379\nCACert = ca.pem\n", "absolute" },
		{ "[fleet]\nEndpoints = https://e:2379\nKeyPrefix = diagint\n", "KeyPrefix" },
		{ "[fleet]\nEndpoints = https://e:2379\nCommandTimeout = forever\n", "CommandTimeout" },
		{ "[fleet]\nEndpoints = https://e:2379\nEndpoint = x\n", "unknown key 'Endpoint' in [fleet]" },
		{ "[fleet]\nEndpoints = https://e:2379\nMonitor = a/b\n", "without '/'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg = NULL;
		memset(&err, 0, sizeof(err));
		r = dg_config_parse_string(bad[i].text, "t.conf", &cfg, &err);
		CHECK(r == -DG_USAGE && cfg == NULL && strstr(err.message, bad[i].expect), "refused: %s -> %s",
		      bad[i].expect, err.message);
		dg_config_free(cfg);
	}
}

static void test_client_args(void)
{
	struct dg_fleet_config c;
	struct dg_fleet *f = NULL;
	struct dg_error err = { 0 };
	struct dg_fleet_claim cl;
	struct dg_fleet_request req = { "libvirt:web-1", "inject", 0.5, 0, 0 };

	dg_fleet_config_default(&c);
	CHECK(dg_fleet_new(&c, "m", &f, &err) == -DG_USAGE, "no endpoints: usage error");
	c.n_endpoints = 1;
	snprintf(c.endpoints[0], sizeof(c.endpoints[0]), "http://127.0.0.1:1");
	CHECK(dg_fleet_new(&c, "a/b", &f, &err) == -DG_USAGE, "a monitor name with '/' is refused");
	CHECK(dg_fleet_new(&c, "mon-1", &f, &err) == 0, "client made without a request");
	CHECK(dg_fleet_claim(f, &req, &cl, &err) == -DG_USAGE, "cooldown under 1 s refused");
	req.cooldown = 60;
	req.target = "bad\ntarget";
	CHECK(dg_fleet_claim(f, &req, &cl, &err) == -DG_USAGE, "a target with a control byte is refused");
	req.target = "libvirt:web-1";
	req.action = "an-action-name-longer-than-31-bytes";
	CHECK(dg_fleet_claim(f, &req, &cl, &err) == -DG_USAGE, "an action that would not fit the claim is refused");
	req.action = "inject";
	c.command_timeout = 0.5;
	dg_fleet_free(f);
	dg_fleet_new(&c, "mon-1", &f, &err);
	memset(&err, 0, sizeof(err));
	CHECK(dg_fleet_claim(f, &req, &cl, &err) == -DG_UNAVAILABLE && strstr(err.message, "fleet brakes unavailable"),
	      "nothing listening: unavailable, said clearly (%s)", err.message);
	CHECK(dg_fleet_set(f, "libvirt:web-1", true, false) == 0, "set works offline");
	dg_fleet_free(f);
}

int main(void)
{
	test_base64();
	test_range_end();
	test_requests();
	test_replies();
	test_hostile();
	test_config();
	test_client_args();
	return tap_done();
}
