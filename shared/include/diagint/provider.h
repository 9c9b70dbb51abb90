/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "diagint/error.h"
#include "diagint/http.h"
#include "diagint/target.h"

/* A provider knows one kind of machine: how its targets are written, where its credentials come from, how to
 * build and sign the interrupt request and how to read the answer. The send engine (send.h) owns everything
 * else: concurrency, retries, timing, results. Adding a cloud is one file defining a struct dg_provider and one
 * line in the registry (provider.c).
 *
 * An HTTP provider implements request() and judge(); a provider that is not HTTP (libvirt) implements direct().
 * Every request is one step of a target's job: the interrupt itself is step 0; a dry run may take several
 * steps (look the instance up, then check the permission) and never sends anything that interrupts. */

struct dg_provider_env {
	struct dg_http *http;     /* credential requests go through the same client, so connections are reused */
	const char *endpoint;     /* --endpoint or configuration for this provider; NULL: the provider's default */
	const char *cacert;       /* --cacert or configuration; NULL: the provider's own variable, then the system */
	const char *libvirt_uri;  /* --connect */
};

struct dg_step {
	bool dry_run;
	unsigned index;           /* 0, 1, ...: which request of the target's job */
	unsigned attempt;         /* 1 for the first try of this step */
	const char *client_token; /* random per target and run, the same on every retry (OCI opc-retry-token) */
};

struct dg_verdict {
	struct dg_error err;      /* DG_OK on success; the message says what happened either way */
	bool retry;               /* the provider said it did not act (throttled): sending again is safe */
	double retry_after;       /* seconds the provider asked to wait; -1 when it did not say */
	bool next;                /* go on with step index + 1 */
};

struct dg_provider {
	const char *name;             /* target prefix: "aws" */
	const char *title;            /* "AWS EC2" */
	const char *example;          /* a valid target, for help and errors */
	const struct dg_target_part *parts;
	unsigned n_parts;
	const char *api;              /* what messages call the remote side: "the EC2 API" */
	const char *cacert_env;       /* the provider's own CA bundle variable, for messages: "AWS_CA_BUNDLE" */

	/* Read configuration, no network. */
	int (*open)(const struct dg_provider_env *env, void **ret_ctx, struct dg_error *err);
	/* Make sure the credentials are valid now (fetch or refresh a token; cached until shortly before it
	 * expires). Called before each run that has targets of this provider. May be NULL. */
	int (*auth)(void *ctx, const struct dg_provider_env *env, struct dg_error *err);
	void (*close)(void *ctx);

	int (*request)(void *ctx, const struct dg_target *t, const struct dg_step *step, struct dg_http_req *req,
		       struct dg_error *err);
	/* Only called with an HTTP answer (status != 0); transport failures are the engine's. */
	void (*judge)(void *ctx, const struct dg_target *t, const struct dg_step *step, const struct dg_http_resp *resp,
		      struct dg_verdict *v);

	void (*direct)(void *ctx, const struct dg_target *t, const struct dg_step *step, struct dg_verdict *v);
};

/* The registry. */
const struct dg_provider *dg_provider_find(const char *name, size_t len);
const struct dg_provider *dg_provider_at(unsigned index); /* NULL past the end */

/* Helpers for providers. */
int dg_verdict_set(struct dg_verdict *v, enum dg_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Throttled: retry later, honouring Retry-After. */
void dg_verdict_throttled(struct dg_verdict *v, const struct dg_http_resp *resp, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A 5xx answer: 503 with Retry-After is throttling (retried); other 503s are DG_UNAVAILABLE and other 5xx
 * DG_FAILED, not resent (the request may have been acted on), except in a dry run, whose requests are safe to
 * repeat. detail: the provider's error text or "". */
void dg_verdict_server_error(struct dg_verdict *v, const struct dg_http_resp *resp, const char *api,
			     const struct dg_step *step, const char *detail);
/* Copy the first of the named response headers that is present into the verdict's request id. */
void dg_verdict_request_id_header(struct dg_verdict *v, const struct dg_http_resp *resp, const char *const *names);
/* The first non-empty environment variable of a NULL-terminated list, or NULL. */
const char *dg_provider_getenv(const char *const *names);
/* A short, printable excerpt of a response body for error messages (never a body that carried a secret). */
void dg_provider_excerpt(const struct dg_http_resp *resp, char *out, size_t len);
