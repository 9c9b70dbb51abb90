/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "diagint/error.h"
#include "diagint/parse.h" /* the value parsers and struct dg_size_limit */

/* /etc/diagint/diagint.conf: INI-style, parsed with inih. Sections:
 *   [capture]        defaults for every capture
 *   [domain:NAME]    overrides for one domain (only the keys it sets)
 * Unknown sections, unknown keys and bad values are errors naming file, line and key. */

/* DG_CONFIG_DEFAULT_PATH: SYSCONFDIR/diagint/diagint.conf of the build (/etc/diagint/diagint.conf in the Debian
 * package), set by meson in dg_config.h. */
#include "dg_config.h"

struct dg_capture_policy {
	char dest[1024];            /* directory or "|COMMAND"; "" = the built-in default directory */
	char format[16];            /* elf, kdump-zlib, kdump-lzo, kdump-snappy, win-dmp */
	bool sparse;                /* zero pages become holes */
	struct dg_size_limit max_use;   /* dumps in the directory may use at most this */
	struct dg_size_limit keep_free; /* leave at least this free on the filesystem */
	unsigned flood_limit;       /* at most this many dumps per domain per flood_window; 0 = no limit */
	unsigned flood_window;      /* seconds */
	double stall_timeout;       /* seconds a |COMMAND may stop reading before it is killed */
	char shrink[8];             /* "" (keep the ELF), "zlib" or "lzo": `dumps shrink` after every ELF capture */
};

struct dg_config;

/* path NULL: DG_CONFIG_DEFAULT_PATH, and a missing file means built-in defaults. A path given explicitly
 * must exist. */
int dg_config_load(const char *path, struct dg_config **ret, struct dg_error *err);
/* Parse configuration text (tests, --config -). `name` is used in messages. */
int dg_config_parse_string(const char *text, const char *name, struct dg_config **ret, struct dg_error *err);
void dg_config_free(struct dg_config *cfg);
/* The file the configuration came from, or NULL for built-in defaults. */
const char *dg_config_path(const struct dg_config *cfg);

/* Built-in defaults, [capture], then [domain:NAME] for this domain. cfg may be NULL (defaults only). */
void dg_config_capture_policy(const struct dg_config *cfg, const char *domain, struct dg_capture_policy *ret);

