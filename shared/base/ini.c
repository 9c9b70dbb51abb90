/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>
#include <openssl/crypto.h>

#include "base/ini.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* Debian's inih has its compile-time settings as process globals. They are set for the providers' files only
 * while one is parsed, and put back afterwards: diagint.conf (config.c) keeps inih's defaults. */
struct settings {
	bool use_stack, allow_realloc, inline_comments, multiline;
	int initial_alloc, max_line;
};

static struct settings swap_in(void)
{
	struct settings old = { ini_use_stack, ini_allow_realloc, ini_allow_inline_comments, ini_allow_multiline,
				ini_initial_alloc, ini_max_line };

	ini_use_stack = false; /* lines on the heap, grown as needed: session tokens are long */
	ini_allow_realloc = true;
	ini_initial_alloc = 4096;
	ini_max_line = 1 << 20;
	ini_allow_inline_comments = false; /* configparser: "a ; b" is a value */
	ini_allow_multiline = true;
	return old;
}

static void swap_out(const struct settings *s)
{
	ini_use_stack = s->use_stack;
	ini_allow_realloc = s->allow_realloc;
	ini_allow_inline_comments = s->inline_comments;
	ini_allow_multiline = s->multiline;
	ini_initial_alloc = s->initial_alloc;
	ini_max_line = s->max_line;
}

struct load {
	struct dg_ini *ini;
	bool oom;
};

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
	struct load *l = user;
	struct dg_ini *ini = l->ini;
	struct dg_ini_entry *e;

	/* A continuation line arrives as the same name again, right after its first line. */
	if (ini->n) {
		e = &ini->entries[ini->n - 1];
		if (!strcmp(e->section, section) && !strcmp(e->key, name) && l->oom == false) {
			size_t a = strlen(e->value), b = strlen(value);
			char *v = malloc(a + b + 2);
			if (!v) {
				l->oom = true;
				return 0;
			}
			memcpy(v, e->value, a);
			v[a] = '\n';
			memcpy(v + a + 1, value, b + 1);
			OPENSSL_cleanse((char *)value, b);
			OPENSSL_cleanse(e->value, a);
			free(e->value);
			e->value = v;
			/* A repeated key (not a continuation) is rarer than a continuation; both end up here, and the
			 * nested-value form is the only one the providers' files use. */
			return 1;
		}
	}
	e = realloc(ini->entries, (ini->n + 1) * sizeof(*e));
	if (!e) {
		l->oom = true;
		return 0;
	}
	ini->entries = e;
	e = &ini->entries[ini->n];
	e->section = strdup(section);
	e->key = strdup(name);
	e->value = strdup(value);
	/* value points into inih's line buffer, which inih frees unwiped: keys and tokens live in these files. */
	OPENSSL_cleanse((char *)value, strlen(value));
	ini->n++;
	if (!e->section || !e->key || !e->value) {
		l->oom = true;
		return 0;
	}
	return 1;
}

int dg_ini_load(const char *text, const char *path, struct dg_ini *ret, struct dg_error *err)
{
	struct load l = { .ini = ret };
	int line;

	struct settings saved;

	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&lock);
	saved = swap_in();
	line = ini_parse_string(text, on_entry, &l);
	swap_out(&saved);
	pthread_mutex_unlock(&lock);
	if (l.oom) {
		dg_ini_free(ret);
		return dg_error_set(err, DG_FAILED, "out of memory reading %s", path);
	}
	if (line != 0) {
		dg_ini_free(ret);
		return dg_error_set(err, DG_USAGE, "%s line %d is not valid INI (expected [section] or key = value)",
				    path, line);
	}
	return 0;
}

const char *dg_ini_get(const struct dg_ini *ini, const char *section, const char *key)
{
	const char *v = NULL;

	for (size_t i = 0; i < ini->n; i++)
		if (!strcmp(ini->entries[i].section, section) && !strcasecmp(ini->entries[i].key, key))
			v = ini->entries[i].value;
	return v;
}

bool dg_ini_has_section(const struct dg_ini *ini, const char *section)
{
	for (size_t i = 0; i < ini->n; i++)
		if (!strcmp(ini->entries[i].section, section))
			return true;
	return false;
}

void dg_ini_free(struct dg_ini *ini)
{
	if (!ini)
		return;
	for (size_t i = 0; i < ini->n; i++) {
		free(ini->entries[i].section);
		free(ini->entries[i].key);
		if (ini->entries[i].value) {
			OPENSSL_cleanse(ini->entries[i].value, strlen(ini->entries[i].value));
			free(ini->entries[i].value);
		}
	}
	free(ini->entries);
	ini->entries = NULL;
	ini->n = 0;
}

int dg_ini_parse_string(const char *text, int (*handler)(void *, const char *, const char *, const char *),
			void *user, bool multiline)
{
	struct settings saved;
	int line;

	pthread_mutex_lock(&lock);
	saved = swap_in();
	ini_allow_multiline = multiline;
	line = ini_parse_string(text, handler, user);
	swap_out(&saved);
	pthread_mutex_unlock(&lock);
	return line;
}
