/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "dg_config.h"
#include "diagint/http.h"

#define BODY_MAX (1u << 20)

struct xfer {
	struct dg_http *h;
	CURL *easy;
	struct dg_http_req req;
	struct dg_http_resp resp;
	dg_http_done_fn done;
	void *userdata;
	unsigned prereq_calls;
	struct xfer *prev, *next;
};

struct dg_http {
	CURLM *multi;
	CURLSH *share;
	struct dg_http_opts opts;
	struct xfer *xfers;
	unsigned running;
	unsigned long connections, requests;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_status;

static void global_init(void)
{
	global_status = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int dg_http_new(const struct dg_http_opts *opts, struct dg_http **ret, struct dg_error *err)
{
	struct dg_http *h;

	pthread_once(&global_once, global_init);
	if (global_status != CURLE_OK)
		return dg_error_set(err, DG_FAILED, "cannot initialise libcurl: %s", curl_easy_strerror(global_status));
	h = calloc(1, sizeof(*h));
	if (!h)
		return dg_error_set(err, DG_FAILED, "out of memory");
	if (opts)
		h->opts = *opts;
	if (h->opts.connect_timeout <= 0)
		h->opts.connect_timeout = 10;
	if (h->opts.timeout <= 0)
		h->opts.timeout = 30;
	if (!h->opts.max_host_connections)
		h->opts.max_host_connections = 100;
	h->multi = curl_multi_init();
	h->share = curl_share_init();
	if (!h->multi || !h->share) {
		dg_http_free(h);
		return dg_error_set(err, DG_FAILED, "cannot create a libcurl multi handle (out of memory?)");
	}
	/* TLS sessions and DNS answers are shared by every transfer: a second connection to a host resumes the
	 * session instead of a full handshake. One thread drives the multi handle, so no locks are needed. */
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)h->opts.max_host_connections);
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)h->opts.max_host_connections * 2);
	curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	*ret = h;
	return 0;
}

static void resp_clear(struct dg_http_resp *r)
{
	if (r->body) {
		/* Bodies carry access tokens and credentials. */
		OPENSSL_cleanse(r->body, r->body_len);
		free(r->body);
	}
	for (size_t i = 0; i < r->n_headers; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

void dg_http_resp_clear(struct dg_http_resp *resp)
{
	if (resp)
		resp_clear(resp);
}

static void xfer_free(struct xfer *x)
{
	if (!x)
		return;
	if (x->easy) {
		if (x->h)
			curl_multi_remove_handle(x->h->multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	dg_http_req_clear(&x->req);
	resp_clear(&x->resp);
	free(x);
}

void dg_http_free(struct dg_http *h)
{
	if (!h)
		return;
	while (h->xfers) {
		struct xfer *x = h->xfers;
		h->xfers = x->next;
		xfer_free(x);
	}
	if (h->multi)
		curl_multi_cleanup(h->multi);
	if (h->share)
		curl_share_cleanup(h->share);
	free(h);
}

bool dg_http_req_init(struct dg_http_req *req, const char *method, const char *url)
{
	memset(req, 0, sizeof(*req));
	req->method = method;
	req->url = strdup(url);
	return req->url != NULL;
}

bool dg_http_token_valid(const char *token)
{
	size_t n = 0;

	for (; token && token[n]; n++)
		if ((unsigned char)token[n] <= 0x20 || (unsigned char)token[n] >= 0x7f)
			return false;
	return n > 0 && n <= 8192;
}

bool dg_http_req_header(struct dg_http_req *req, const char *fmt, ...)
{
	struct curl_slist *l;
	char line[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* A value from a remote server (a token) with CR or LF would become headers of its own. */
	if (n < 0 || (size_t)n >= sizeof(line) || strpbrk(line, "\r\n")) {
		OPENSSL_cleanse(line, sizeof(line));
		return false;
	}
	l = curl_slist_append(req->headers, line);
	OPENSSL_cleanse(line, sizeof(line));
	if (!l)
		return false;
	req->headers = l;
	return true;
}

bool dg_http_req_body(struct dg_http_req *req, const void *data, size_t len)
{
	char *b = malloc(len + 1);

	if (!b)
		return false;
	memcpy(b, data, len);
	b[len] = '\0';
	free(req->body);
	req->body = b;
	req->body_len = len;
	return true;
}

void dg_http_req_clear(struct dg_http_req *req)
{
	if (!req)
		return;
	free(req->url);
	if (req->headers) {
		/* Authorization headers are secrets too. */
		for (struct curl_slist *l = req->headers; l; l = l->next)
			OPENSSL_cleanse(l->data, strlen(l->data));
		curl_slist_free_all(req->headers);
	}
	if (req->body) {
		OPENSSL_cleanse(req->body, req->body_len);
		free(req->body);
	}
	memset(req, 0, sizeof(*req));
}

int dg_http_url_parts(const char *url, struct dg_buf *host, struct dg_buf *path, struct dg_buf *query,
		      struct dg_error *err)
{
	char *scheme = NULL, *h = NULL, *port = NULL, *p = NULL, *q = NULL;
	CURLU *u = curl_url();
	int r = 0;

	if (!u)
		return dg_error_set(err, DG_FAILED, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcasecmp(scheme, "https") && strcasecmp(scheme, "http")) ||
	    curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK) {
		r = dg_error_set(err, DG_USAGE, "'%s' is not an http(s) URL: write https://HOST[:PORT][/PATH]", url);
		goto out;
	}
	curl_url_get(u, CURLUPART_PORT, &port, 0);
	curl_url_get(u, CURLUPART_PATH, &p, 0);
	curl_url_get(u, CURLUPART_QUERY, &q, 0);
	if (host) {
		dg_buf_reset(host);
		dg_buf_puts(host, h);
		if (port && !((!strcasecmp(scheme, "https") && !strcmp(port, "443")) ||
			      (!strcasecmp(scheme, "http") && !strcmp(port, "80"))))
			dg_buf_printf(host, ":%s", port);
	}
	if (path) {
		dg_buf_reset(path);
		dg_buf_puts(path, p && *p ? p : "/");
	}
	if (query) {
		dg_buf_reset(query);
		if (q)
			dg_buf_puts(query, q);
	}
	if ((host && !dg_buf_ok(host)) || (path && !dg_buf_ok(path)) || (query && !dg_buf_ok(query)))
		r = dg_error_set(err, DG_FAILED, "out of memory");
out:
	curl_free(scheme);
	curl_free(h);
	curl_free(port);
	curl_free(p);
	curl_free(q);
	curl_url_cleanup(u);
	return r;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t n = size * nmemb;
	char *b;

	if (x->resp.body_len + n > BODY_MAX)
		return 0; /* CURLE_WRITE_ERROR: an API answer is never this big */
	b = realloc(x->resp.body, x->resp.body_len + n + 1);
	if (!b)
		return 0;
	memcpy(b + x->resp.body_len, data, n);
	x->resp.body_len += n;
	b[x->resp.body_len] = '\0';
	x->resp.body = b;
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t n = size * nmemb, len = n, nlen;
	struct dg_http_header *hs;
	const char *colon;
	char *name, *value;

	if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
		/* A new response (after a 100 Continue or an interim answer): only the last one's headers count. */
		for (size_t i = 0; i < x->resp.n_headers; i++) {
			free(x->resp.headers[i].name);
			free(x->resp.headers[i].value);
		}
		x->resp.n_headers = 0;
		return n;
	}
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	colon = memchr(data, ':', len);
	if (!colon || colon == data || x->resp.n_headers >= 128)
		return n;
	nlen = (size_t)(colon - data);
	colon++;
	while (colon < data + len && (*colon == ' ' || *colon == '\t'))
		colon++;
	hs = realloc(x->resp.headers, (x->resp.n_headers + 1) * sizeof(*hs));
	if (!hs)
		return 0;
	x->resp.headers = hs;
	name = strndup(data, nlen);
	value = strndup(colon, (size_t)(data + len - colon));
	if (!name || !value) {
		free(name);
		free(value);
		return 0;
	}
	for (char *p = name; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	hs[x->resp.n_headers].name = name;
	hs[x->resp.n_headers].value = value;
	x->resp.n_headers++;
	return n;
}

static int on_prereq(void *clientp, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
	struct xfer *x = clientp;

	(void)primary_ip;
	(void)local_ip;
	(void)primary_port;
	(void)local_port;
	/* libcurl resends a request by itself when a reused connection closes without an answer. For an
	 * interrupt that is not safe: the first copy may have arrived. Stop the second issue of the request. */
	if (x->prereq_calls++ > 0 && !x->req.idempotent) {
		x->resp.resend_stopped = true;
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}

static int setup_easy(struct xfer *x, struct dg_error *err)
{
	struct dg_http *h = x->h;
	struct dg_http_req *req = &x->req;
	CURL *e = curl_easy_init();
	CURLcode c = CURLE_OK;

	if (!e)
		return dg_error_set(err, DG_FAILED, "cannot create a libcurl handle (out of memory?)");
	x->easy = e;
	if (strncasecmp(req->url, "https://", 8) && !req->plain_http_ok)
		return dg_error_set(err, DG_USAGE, "refusing to send to %s: credentials and interrupts go over https "
				    "only; give an https:// URL (where it came from: the option, the environment variable, "
				    "the credentials file or the catalog that named it)", req->url);
	/* No signals (this runs inside daemons and threads), no redirects, only http(s), always verify TLS. */
	c |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	c |= curl_easy_setopt(e, CURLOPT_URL, req->url);
	c |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, req->plain_http_ok ? "http,https" : "https");
	c |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	c |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	c |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	c |= curl_easy_setopt(e, CURLOPT_SHARE, h->share);
	c |= curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	c |= curl_easy_setopt(e, CURLOPT_USERAGENT, "diagint/" DG_VERSION);
	c |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->resp.error);
	c |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			      req->connect_timeout_ms ? req->connect_timeout_ms : (long)(h->opts.connect_timeout * 1000));
	c |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms ? req->timeout_ms : (long)(h->opts.timeout * 1000));
	c |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	c |= curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	c |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	c |= curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	c |= curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
	c |= curl_easy_setopt(e, CURLOPT_PREREQDATA, x);
	c |= curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	if (req->cacert)
		c |= curl_easy_setopt(e, CURLOPT_CAINFO, req->cacert);
	/* No "Expect: 100-continue" round trip; the body is small and the answer is what matters. */
	if (!dg_http_req_header(req, "Expect:"))
		return dg_error_set(err, DG_FAILED, "out of memory");
	if (strcmp(req->method, "GET")) {
		const char *body = req->body ? req->body : "";
		c |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		c |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		if (strcmp(req->method, "POST"))
			c |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
	} else {
		c |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	}
	c |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
	if (c != CURLE_OK)
		return dg_error_set(err, DG_FAILED, "cannot set up the request to %s: libcurl refused an option "
				    "(libcurl 7.80 or later is needed)", req->url);
	return 0;
}

int dg_http_submit(struct dg_http *h, struct dg_http_req *req, dg_http_done_fn done, void *userdata,
		   struct dg_error *err)
{
	struct xfer *x = calloc(1, sizeof(*x));
	struct dg_buf host = DG_BUF_INIT;
	int r;

	if (!x) {
		dg_http_req_clear(req);
		return dg_error_set(err, DG_FAILED, "out of memory");
	}
	x->h = h;
	x->req = *req;
	memset(req, 0, sizeof(*req));
	x->done = done;
	x->userdata = userdata;
	if (dg_http_url_parts(x->req.url, &host, NULL, NULL, NULL) == 0)
		snprintf(x->resp.host, sizeof(x->resp.host), "%s", dg_buf_str(&host));
	dg_buf_free(&host);
	r = setup_easy(x, err);
	if (r < 0) {
		xfer_free(x);
		return r;
	}
	if (curl_multi_add_handle(h->multi, x->easy) != CURLM_OK) {
		x->h = NULL; /* not added: nothing to remove */
		xfer_free(x);
		return dg_error_set(err, DG_FAILED, "cannot start a transfer (libcurl multi handle refused it)");
	}
	x->next = h->xfers;
	if (h->xfers)
		h->xfers->prev = x;
	h->xfers = x;
	h->running++;
	return 0;
}

static void finish(struct dg_http *h, CURL *easy, CURLcode code)
{
	struct xfer *x = NULL;
	long status = 0, connects = 0;
	double total = 0;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
	if (!x)
		return;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
	curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &total);
	x->resp.curl_code = code;
	x->resp.sent = x->prereq_calls > 0;
	x->resp.seconds = total;
	/* A status line without its whole body is still the server's answer; a failure before it is none. */
	x->resp.status = status;
	if (code != CURLE_OK && !x->resp.error[0])
		snprintf(x->resp.error, sizeof(x->resp.error), "%s", curl_easy_strerror(code));
	h->connections += (unsigned long)connects;
	h->requests++;
	if (x->prev)
		x->prev->next = x->next;
	else
		h->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
	h->running--;
	if (x->done)
		x->done(x->userdata, &x->resp);
	xfer_free(x);
}

static unsigned reap(struct dg_http *h)
{
	unsigned n = 0;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left))) {
		if (msg->msg == CURLMSG_DONE) {
			finish(h, msg->easy_handle, msg->data.result);
			n++;
		}
	}
	return n;
}

int dg_http_step(struct dg_http *h, long timeout_ms)
{
	int still = 0;

	curl_multi_perform(h->multi, &still);
	if (reap(h))
		return (int)h->running;
	/* Nothing finished: wait for socket activity, a libcurl timer, or the caller's deadline. */
	curl_multi_poll(h->multi, NULL, 0, (int)(timeout_ms < 0 ? 0 : timeout_ms > 60000 ? 60000 : timeout_ms), NULL);
	curl_multi_perform(h->multi, &still);
	reap(h);
	return (int)h->running;
}

unsigned dg_http_running(const struct dg_http *h)
{
	return h->running;
}

void dg_http_abort_all(struct dg_http *h)
{
	while (h->xfers) {
		struct xfer *x = h->xfers;

		snprintf(x->resp.error, sizeof(x->resp.error), "stopped: the caller is shutting down");
		finish(h, x->easy, CURLE_ABORTED_BY_CALLBACK);
	}
}

struct sync_wait {
	struct dg_http_resp *resp;
	bool done;
};

static void sync_done(void *userdata, struct dg_http_resp *resp)
{
	struct sync_wait *w = userdata;

	*w->resp = *resp;
	memset(resp, 0, sizeof(*resp)); /* moved to the caller */
	w->done = true;
}

int dg_http_do(struct dg_http *h, struct dg_http_req *req, struct dg_http_resp *resp, struct dg_error *err)
{
	struct sync_wait w = { .resp = resp };
	int r;

	memset(resp, 0, sizeof(*resp));
	r = dg_http_submit(h, req, sync_done, &w, err);
	if (r < 0)
		return r;
	while (!w.done)
		dg_http_step(h, 1000);
	return 0;
}

void dg_http_stats(const struct dg_http *h, unsigned long *ret_connections, unsigned long *ret_requests)
{
	if (ret_connections)
		*ret_connections = h->connections;
	if (ret_requests)
		*ret_requests = h->requests;
}

const char *dg_http_resp_header(const struct dg_http_resp *resp, const char *name)
{
	for (size_t i = 0; i < resp->n_headers; i++)
		if (!strcasecmp(resp->headers[i].name, name))
			return resp->headers[i].value;
	return NULL;
}

double dg_http_retry_after(const struct dg_http_resp *resp, time_t now)
{
	const char *v = dg_http_resp_header(resp, "retry-after");
	char *end;
	double d;
	time_t t;

	if (!v || !*v)
		return -1;
	if (isdigit((unsigned char)*v)) {
		d = strtod(v, &end);
		while (*end == ' ')
			end++;
		return *end || d > 1e9 ? -1 : d;
	}
	t = curl_getdate(v, NULL);
	if (t < 0)
		return -1;
	return t > now ? (double)(t - now) : 0;
}

int dg_http_transport_error(const struct dg_http_resp *resp, bool idempotent, const char *what,
			    const char *cacert_hint, struct dg_error *err, bool *ret_retry)
{
	const char *host = resp->host[0] ? resp->host : "the endpoint";
	int r;

	*ret_retry = false;
	switch (resp->curl_code) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return dg_error_set(err, DG_USAGE,
				    "TLS: the certificate of %s (%s) is not trusted: %s; if the endpoint uses a "
				    "private CA, give its certificate with --cacert FILE%s%s (verification is never "
				    "switched off)",
				    host, what, resp->error, cacert_hint ? " or " : "", cacert_hint ? cacert_hint : "");
	case CURLE_SSL_CACERT_BADFILE:
		return dg_error_set(err, DG_USAGE, "TLS: cannot use the CA file for %s: %s; check the path given "
				    "with --cacert%s%s", host, resp->error, cacert_hint ? " or " : "",
				    cacert_hint ? cacert_hint : "");
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return dg_error_set(err, DG_USAGE, "bad endpoint URL for %s: %s; check --endpoint", what, resp->error);
	default:
		break;
	}
	if (!resp->sent) {
		/* No connection was made: the request never left this host, so trying again is safe. */
		*ret_retry = true;
		return dg_error_set(err, DG_UNAVAILABLE, "cannot reach %s at %s: %s", what, host, resp->error);
	}
	if (idempotent) {
		*ret_retry = true;
		return dg_error_set(err, DG_UNAVAILABLE, "no answer from %s at %s: %s", what, host, resp->error);
	}
	r = dg_error_set(err, DG_UNAVAILABLE,
			 "no answer from %s at %s after the request was sent (%s): the interrupt may have been "
			 "delivered. Not resent, because a second NMI can crash the guest again while it writes its "
			 "dump; check the instance's console before sending again",
			 what, host, resp->resend_stopped ? "the connection closed and libcurl wanted to resend it" :
							     resp->error);
	return r;
}
