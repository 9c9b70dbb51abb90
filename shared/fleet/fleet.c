/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fleet brakes on etcd v3 (fleet.h): the client (endpoint failover, authentication, deadlines), the claim and
 * the fleet-wide action slots. The storm view is fleet_storm.c, the wire format fleet_proto.c. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "dg_config.h"
#include "diagint/buf.h"
#include "diagint/clock.h"
#include "base/encode.h"
#include "diagint/http.h"
#include "fleet/fleet-internal.h"

/* Whole seconds up (leases are whole seconds), without libm: the core does not link it. */
static int64_t ceil_s(double x)
{
	int64_t i = (int64_t)x;

	return i + (x > (double)i);
}

static double dmin(double a, double b)
{
	return a < b ? a : b;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_status;

static void curl_init_once(void)
{
	curl_status = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

const char *dg_fleet_verdict_name(enum dg_fleet_verdict v)
{
	switch (v) {
	case DG_FLEET_WON:
		return "won";
	case DG_FLEET_CLAIMED:
		return "claimed";
	case DG_FLEET_RATE:
		return "rate";
	}
	return "unknown";
}

int dg_fleet_new(const struct dg_fleet_config *c, const char *monitor, struct dg_fleet **ret, struct dg_error *err)
{
	struct dg_fleet *f;
	char why[DG_ERROR_MSG_MAX];

	if (dg_fleet_config_check(c, why, sizeof(why)) < 0)
		return dg_error_set(err, DG_USAGE, "%s", why);
	if (!dg_fleet_name_ok(monitor, true))
		return dg_error_set(err, DG_USAGE, "fleet monitor name '%s' is not usable in a key: printable, no '/' "
				    "or space, at most %d bytes", monitor ? monitor : "", DG_FLEET_MONITOR_MAX - 1);
	pthread_once(&curl_once, curl_init_once);
	if (curl_status != CURLE_OK)
		return dg_error_set(err, DG_FAILED, "cannot initialise libcurl: %s", curl_easy_strerror(curl_status));
	f = calloc(1, sizeof(*f));
	if (!f)
		return dg_error_set(err, DG_FAILED, "out of memory");
	pthread_mutex_init(&f->lock, NULL);
	f->cfg = *c;
	snprintf(f->monitor, sizeof(f->monitor), "%s", monitor);
	*ret = f;
	return 0;
}

/* --- transport -------------------------------------------------------------------------------------------- */

struct sink {
	struct dg_buf b;
	bool too_big;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n = size * nmemb;

	if (s->b.len + n > DG_FLEET_REPLY_MAX) {
		s->too_big = true;
		return 0;
	}
	return dg_buf_append(&s->b, data, n) ? n : 0;
}

static CURL *easy_for(struct dg_fleet *f, unsigned i)
{
	CURL *e = f->easy[i];
	CURLcode c = CURLE_OK;

	if (e)
		return e;
	e = curl_easy_init();
	if (!e)
		return NULL;
	/* No signals (daemons, threads), no redirects, TLS always verified; a private CA is a CA file. */
	c |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	c |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	c |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	c |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	c |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	c |= curl_easy_setopt(e, CURLOPT_USERAGENT, "diagint/" DG_VERSION);
	c |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	c |= curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	if (f->cfg.cacert[0])
		c |= curl_easy_setopt(e, CURLOPT_CAINFO, f->cfg.cacert);
	if (f->cfg.cert[0]) {
		c |= curl_easy_setopt(e, CURLOPT_SSLCERT, f->cfg.cert);
		c |= curl_easy_setopt(e, CURLOPT_SSLKEY, f->cfg.key);
	}
	if (c != CURLE_OK) {
		curl_easy_cleanup(e);
		return NULL;
	}
	f->easy[i] = e;
	return e;
}

enum outcome {
	O_OK,          /* an answer we parsed (it may be an etcd error the caller looks at) */
	O_NEXT,        /* this endpoint cannot serve now: try the next one */
	O_FATAL,       /* stop: err is set */
};

/* Is an etcd error one that another member (or a moment later) could serve? */
static bool unavailable_error(const struct dg_fleet_reply *r)
{
	static const char *const words[] = { "no leader", "timed out", "leader changed", "not capable",
					     "too many requests", "stopped", "unhealthy", "timeout", NULL };

	if (r->code == 14 || r->code == 4 || r->code == 8 || r->code == 1)
		return true;
	for (int i = 0; words[i]; i++)
		if (strstr(r->error, words[i]))
			return true;
	return false;
}

static bool auth_error(const struct dg_fleet_reply *r)
{
	return r->code == 16 || strstr(r->error, "invalid auth token") || strstr(r->error, "user name is empty");
}

/* One POST to one endpoint. */
static enum outcome post_one(struct dg_fleet *f, unsigned i, const char *path, const char *body, double left,
			     enum dg_fleet_kind kind, struct dg_fleet_reply *reply, dg_fleet_kv_fn each,
			     void *userdata, char *ep_err, size_t ep_len, struct dg_error *err)
{
	struct sink s = { DG_BUF_INIT, false };
	struct curl_slist *hdrs = NULL, *l;
	char url[512], why[128], line[600];
	enum outcome o = O_NEXT;
	long status = 0, ms = (long)(left * 1000);
	CURL *e = easy_for(f, i);
	CURLcode c;

	if (!e) {
		dg_error_set(err, DG_FAILED, "cannot set up a libcurl handle for etcd (out of memory, or libcurl "
			     "lacks an option: 7.85 or later is needed)");
		return O_FATAL;
	}
	snprintf(url, sizeof(url), "%s%s", f->cfg.endpoints[i], path);
	hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (hdrs && (l = curl_slist_append(hdrs, "Expect:")))
		hdrs = l;
	if (hdrs && f->token[0]) {
		snprintf(line, sizeof(line), "Authorization: %s", f->token);
		if ((l = curl_slist_append(hdrs, line)))
			hdrs = l;
		OPENSSL_cleanse(line, sizeof(line));
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms < 1 ? 1L : ms);
	ms = (long)(dmin(f->cfg.dial_timeout, left) * 1000);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms < 1 ? 1L : ms);
	f->requests++;
	c = curl_easy_perform(e);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	if (c != CURLE_OK) {
		if (c == CURLE_PEER_FAILED_VERIFICATION || c == CURLE_SSL_CACERT_BADFILE || c == CURLE_SSL_CERTPROBLEM) {
			dg_error_set(err, DG_USAGE, "etcd at %s: TLS: %s; check CACert, Cert and Key in [fleet] "
				     "(verification is never switched off)", f->cfg.endpoints[i], curl_easy_strerror(c));
			o = O_FATAL;
		} else {
			snprintf(ep_err, ep_len, "%s", s.too_big ? "reply too large" :
				 c == CURLE_OPERATION_TIMEDOUT ? "no answer in time" : curl_easy_strerror(c));
		}
		goto out;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 400 && status < 500 && status != 408 && status != 429 &&
	    (s.b.len == 0 || dg_buf_str(&s.b)[0] != '{')) {
		/* A plain-text refusal from the gateway itself (a client certificate with a CommonName while auth is
		 * on, a path it does not serve): the configuration, not the cluster, is wrong. Never "go on". */
		char text[200];
		size_t k = 0;
		for (const char *p = dg_buf_str(&s.b); *p && k + 1 < sizeof(text); p++)
			text[k++] = (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f ? ' ' : *p;
		text[k] = '\0';
		dg_error_set(err, DG_USAGE, "etcd at %s refused %s: HTTP %ld: %s%s", f->cfg.endpoints[i], path, status,
			     text, strstr(text, "CommonName") ? " (with etcd auth on, the gateway needs a client certificate "
							       "without a CommonName: docs/fleet.md)" : "");
		o = O_FATAL;
		goto out;
	}
	if (dg_fleet_parse_reply(dg_buf_str(&s.b), s.b.len, kind, reply, each, userdata, why, sizeof(why)) < 0) {
		snprintf(ep_err, ep_len, "HTTP %ld, %s", status, why);
		goto out;
	}
	if (reply->is_error && unavailable_error(reply)) {
		snprintf(ep_err, ep_len, "%.150s", reply->error);
		goto out;
	}
	if (!reply->is_error && status != 200) {
		snprintf(ep_err, ep_len, "HTTP %ld", status);
		goto out;
	}
	o = O_OK;
out:
	dg_buf_free_secret(&s.b);
	return o;
}

static int authenticate(struct dg_fleet *f, unsigned i, double left, char *ep_err, size_t ep_len,
			struct dg_error *err);

/* POST body to path, on the endpoint that answered last, then the others, round after round, within
 * CommandTimeout for the whole call. One attempt gets at most a third of it (at least 1 s): a member that lost
 * its leader holds a request until etcd's own timeout (~6 s), and an election is over in ~1 s, so the next
 * attempt, on another member or the same, is the one that succeeds. Every request here may be repeated: grants
 * (an extra lease expires unused), keepalives, revokes, puts of the same value, and the claim txn, whose nonce
 * tells our own earlier copy from another monitor's claim. 0 with *reply (never an etcd error: those become a
 * status here), or -status. */
int dg_fleet_call(struct dg_fleet *f, const char *path, const char *body, enum dg_fleet_kind kind,
		  struct dg_fleet_reply *reply, dg_fleet_kv_fn each, void *userdata, struct dg_error *err)
{
	double deadline = dg_clock_mono() + f->cfg.command_timeout;
	double per_attempt = f->cfg.command_timeout / 3 > 1 ? f->cfg.command_timeout / 3 : 1;
	char last[DG_FLEET_MAX_ENDPOINTS][160];
	struct dg_buf errors = DG_BUF_INIT;
	bool reauthed = false;
	unsigned n = f->cfg.n_endpoints;
	int r = 0;

	if (!body)
		return dg_error_set(err, DG_FAILED, "out of memory");
	memset(last, 0, sizeof(last));
	for (unsigned k = 0;; k++) {
		unsigned i = (f->cur + k) % n;
		double left = dg_clock_left(deadline);
		enum outcome o;

		if (left <= 0.001)
			break;
		if (k > 0 && k % n == 0) {
			/* Every member said no just now (refused, no leader): give an election a moment. */
			struct timespec ts = { 0, 100 * 1000 * 1000 };
			if (left < 0.15)
				break;
			nanosleep(&ts, NULL);
			left = dg_clock_left(deadline);
		}
		if (k > 0)
			f->failovers++;
		if (left > per_attempt)
			left = per_attempt;
		if (f->cfg.user[0] && !f->token[0] && kind != DG_FLEET_R_AUTH) {
			r = authenticate(f, i, left, last[i], sizeof(last[i]), err);
			if (r < 0 && err && err->status != DG_UNAVAILABLE)
				goto out;
			if (r < 0)
				continue;
			left = dmin(dg_clock_left(deadline), per_attempt);
		}
		o = post_one(f, i, path, body, left, kind, reply, each, userdata, last[i], sizeof(last[i]), err);
		if (o == O_FATAL) {
			r = -(int)(err ? err->status : DG_FAILED);
			goto out;
		}
		if (o == O_NEXT)
			continue;
		if (reply->is_error && auth_error(reply) && f->cfg.user[0] && !reauthed) {
			/* The token expired (simple tokens last 5 minutes): once more with a new one. */
			f->token[0] = '\0';
			reauthed = true;
			k--;
			continue;
		}
		if (reply->is_error) {
			bool denied = reply->code == 7 || reply->code == 16 || strstr(reply->error, "permission denied") ||
				      strstr(reply->error, "authentication failed");
			r = dg_error_set(err, denied ? DG_DENIED : DG_FAILED, "etcd at %s refused %s: %s%s",
					 f->cfg.endpoints[i], path, reply->error,
					 denied ? " (check User/Password or the client certificate, and the role's "
						  "permissions on KeyPrefix: docs/fleet.md)" : "");
			goto out;
		}
		f->cur = i;
		r = 0;
		goto out;
	}
	for (unsigned i = 0; i < n; i++)
		dg_buf_printf(&errors, "%s%s: %s", i ? "; " : "", f->cfg.endpoints[i], last[i][0] ? last[i] : "not tried");
	r = dg_error_set(err, DG_UNAVAILABLE, "fleet brakes unavailable: no etcd member answered %s within "
			 "CommandTimeout %gs (no quorum, or unreachable): %s", path, f->cfg.command_timeout,
			 dg_buf_str(&errors));
out:
	dg_buf_free(&errors);
	return r;
}

static int authenticate(struct dg_fleet *f, unsigned i, double left, char *ep_err, size_t ep_len,
			struct dg_error *err)
{
	char *body = dg_fleet_req_auth(f->cfg.user, f->cfg.password);
	struct dg_fleet_reply reply;
	enum outcome o;
	int r;

	if (!body)
		return dg_error_set(err, DG_FAILED, "out of memory");
	o = post_one(f, i, "/v3/auth/authenticate", body, left, DG_FLEET_R_AUTH, &reply, NULL, NULL, ep_err, ep_len,
		     err);
	OPENSSL_cleanse(body, strlen(body));
	free(body);
	if (o == O_FATAL)
		return -(int)(err ? err->status : DG_FAILED);
	if (o == O_NEXT)
		return dg_error_set(err, DG_UNAVAILABLE, "cannot authenticate to etcd at %s: %s", f->cfg.endpoints[i],
				    ep_err);
	if (reply.is_error || !dg_http_token_valid(reply.token)) {
		r = dg_error_set(err, DG_DENIED, "etcd at %s refused user %s: %s (check User and Password in [fleet])",
				 f->cfg.endpoints[i], f->cfg.user, reply.is_error ? reply.error : "unusable token");
		OPENSSL_cleanse(&reply, sizeof(reply));
		return r;
	}
	snprintf(f->token, sizeof(f->token), "%s", reply.token);
	OPENSSL_cleanse(&reply, sizeof(reply));
	return 0;
}

/* --- leases ----------------------------------------------------------------------------------------------- */

int dg_fleet_grant(struct dg_fleet *f, double seconds, int64_t *ret, struct dg_error *err)
{
	struct dg_fleet_reply reply;
	int64_t ttl = ceil_s(seconds);
	char *body = dg_fleet_req_grant(ttl < 1 ? 1 : ttl);
	int r = dg_fleet_call(f, "/v3/lease/grant", body, DG_FLEET_R_GRANT, &reply, NULL, NULL, err);

	free(body);
	if (r == 0)
		*ret = reply.id;
	return r;
}

int dg_fleet_revoke(struct dg_fleet *f, int64_t id, struct dg_error *err)
{
	struct dg_fleet_reply reply;
	char *body;
	int r;

	if (!id)
		return 0;
	body = dg_fleet_req_lease(id);
	r = dg_fleet_call(f, "/v3/lease/revoke", body, DG_FLEET_R_PLAIN, &reply, NULL, NULL, err);
	free(body);
	/* A lease etcd no longer has (expired) is revoked already. */
	if (r < 0 && err && strstr(err->message, "lease not found"))
		r = 0;
	return r;
}

/* --- claim ------------------------------------------------------------------------------------------------ */

struct slots {
	const char *prefix;
	size_t prefix_len;
	unsigned max;
	unsigned char *taken;
};

static void on_slot(void *userdata, const struct dg_fleet_kv *kv)
{
	struct slots *s = userdata;
	char *end;
	unsigned long v;

	if (kv->key_len <= s->prefix_len || memcmp(kv->key, s->prefix, s->prefix_len))
		return;
	v = strtoul(kv->key + s->prefix_len, &end, 10);
	if (*end == '\0' && v < s->max)
		s->taken[v] = 1;
}

static int read_slots(struct dg_fleet *f, struct slots *s, struct dg_error *err)
{
	char end[sizeof(f->cfg.key_prefix) + 16];
	struct dg_fleet_reply reply;
	size_t end_len = dg_fleet_range_end(s->prefix, s->prefix_len, end);
	char *body = dg_fleet_req_range(s->prefix, s->prefix_len, end, end_len, false, true);
	int r = dg_fleet_call(f, "/v3/kv/range", body, DG_FLEET_R_RANGE, &reply, on_slot, s, err);

	free(body);
	return r;
}

static void first_kv(void *userdata, const struct dg_fleet_kv *kv)
{
	struct dg_fleet_kv *first = userdata;

	if (!first->key_len)
		*first = *kv;
}

/* Another claim holds the target: who, since when, until when. */
static void holder_from(struct dg_fleet_claim *c, const struct dg_fleet_kv *kv)
{
	struct dg_fleet_claim h = *c;

	if (dg_fleet_parse_holder(kv->value, kv->value_len, &h, NULL, 0) < 0) {
		snprintf(h.holder, sizeof(h.holder), "an unreadable claim");
		h.action[0] = '\0';
		h.since = h.until = 0;
	}
	snprintf(c->holder, sizeof(c->holder), "%s", h.holder);
	snprintf(c->action, sizeof(c->action), "%s", h.action);
	c->since = h.since;
	c->until = h.until;
	c->verdict = DG_FLEET_CLAIMED;
}

static void nonce_make(char out[33])
{
	unsigned char raw[16];

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		/* Uniqueness is what matters (telling our own claim from another's), not secrecy. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		memset(raw, 0, sizeof(raw));
		memcpy(raw, &ts, sizeof(ts) < sizeof(raw) ? sizeof(ts) : sizeof(raw));
		raw[15] ^= (unsigned char)getpid();
	}
	dg_hex(raw, sizeof(raw), out);
}

static void describe(struct dg_fleet_claim *c)
{
	char since[64] = "an unknown time", until[64] = "";
	time_t t;
	struct tm tm;

	switch (c->verdict) {
	case DG_FLEET_WON:
		snprintf(c->reason, sizeof(c->reason), "fleet claim on %s taken by %s", c->target, c->holder);
		break;
	case DG_FLEET_CLAIMED:
		if (c->since > 0) {
			t = (time_t)c->since;
			gmtime_r(&t, &tm);
			strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
		}
		if (c->until > 0) {
			t = (time_t)c->until;
			gmtime_r(&t, &tm);
			strftime(until, sizeof(until), " until %Y-%m-%dT%H:%M:%SZ", &tm);
		}
		snprintf(c->reason, sizeof(c->reason), "claimed by %s at %s%s%s (fleet cooldown%s)", c->holder, since,
			 c->action[0] ? " for " : "", c->action, until);
		break;
	case DG_FLEET_RATE:
		snprintf(c->reason, sizeof(c->reason), "every fleet-wide action slot of the window is taken (%s)",
			 c->target);
		break;
	}
}

int dg_fleet_claim(struct dg_fleet *f, const struct dg_fleet_request *req, struct dg_fleet_claim *ret,
		   struct dg_error *err)
{
	char claim_key[1024], slot_prefix[256], slot_key[300], nonce[33], their_nonce[64];
	unsigned char taken[1024];
	struct slots s = { 0 };
	struct dg_fleet_reply reply;
	struct dg_fleet_claim c;
	int64_t lease = 0, slot_lease = 0;
	char *value = NULL, *body;
	double now = wall_now();
	int r;

	memset(&c, 0, sizeof(c));
	/* The action goes into the claim's value, which every loser must be able to read (DG_FLEET_VALUE_MAX). */
	if (!req || !dg_fleet_name_ok(req->target, false) || !dg_fleet_name_ok(req->action, false) ||
	    strlen(req->action) >= sizeof(c.action) ||
	    !(req->cooldown >= 1 && req->cooldown <= 366 * 86400.0) ||
	    (req->max_actions && (!(req->window >= 1 && req->window <= 366 * 86400.0) ||
				  req->max_actions > sizeof(taken))))
		return dg_error_set(err, DG_USAGE, "bad fleet claim request (target, an action of at most 31 bytes, "
				    "cooldown >= 1 s, at most %zu actions per window >= 1 s)", sizeof(taken));
	snprintf(c.target, sizeof(c.target), "%s", req->target);
	snprintf(c.action, sizeof(c.action), "%s", req->action);
	snprintf(claim_key, sizeof(claim_key), "%sclaims/%s", f->cfg.key_prefix, req->target);
	snprintf(slot_prefix, sizeof(slot_prefix), "%sactions/", f->cfg.key_prefix);
	nonce_make(nonce);

	pthread_mutex_lock(&f->lock);
	r = dg_fleet_grant(f, req->cooldown, &lease, err);
	if (r < 0)
		goto out;
	if (req->max_actions) {
		memset(taken, 0, sizeof(taken));
		s = (struct slots){ slot_prefix, strlen(slot_prefix), req->max_actions, taken };
		r = dg_fleet_grant(f, req->window, &slot_lease, err);
		if (r == 0)
			r = read_slots(f, &s, err);
		if (r < 0)
			goto out;
	}
	value = dg_fleet_holder_value(f->monitor, req->action, now, now + (double)ceil_s(req->cooldown), nonce);
	if (!value) {
		r = dg_error_set(err, DG_FAILED, "out of memory");
		goto out;
	}
	/* A slot taken by another monitor between our read and our txn: take the next free one (bounded). */
	for (unsigned attempt = 0;; attempt++) {
		unsigned slot = 0;
		bool have_slot = !req->max_actions;

		for (; req->max_actions && slot < req->max_actions; slot++)
			if (!taken[slot]) {
				have_slot = true;
				break;
			}
		if (have_slot && req->max_actions)
			snprintf(slot_key, sizeof(slot_key), "%s%u", slot_prefix, slot);
		if (!have_slot || attempt >= 8) {
			/* No slot: is the target itself claimed? That is the more useful answer. */
			char *rb = dg_fleet_req_range(claim_key, strlen(claim_key), NULL, 0, false, false);
			struct dg_fleet_kv first = { .key_len = 0 };
			r = dg_fleet_call(f, "/v3/kv/range", rb, DG_FLEET_R_RANGE, &reply, first_kv, &first, err);
			free(rb);
			if (r < 0)
				goto out;
			c.verdict = DG_FLEET_RATE;
			if (first.key_len)
				holder_from(&c, &first);
			break;
		}
		body = dg_fleet_req_claim(claim_key, value, lease, req->max_actions ? slot_key : NULL, slot_lease);
		r = dg_fleet_call(f, "/v3/kv/txn", body, DG_FLEET_R_TXN, &reply, NULL, NULL, err);
		free(body);
		if (r < 0)
			goto out;
		if (reply.succeeded) {
			c.verdict = DG_FLEET_WON;
			break;
		}
		if (reply.n_responses >= 1 && reply.responses[0].has_kv) {
			const struct dg_fleet_kv *kv = &reply.responses[0].kv;
			struct dg_fleet_claim h = c;
			if (dg_fleet_parse_holder(kv->value, kv->value_len, &h, their_nonce, sizeof(their_nonce)) == 0 &&
			    !strcmp(their_nonce, nonce)) {
				/* Our own claim: an earlier copy of this txn was applied before its answer was lost. */
				c.verdict = DG_FLEET_WON;
				break;
			}
			holder_from(&c, kv);
			break;
		}
		if (req->max_actions)
			taken[slot] = 1;
	}
out:
	if (r == 0 && c.verdict == DG_FLEET_WON) {
		snprintf(c.holder, sizeof(c.holder), "%s", f->monitor);
		c.since = now;
		c.until = now + (double)ceil_s(req->cooldown);
		c.lease = lease;
		c.slot_lease = slot_lease;
	} else {
		/* Not ours to keep: the leases would only expire. Best effort. */
		dg_fleet_revoke(f, lease, NULL);
		dg_fleet_revoke(f, slot_lease, NULL);
	}
	pthread_mutex_unlock(&f->lock);
	free(value);
	if (r < 0)
		return r;
	describe(&c);
	*ret = c;
	return 0;
}

int dg_fleet_unclaim(struct dg_fleet *f, const struct dg_fleet_claim *c, struct dg_error *err)
{
	int r;

	if (!c || c->verdict != DG_FLEET_WON)
		return 0;
	pthread_mutex_lock(&f->lock);
	r = dg_fleet_revoke(f, c->lease, err);
	if (r == 0)
		r = dg_fleet_revoke(f, c->slot_lease, err);
	pthread_mutex_unlock(&f->lock);
	return r;
}

void dg_fleet_stats(const struct dg_fleet *f, unsigned long *ret_requests, unsigned long *ret_failovers)
{
	if (ret_requests)
		*ret_requests = f->requests;
	if (ret_failovers)
		*ret_failovers = f->failovers;
}

void dg_fleet_free(struct dg_fleet *f)
{
	if (!f)
		return;
	if (f->monitor_lease)
		dg_fleet_revoke(f, f->monitor_lease, NULL);
	for (unsigned i = 0; i < DG_FLEET_MAX_ENDPOINTS; i++)
		if (f->easy[i])
			curl_easy_cleanup(f->easy[i]);
	/* The storm view's table (fleet_storm.c fills it; freed here so that file calls this one, not back). */
	for (size_t i = 0; i < f->cap; i++)
		free(f->table[i].target);
	free(f->table);
	OPENSSL_cleanse(f->token, sizeof(f->token));
	OPENSSL_cleanse(f->cfg.password, sizeof(f->cfg.password));
	pthread_mutex_destroy(&f->lock);
	free(f);
}
