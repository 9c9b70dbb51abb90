/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <signal.h>

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "diagint/error.h"
#include "diagint/provider.h"
#include "diagint/target.h"

/* `diagint send`'s engine: one interrupt per target, all targets concurrently over one libcurl multi handle,
 * a result per target. A sender lives as long as its caller wants (the CLI for one run, the collectd plugin
 * for the daemon's life): provider credentials and tokens are kept in it and refreshed shortly before they
 * expire.
 *
 * Safe retry: an interrupt is sent again only when it certainly was not acted on (no connection was made, or
 * the provider said it throttled the request), at most `retries` more times, after a jittered exponential
 * backoff or the provider's Retry-After. Never after it may have arrived (a timeout once sent, a 5xx). */

#define DG_SEND_MAX_ENDPOINTS 8

struct dg_send_endpoint {
	const char *provider; /* "aws" */
	const char *url;
};

/* An endpoint as a configuration names it (collectd's Endpoint "PROVIDER" "URL"): a provider we know and an
 * https:// URL, since credentials and interrupts go over https only. Checked when the configuration is read, so
 * a plain http:// URL fails the start, not the first interrupt. 0, or -DG_USAGE with the problem and the fix. */
int dg_send_endpoint_check(const char *provider, const char *url, struct dg_error *err);

struct dg_send_opts {
	bool dry_run;
	const char *reason;          /* recorded with each result */
	struct dg_send_endpoint endpoints[DG_SEND_MAX_ENDPOINTS];
	unsigned n_endpoints;
	const char *cacert;          /* every provider; NULL: each provider's own variable, then the system store */
	const char *libvirt_uri;
	double timeout;              /* per request, seconds; 0: 30 */
	double connect_timeout;      /* 0: 10 */
	int retries;                 /* -1: default (3) */
	unsigned parallel;           /* requests in flight at once; 0: 100 */
	double retry_base;           /* first backoff, seconds; 0: 0.5 */
	double retry_after_max;      /* longest Retry-After honoured; longer gives up (status 5); 0: 30 */
	/* Set (by a host tool stopping) to end a run at once: requests not yet sent are dropped, those in flight
	 * aborted; each result says whether its request may have reached the provider (sent). NULL: never. */
	volatile sig_atomic_t *cancel;
};

#define DG_SEND_DEFAULT_RETRIES 3
#define DG_SEND_DEFAULT_PARALLEL 100

struct dg_send_result {
	char target[DG_TARGET_MAX];
	const char *provider;        /* "aws" */
	enum dg_status status;
	char message[DG_ERROR_MSG_MAX];
	char request_id[128];
	unsigned attempts;           /* tries of the request that decided the result (0: none was made) */
	bool sent;                   /* an interrupt request reached the provider: it may have been acted on */
	bool dry_run;
	double seconds;
};

struct dg_sender;

int dg_sender_new(const struct dg_send_opts *opts, struct dg_sender **ret, struct dg_error *err);
void dg_sender_free(struct dg_sender *s);

/* Send to n targets; results[i] is targets[i]'s. Returns 0 when every target succeeded, else -status of the
 * first that failed (in the order given). Identical targets must be removed by the caller (one interrupt per
 * machine): dg_send_dedupe(). */
int dg_sender_run(struct dg_sender *s, const struct dg_target *targets, size_t n, struct dg_send_result *results);

/* Connections opened and requests made by this sender so far. */
void dg_sender_stats(const struct dg_sender *s, unsigned long *ret_connections, unsigned long *ret_requests);

/* Remove repeated targets in place, keeping the first; returns the new count. */
size_t dg_send_dedupe(struct dg_target *targets, size_t n);

/* Backoff before retry number `retry` (1 for the first retry): base * 2^(retry-1), jittered to [d/2, d],
 * capped at 20 s; or the provider's Retry-After when it gave one. u in [0,1) is the random draw. */
double dg_send_backoff(double base, unsigned retry, double retry_after, double u);

json_object *dg_send_result_to_json(const struct dg_send_result *r, const char *reason);
