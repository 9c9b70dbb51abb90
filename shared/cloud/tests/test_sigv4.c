/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SigV4 against the official AWS test suite (aws-c-auth v4): for every case, header and query signing must give
 * the expected canonical request, string to sign, signature and signed request, byte for byte. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cloud/creds_aws.h"
#include "cloud/sigv4.h"
#include "tap.h"
#include "vectors.h"

#define MAX_HEADERS 32

struct parsed {
	char method[16];
	char *path, *query;
	struct dg_sigv4_header h[MAX_HEADERS];
	char *names[MAX_HEADERS], *values[MAX_HEADERS];
	size_t n;
	const char *body;
	size_t body_len;
};

static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

/* request.txt: "METHOD PATH[?QUERY] HTTP/1.1", "Name:value" lines (indented lines continue a value), a blank
 * line, the body. The path may contain spaces. */
static bool parse_request(char *text, struct parsed *p)
{
	char *line = text, *nl = strchr(line, '\n'), *sp, *proto, *q;

	memset(p, 0, sizeof(*p));
	if (!nl)
		return false;
	*nl = '\0';
	sp = strchr(line, ' ');
	proto = strstr(line, " HTTP/1.1");
	if (!sp || !proto)
		return false;
	snprintf(p->method, sizeof(p->method), "%.*s", (int)(sp - line), line);
	*proto = '\0';
	p->path = strdup(sp + 1);
	q = strchr(p->path, '?');
	if (q) {
		*q = '\0';
		p->query = strdup(q + 1);
	}
	line = nl + 1;
	while (*line && *line != '\n') {
		char *colon;
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if ((*line == ' ' || *line == '\t') && p->n) {
			char *joined;
			if (asprintf(&joined, "%s\n%s", p->values[p->n - 1], line) < 0)
				return false;
			free(p->values[p->n - 1]);
			p->values[p->n - 1] = joined;
		} else if ((colon = strchr(line, ':')) && p->n < MAX_HEADERS) {
			p->names[p->n] = strndup(line, (size_t)(colon - line));
			p->values[p->n] = strdup(colon + 1);
			p->n++;
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	for (size_t i = 0; i < p->n; i++)
		p->h[i] = (struct dg_sigv4_header){ p->names[i], p->values[i] };
	if (nl && *line == '\n') {
		p->body = line + 1;
		p->body_len = strlen(p->body);
	}
	return true;
}

static void parsed_free(struct parsed *p)
{
	free(p->path);
	free(p->query);
	for (size_t i = 0; i < p->n; i++) {
		free(p->names[i]);
		free(p->values[i]);
	}
}

static char *read_case(const char *dir, const char *name, const char *file)
{
	char path[4096];
	char *s;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, name, file);
	s = slurp(path, NULL);
	if (s)
		chomp(s);
	return s;
}

static const char *jstr(json_object *j, const char *k1, const char *k2)
{
	json_object *v;

	if (!json_object_object_get_ex(j, k1, &v))
		return NULL;
	if (k2 && !json_object_object_get_ex(v, k2, &v))
		return NULL;
	return json_object_get_string(v);
}

static bool jbool(json_object *j, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(j, k, &v) && json_object_get_boolean(v);
}

static void run_case(const char *dir, const char *name, bool presign, unsigned *passed)
{
	const char *pre = presign ? "query" : "header";
	char file[64], *ctx_text = read_case(dir, name, "context.json"), *req_text = read_case(dir, name, "request.txt");
	char *want_canon, *want_sts, *want_sig, *want_signed;
	json_object *ctx = ctx_text ? json_tokener_parse(ctx_text) : NULL, *v;
	struct dg_sigv4 sig = { 0 };
	struct parsed p;
	struct dg_error err = { 0 };
	bool all = true;

	snprintf(file, sizeof(file), "%s-canonical-request.txt", pre);
	want_canon = read_case(dir, name, file);
	snprintf(file, sizeof(file), "%s-string-to-sign.txt", pre);
	want_sts = read_case(dir, name, file);
	snprintf(file, sizeof(file), "%s-signature.txt", pre);
	want_sig = read_case(dir, name, file);
	snprintf(file, sizeof(file), "%s-signed-request.txt", pre);
	want_signed = read_case(dir, name, file);
	if (!ctx || !req_text || !want_canon || !want_sts || !want_sig || !want_signed || !parse_request(req_text, &p)) {
		CHECK(false, "%s (%s): vector files readable", name, pre);
		goto out;
	}
	{
		struct dg_sigv4_request r = { p.method, p.path, p.query, p.h, p.n, p.body, p.body_len };
		struct dg_sigv4_key key = { jstr(ctx, "credentials", "access_key_id"),
					    jstr(ctx, "credentials", "secret_access_key"), jstr(ctx, "credentials", "token") };
		struct dg_sigv4_opts o = { .region = jstr(ctx, "region", NULL), .service = jstr(ctx, "service", NULL),
					   .when = dg_parse_iso8601(jstr(ctx, "timestamp", NULL)),
					   .normalize_path = jbool(ctx, "normalize"), .sign_body = jbool(ctx, "sign_body"),
					   .omit_session_token = jbool(ctx, "omit_session_token"), .presign = presign,
					   .expires = json_object_object_get_ex(ctx, "expiration_in_seconds", &v) ?
							      json_object_get_int(v) : 3600 };
		int rc = dg_sigv4_sign(&r, &key, &o, &sig, &err);
		CHECK(rc == 0, "%s (%s): signs (%s)", name, pre, err.message);
		if (rc < 0)
			goto out_p;
	}
	all &= !strcmp(sig.canonical_request, want_canon);
	CHECK_STR(sig.canonical_request, want_canon, "%s (%s): canonical request", name, pre);
	all &= !strcmp(sig.string_to_sign, want_sts);
	CHECK_STR(sig.string_to_sign, want_sts, "%s (%s): string to sign", name, pre);
	all &= !strcmp(sig.signature, want_sig);
	CHECK_STR(sig.signature, want_sig, "%s (%s): signature", name, pre);
	if (presign) {
		/* The request line of the signed request: the caller's query, then the signature's parameters. */
		char line[8192];
		size_t n = strcspn(want_signed, "\n");
		snprintf(line, sizeof(line), "%s %s?%s HTTP/1.1", p.method, p.path, sig.query);
		all &= strlen(line) == n && !strncmp(line, want_signed, n);
		CHECK(strlen(line) == n && !strncmp(line, want_signed, n), "%s (query): signed request line (%.60s...)",
		      name, line);
	} else {
		const char *a = strstr(want_signed, "\nAuthorization:");
		char want_auth[2048] = "";
		if (a)
			snprintf(want_auth, sizeof(want_auth), "%.*s", (int)strcspn(a + 15, "\n"), a + 15);
		all &= !strcmp(sig.authorization, want_auth);
		CHECK_STR(sig.authorization, want_auth, "%s (header): Authorization header", name);
		CHECK(strstr(want_signed, sig.amz_date) != NULL, "%s (header): X-Amz-Date %s", name, sig.amz_date);
	}
	if (all)
		(*passed)++;
out_p:
	parsed_free(&p);
out:
	dg_sigv4_clear(&sig);
	json_object_put(ctx);
	free(ctx_text);
	free(req_text);
	free(want_canon);
	free(want_sts);
	free(want_sig);
	free(want_signed);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	char dir[4200], *names[128];
	unsigned n = 0, passed = 0;
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/aws-sigv4", vectors_dir());
	d = opendir(dir);
	if (!d)
		SKIP_ALL("no SigV4 vectors at %s", dir);
	while ((de = readdir(d)) && n < 128)
		if (de->d_name[0] != '.')
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(*names), cmp);
	printf("# %u SigV4 vector cases from %s\n", n, dir);
	for (unsigned i = 0; i < n; i++) {
		run_case(dir, names[i], false, &passed);
		run_case(dir, names[i], true, &passed);
		free(names[i]);
	}
	CHECK(n >= 30, "the suite has its cases (%u)", n);
	CHECK(passed == 2 * n, "every case passes in both forms: %u of %u", passed, 2 * n);
	return tap_done();
}
