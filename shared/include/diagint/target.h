/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "diagint/buf.h"
#include "diagint/error.h"

/* One grammar names every machine diagint can interrupt, in the CLI, in configuration and in audit records:
 *
 *     PROVIDER:PART[/PART...]
 *     gcp:PROJECT/ZONE/INSTANCE   aws:REGION/INSTANCE_ID   oci:REGION/INSTANCE_OCID
 *     openstack:SERVER_ID         libvirt:DOMAIN
 *
 * Each provider declares its parts and how each is checked (struct dg_target_part); the text is kept exactly as
 * written, so a valid target is its own canonical form. */

struct dg_provider;

#define DG_TARGET_MAX 512       /* whole text, NUL included */
#define DG_TARGET_PART_MAX 256  /* one part, NUL included */
#define DG_TARGET_PARTS_MAX 3

struct dg_target_part {
	const char *name;    /* as help and errors show it: "INSTANCE_ID" */
	const char *rule;    /* what a valid one looks like: "i- and 8 or 17 lower-case hex digits" */
	bool (*valid)(const char *s, size_t len);
};

struct dg_target {
	const struct dg_provider *provider;
	char text[DG_TARGET_MAX];
	char part[DG_TARGET_PARTS_MAX][DG_TARGET_PART_MAX];
	unsigned n_parts;
};

/* Parse text. Errors are DG_USAGE and say what is wrong and how a valid target of that provider looks. */
int dg_target_parse(const char *text, struct dg_target *ret, struct dg_error *err);

/* True when every byte of s[0..len) is in set, written as characters and ranges: "a-z0-9-". A '-' first or
 * last in set is itself. For the providers' part checks. */
bool dg_target_charset(const char *s, size_t len, const char *set);

/* The grammar, one line per registered provider ("  aws:REGION/INSTANCE_ID  e.g. ..."), for help texts. */
bool dg_target_grammar(struct dg_buf *out, const char *indent);
