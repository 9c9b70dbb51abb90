/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "diagint/error.h"

/* INI files (~/.aws/credentials, ~/.aws/config, ~/.oci/config) read with inih, set up to read them as the
 * providers' own Python tools do (configparser): no inline comments, indented lines continue a value, lines of
 * any length (session tokens are longer than inih's default 200-byte line). */

struct dg_ini_entry {
	char *section;
	char *key;   /* as written; lookups ignore case */
	char *value; /* continuation lines joined with "\n" */
};

struct dg_ini {
	struct dg_ini_entry *entries;
	size_t n;
};

/* path only names the file in messages. Syntax errors are DG_USAGE with the line number. */
int dg_ini_load(const char *text, const char *path, struct dg_ini *ret, struct dg_error *err);
/* The value of key in section (the last one when repeated), or NULL. */
const char *dg_ini_get(const struct dg_ini *ini, const char *section, const char *key);
bool dg_ini_has_section(const struct dg_ini *ini, const char *section);
/* Values may be secrets: wiped before they are freed. Accepts NULL. */
void dg_ini_free(struct dg_ini *ini);

/* inih's ini_parse_string() for callers with their own handler (diagint.conf): no inline comments (a ';' may be
 * part of a |COMMAND), lines of any length, continuation lines only when multiline is true. inih keeps these
 * settings process-wide; this serializes with dg_ini_load(). Returns what ini_parse_string() returns. */
int dg_ini_parse_string(const char *text, int (*handler)(void *, const char *, const char *, const char *),
			void *user, bool multiline);
