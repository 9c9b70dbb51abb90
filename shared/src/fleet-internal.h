/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The etcd v3 JSON gateway's wire format, apart from the transport so that it can be tested and fuzzed alone
 * (tests/test_fleet.c, tests/fuzz/fuzz_fleet.c). etcd's gateway is grpc-gateway: bytes are base64, int64 are
 * decimal strings, and fields at their zero value are left out (a failed txn has no "succeeded", an empty range
 * no "count"). The parser trusts nothing: bounded input and nesting, every int64 checked, keys and values cut to
 * fixed buffers (and rejected when they do not fit), unknown fields ignored. */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "diagint/fleet.h"

#define DG_FLEET_REPLY_MAX (1u << 20) /* bytes; etcd's answers to us are small */
#define DG_FLEET_KEY_MAX 1024
#define DG_FLEET_VALUE_MAX 1024
#define DG_FLEET_MAX_RESPONSES 8      /* txn responses we look at */
#define DG_FLEET_TXN_OPS 128          /* etcd's default --max-txn-ops */

enum dg_fleet_kind {
	DG_FLEET_R_PLAIN,     /* only the header/error matters (put, delete, revoke) */
	DG_FLEET_R_GRANT,     /* /v3/lease/grant: ID, TTL */
	DG_FLEET_R_KEEPALIVE, /* /v3/lease/keepalive: {"result":{ID, TTL}}; no TTL = the lease is gone */
	DG_FLEET_R_RANGE,     /* /v3/kv/range: kvs, count */
	DG_FLEET_R_TXN,       /* /v3/kv/txn: succeeded, responses[] */
	DG_FLEET_R_AUTH,      /* /v3/auth/authenticate: token */
};

struct dg_fleet_kv {
	char key[DG_FLEET_KEY_MAX + 1];
	size_t key_len;
	char value[DG_FLEET_VALUE_MAX + 1]; /* NUL-terminated; may hold NULs of its own (value_len counts) */
	size_t value_len;
	int64_t create_revision, mod_revision, version, lease;
};

struct dg_fleet_txn_response {
	char op[16];       /* "range", "put", "delete", "txn", or "" */
	int64_t count;     /* range: count */
	bool has_kv;       /* range: its first kv */
	struct dg_fleet_kv kv;
};

struct dg_fleet_reply {
	bool is_error;      /* {"error":..., "code":N}: etcd refused or could not serve */
	int code;           /* gRPC code: 14 unavailable, 4 deadline, 16 unauthenticated, 7 permission denied */
	char error[256];
	int64_t revision;   /* header.revision */
	int64_t id, ttl;    /* grant, keepalive */
	bool succeeded;     /* txn */
	int64_t count;      /* range */
	size_t n_kvs;       /* range: kvs seen (each handed to the callback) */
	size_t n_responses; /* txn */
	struct dg_fleet_txn_response responses[DG_FLEET_MAX_RESPONSES];
	char token[512];    /* auth */
};

typedef void (*dg_fleet_kv_fn)(void *userdata, const struct dg_fleet_kv *kv);

/* Parse one reply body of `kind`. 0: parsed (also an etcd error, ret->is_error); -1: not a reply we can trust
 * (why says what). each (may be NULL) gets every kv of a range reply. */
int dg_fleet_parse_reply(const char *body, size_t len, enum dg_fleet_kind kind, struct dg_fleet_reply *ret,
			 dg_fleet_kv_fn each, void *userdata, char *why, size_t why_len);

/* Standard base64 (padding required, no whitespace) into out; -1 when invalid or longer than out_max. */
int dg_fleet_b64decode(const char *in, size_t in_len, char *out, size_t out_max, size_t *ret_len);

/* The end of a prefix range: the prefix with its last byte increased (trailing 0xff dropped); "\0" (all keys)
 * when nothing is left. out holds len + 1 bytes; returns the new length. */
size_t dg_fleet_range_end(const char *prefix, size_t len, char *out);

/* Request bodies (JSON, keys and values base64), as new strings (free()); NULL when out of memory. */
char *dg_fleet_req_grant(int64_t ttl);
char *dg_fleet_req_lease(int64_t id); /* keepalive and revoke */
char *dg_fleet_req_range(const char *key, size_t key_len, const char *end, size_t end_len, bool count_only,
			 bool keys_only);
/* The claim: compare create_revision(claim_key) == 0 (and of slot_key when not NULL) -> put both with their
 * leases; else range both, so the loser learns the holder (and whether the slot was the obstacle). */
char *dg_fleet_req_claim(const char *claim_key, const char *claim_value, int64_t claim_lease, const char *slot_key,
			 int64_t slot_lease);
/* A transaction without compares: puts (value set) and deletes (value NULL), at most DG_FLEET_TXN_OPS. */
struct dg_fleet_op {
	const char *key;
	const char *value;
	int64_t lease;
};
char *dg_fleet_req_batch(const struct dg_fleet_op *ops, size_t n);
char *dg_fleet_req_auth(const char *user, const char *password);

/* The claim's value: {"monitor","action","time","until","nonce"}. parse: -1 when it is not ours to read. */
char *dg_fleet_holder_value(const char *monitor, const char *action, double since, double until, const char *nonce);
int dg_fleet_parse_holder(const char *value, size_t len, struct dg_fleet_claim *ret, char *nonce, size_t nonce_len);

/* A target or monitor is fit for a key: 1-511 bytes, printable ASCII (no control bytes); monitors also no '/'. */
bool dg_fleet_name_ok(const char *s, bool is_monitor);

/* --- the client, shared by fleet.c (claims) and fleet_storm.c (the storm view) ------------------------------ */

/* What this monitor watches and suspects: want is what dg_fleet_set said, have what etcd holds. */
#define W_WATCHED 1u
#define W_SUSPECT 2u

struct entry {
	char *target;
	unsigned char want, have;
};

struct dg_fleet {
	pthread_mutex_t lock;
	struct dg_fleet_config cfg;
	char monitor[DG_FLEET_MONITOR_MAX];
	CURL *easy[DG_FLEET_MAX_ENDPOINTS];
	unsigned cur;              /* the endpoint that answered last */
	char token[512];           /* etcd auth token, when User is set */
	unsigned long requests, failovers;
	struct entry *table;       /* open addressing, power-of-two capacity */
	size_t cap, n;
	int64_t monitor_lease;     /* the storm view's lease; 0 = none yet */
};

/* POST a body (consumed: not freed) to a gateway path within CommandTimeout, with failover; 0 or -status. */
int dg_fleet_call(struct dg_fleet *f, const char *path, const char *body, enum dg_fleet_kind kind,
		  struct dg_fleet_reply *reply, dg_fleet_kv_fn each, void *userdata, struct dg_error *err);
int dg_fleet_grant(struct dg_fleet *f, double seconds, int64_t *ret, struct dg_error *err);
/* A lease etcd no longer has counts as revoked. */
int dg_fleet_revoke(struct dg_fleet *f, int64_t id, struct dg_error *err);
void dg_fleet_storm_free(struct dg_fleet *f);
