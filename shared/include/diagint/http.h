/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <curl/curl.h>

#include "diagint/buf.h"
#include "diagint/error.h"

/* HTTP(S) for the cloud providers: one libcurl multi handle drives every transfer of a run concurrently, keeps
 * connections and TLS sessions for reuse, and never lets libcurl resend a request that is not safe to resend.
 * TLS peer and host verification are always on; a private CA is added with a CA file, never by switching them
 * off. */

struct dg_http;

struct dg_http_opts {
	double connect_timeout; /* seconds; 0: 10 */
	double timeout;         /* whole transfer, seconds; 0: 30 */
	unsigned max_host_connections; /* 0: 100 */
};

struct dg_http_req {
	const char *method;          /* "GET", "POST", "PUT" */
	char *url;                   /* owned */
	struct curl_slist *headers;  /* owned; "Name: value" */
	char *body;                  /* owned, may be NULL */
	size_t body_len;
	/* Safe to repeat if it may have arrived (a GET, a DryRun). When false, libcurl's own silent resend on a
	 * reused connection that died is stopped: the transfer fails instead, marked as sent. */
	bool idempotent;
	bool secret_body;            /* wipe the body when done (passwords, client secrets) */
	/* Plain http:// allowed: only the instance metadata services (AWS IMDS, the GCE metadata server), which are
	 * link-local and spoken without TLS by design. Everything else is https, wherever its URL came from (an
	 * option, the environment, a service account's token_uri, Keystone's catalog, collectd's Endpoint). */
	bool plain_http_ok;
	const char *cacert;          /* borrowed; NULL: the system store */
	long timeout_ms;             /* 0: the client's */
	long connect_timeout_ms;     /* 0: the client's */
};

/* A credential a remote server handed us (a bearer token, X-Subject-Token) is fit to send back in a header:
 * 1 to 8192 visible ASCII characters, so no CR/LF or other control byte can add headers of its own. */
bool dg_http_token_valid(const char *token);

struct dg_http_header {
	char *name; /* lower case */
	char *value;
};

struct dg_http_resp {
	long status;          /* HTTP status; 0 when no answer arrived */
	int curl_code;        /* CURLcode of the transfer */
	bool sent;            /* the request went out on a connection: it may have been acted on */
	bool resend_stopped;  /* libcurl wanted to resend it on a fresh connection and was stopped */
	char *body;           /* NUL-terminated, capped at 1 MiB */
	size_t body_len;
	struct dg_http_header *headers;
	size_t n_headers;
	char host[256];       /* host[:port] of the URL, for messages */
	char error[CURL_ERROR_SIZE];
	double seconds;
};

int dg_http_new(const struct dg_http_opts *opts, struct dg_http **ret, struct dg_error *err);
void dg_http_free(struct dg_http *h);

/* Request building. Each returns false when out of memory (the request is still safe to clear). */
bool dg_http_req_init(struct dg_http_req *req, const char *method, const char *url);
bool dg_http_req_header(struct dg_http_req *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool dg_http_req_body(struct dg_http_req *req, const void *data, size_t len);
void dg_http_req_clear(struct dg_http_req *req);

/* host[:port] as the Host header carries it (the port only when not the scheme's default), and the path with
 * its query, as the request line carries them. DG_USAGE when the URL is not an http(s) URL. */
int dg_http_url_parts(const char *url, struct dg_buf *host, struct dg_buf *path, struct dg_buf *query,
		      struct dg_error *err);

typedef void (*dg_http_done_fn)(void *userdata, struct dg_http_resp *resp);

/* Start a transfer. The request is moved into the client (cleared on return, also on error); done() is called
 * from dg_http_step() with the response, which stays valid until done() returns. */
int dg_http_submit(struct dg_http *h, struct dg_http_req *req, dg_http_done_fn done, void *userdata,
		   struct dg_error *err);
/* Drive transfers for at most timeout_ms (returns sooner when one completes). Returns the number still running. */
int dg_http_step(struct dg_http *h, long timeout_ms);
unsigned dg_http_running(const struct dg_http *h);
/* Stop every transfer now (a host tool shutting down): each done() is called with the transfer failed; whether its
 * request was sent is in resp->sent as always. */
void dg_http_abort_all(struct dg_http *h);
/* One request, waited for. Other transfers make progress meanwhile. resp is the caller's (clear it). */
int dg_http_do(struct dg_http *h, struct dg_http_req *req, struct dg_http_resp *resp, struct dg_error *err);

/* Connections opened and requests completed so far. */
void dg_http_stats(const struct dg_http *h, unsigned long *ret_connections, unsigned long *ret_requests);

const char *dg_http_resp_header(const struct dg_http_resp *resp, const char *name);
void dg_http_resp_clear(struct dg_http_resp *resp);

/* Retry-After (delta seconds or an HTTP date) in seconds from now; -1 when absent or unreadable. */
double dg_http_retry_after(const struct dg_http_resp *resp, time_t now);

/* A transfer that got no HTTP answer: fill err with what happened and the fix, naming `what` ("the AWS EC2
 * API"). *ret_retry is true only when the request certainly did not arrive (no connection was made) or it is
 * idempotent. Certificate problems are DG_USAGE (a CA to configure), never retried. Returns -status. */
int dg_http_transport_error(const struct dg_http_resp *resp, bool idempotent, const char *what,
			    const char *cacert_hint, struct dg_error *err, bool *ret_retry);
