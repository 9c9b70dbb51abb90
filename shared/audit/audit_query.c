/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading the audit log back: filters, listing, counts. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit-internal.h"
#include "diagint/audit_query.h"
#include "diagint/time_parse.h"

#define TIME_LEN 30 /* 2026-11-22T10:00:00.123456789Z */

const char *dg_audit_rec_str(json_object *rec, const char *path)
{
	char key[64];
	const char *dot;
	json_object *o = rec;

	while (o && (dot = strchr(path, '.'))) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		if (!json_object_object_get_ex(o, key, &o))
			return NULL;
		path = dot + 1;
	}
	if (!o || !json_object_object_get_ex(o, path, &o) || !json_object_is_type(o, json_type_string))
		return NULL;
	return json_object_get_string(o);
}

/* A literal as it appears inside a record's line, quotes included. */
static char *json_literal(const char *s)
{
	json_object *o = json_object_new_string(s);
	char *out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(o);
	return out;
}

struct needles {
	char *user;    /* "alice" */
	char *target;  /* "target":"libvirt:web- (the pattern's literal start) */
	char *result;  /* "status":"denied" */
	char *action;  /* "action":"inject" */
};

static char *prefixed(const char *prefix, const char *lit, bool open_end)
{
	char *out = NULL;
	size_t l = strlen(lit);

	if (open_end && l > 0)
		l--; /* drop the closing quote: the pattern goes on */
	if (asprintf(&out, "%s%.*s", prefix, (int)l, lit) < 0)
		return NULL;
	return out;
}

static int needles_init(struct needles *n, const struct dg_audit_filter *f)
{
	memset(n, 0, sizeof(*n));
	if (f->user && !(n->user = json_literal(f->user)))
		return -ENOMEM;
	if (f->target) {
		size_t lit = strcspn(f->target, "*?[\\");
		char *head = strndup(f->target, lit), *q = head ? json_literal(head) : NULL;

		/* A prefix json would escape cannot be matched on raw bytes: the parse decides then. */
		if (q && lit > 0 && strlen(q) == lit + 2)
			n->target = prefixed("\"target\":", q, lit < strlen(f->target));
		free(head);
		free(q);
	}
	if (f->result) {
		char *q = json_literal(f->result);
		n->result = q ? prefixed("\"status\":", q, false) : NULL;
		free(q);
	}
	if (f->action) {
		char *q = json_literal(f->action);
		n->action = q ? prefixed("\"action\":", q, false) : NULL;
		free(q);
	}
	return 0;
}

static void needles_free(struct needles *n)
{
	free(n->user);
	free(n->target);
	free(n->result);
	free(n->action);
}

static bool has(const char *line, size_t len, const char *needle)
{
	return !needle || memmem(line, len, needle, strlen(needle));
}

/* The record's time sits right after the fixed opening, in fixed width. */
static const char *line_time(const char *line, size_t len)
{
	static const char key[] = ",\"time\":\"";
	const char *p = memmem(line, len < 200 ? len : 200, key, sizeof(key) - 1);

	if (!p || (size_t)(p - line) + sizeof(key) - 1 + TIME_LEN > len)
		return NULL;
	return p + sizeof(key) - 1;
}

static bool matches(json_object *rec, const struct dg_audit_filter *f)
{
	const char *s;

	if (f->user) {
		const char *u = dg_audit_rec_str(rec, "actor.user"), *ru = dg_audit_rec_str(rec, "actor.ruser");
		if (!(u && !strcmp(u, f->user)) && !(ru && !strcmp(ru, f->user)))
			return false;
	}
	if (f->target && (!(s = dg_audit_rec_str(rec, "target")) || fnmatch(f->target, s, 0)))
		return false;
	if (f->result && (!(s = dg_audit_rec_str(rec, "result.status")) || strcmp(s, f->result)))
		return false;
	if (f->action && (!(s = dg_audit_rec_str(rec, "action")) || strcmp(s, f->action)))
		return false;
	s = dg_audit_rec_str(rec, "time");
	if (f->since && (!s || strcmp(s, f->since) < 0))
		return false;
	if (f->until && (!s || strcmp(s, f->until) >= 0))
		return false;
	return true;
}

long long dg_audit_query(const char *path, const struct dg_audit_filter *filter, dg_audit_visit_fn fn,
			 void *userdata, struct dg_error *err)
{
	struct dg_audit_filter none = { 0 };
	json_tokener *tok = NULL;
	struct needles n;
	long long visited = 0;
	const char *p, *end;
	struct stat st;
	void *map = NULL;
	int fd;

	if (!filter)
		filter = &none;
	fd = dg_audit_open_regular(path, &st);
	if (fd == -2)
		return dg_error_set(err, DG_USAGE, "the audit log " DG_AUDIT_NOT_REGULAR, path);
	if (fd < 0)
		return dg_error_set_errno(err, errno == ENOENT ? DG_NOTFOUND : DG_FAILED, errno,
					  "cannot read the audit log %s (name another with --audit-log FILE)", path);
	if (st.st_size == 0) {
		close(fd);
		return 0;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return dg_error_set_errno(err, DG_FAILED, errno, "cannot map %s", path);
	madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
	tok = json_tokener_new();
	if (!tok || needles_init(&n, filter) < 0) {
		json_tokener_free(tok);
		munmap(map, (size_t)st.st_size);
		return dg_error_set(err, DG_FAILED, "out of memory");
	}
	end = (const char *)map + st.st_size;
	for (p = map; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *t;
		size_t len;
		json_object *rec;
		int stop;

		if (!nl)
			break; /* a torn last line */
		len = (size_t)(nl - p);
		if (len > DG_AUDIT_LINE_MAX)
			goto next; /* longer than any record: not parsed (a 1 GB line must not become 1 GB of JSON) */
		if (filter->seq) {
			uint64_t seq;
			if (!dg_audit_line_header(p, len, &seq, NULL) || seq != filter->seq)
				goto next;
		}
		if ((filter->since || filter->until) && (t = line_time(p, len))) {
			if (filter->since && strncmp(t, filter->since, TIME_LEN) < 0)
				goto next;
			if (filter->until && strncmp(t, filter->until, TIME_LEN) >= 0)
				goto next;
		}
		if (!has(p, len, n.user) || !has(p, len, n.target) || !has(p, len, n.result) || !has(p, len, n.action))
			goto next;
		json_tokener_reset(tok);
		rec = json_tokener_parse_ex(tok, p, (int)len);
		if (!rec || !json_object_is_type(rec, json_type_object) || !matches(rec, filter)) {
			json_object_put(rec);
			goto next;
		}
		visited++;
		stop = fn ? fn(userdata, p, len, rec) : 0;
		json_object_put(rec);
		if (stop)
			break;
	next:
		p = nl + 1;
	}
	needles_free(&n);
	json_tokener_free(tok);
	munmap(map, (size_t)st.st_size);
	return visited;
}

int dg_audit_parse_time(const char *text, time_t now, char *out, size_t outlen, struct dg_error *err)
{
	struct timespec ts;
	int r = dg_time_parse(text, now, &ts, err);

	if (r < 0)
		return r;
	dg_audit_format_time(&ts, out, outlen);
	return 0;
}

struct counts {
	long long records;
	json_object *by[6];
};

static const char *const count_keys[] = { "by_user", "by_target", "by_provider", "by_action", "by_result",
					  "by_day" };

static void bump(json_object *map, const char *key)
{
	json_object *v;

	if (!key || !*key)
		key = "(none)";
	if (json_object_object_get_ex(map, key, &v))
		json_object_set_int64(v, json_object_get_int64(v) + 1);
	else
		json_object_object_add(map, key, json_object_new_int64(1));
}

static int count_one(void *userdata, const char *line, size_t len, json_object *rec)
{
	struct counts *c = userdata;
	const char *target = dg_audit_rec_str(rec, "target"), *user = dg_audit_rec_str(rec, "actor.user"),
		   *when = dg_audit_rec_str(rec, "time");
	char provider[64] = "", day[11] = "";

	(void)line;
	(void)len;
	if (!user)
		user = dg_audit_rec_str(rec, "actor.component");
	if (target && strchr(target, ':'))
		snprintf(provider, sizeof(provider), "%.*s", (int)strcspn(target, ":"), target);
	if (when)
		snprintf(day, sizeof(day), "%s", when);
	c->records++;
	bump(c->by[0], user);
	bump(c->by[1], target);
	bump(c->by[2], provider);
	bump(c->by[3], dg_audit_rec_str(rec, "action"));
	bump(c->by[4], dg_audit_rec_str(rec, "result.status"));
	bump(c->by[5], day);
	return 0;
}

int dg_audit_report(const char *path, const struct dg_audit_filter *filter, json_object **ret,
		    struct dg_error *err)
{
	struct counts c = { 0 };
	json_object *o = json_object_new_object();
	long long r;

	for (int i = 0; i < 6; i++)
		c.by[i] = json_object_new_object();
	r = dg_audit_query(path, filter, count_one, &c, err);
	if (r < 0) {
		for (int i = 0; i < 6; i++)
			json_object_put(c.by[i]);
		json_object_put(o);
		return (int)r;
	}
	json_object_object_add(o, "records", json_object_new_int64(c.records));
	for (int i = 0; i < 6; i++)
		json_object_object_add(o, count_keys[i], c.by[i]);
	*ret = o;
	return 0;
}
