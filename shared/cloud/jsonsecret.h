/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>

/* JSON that carries secrets (a service account's private_key, token replies' access_token, IMDS keys, a
 * Keystone or etcd password) is parsed, built and freed through these, so the bytes are overwritten before
 * json-c hands its memory back to malloc. Not covered: copies json-c leaves behind when it grows a buffer
 * with realloc() while parsing or printing (the old block is freed by the C library, unwiped). */

/* Parse a NUL-terminated text as json_tokener_parse() does; NULL when it is NULL or not JSON. The tokener's
 * scratch buffer, which held every string it read, is wiped before it is freed. */
json_object *dg_json_parse_secret(const char *text);

/* json_tokener_free() after wiping the tokener's scratch buffer (every string it read went through it). */
void dg_json_tokener_free_secret(json_tokener *tok);

/* Overwrite every string in the tree (values at any depth, not object keys), then drop the reference.
 * Use only on trees nobody else holds. NULL is fine. */
void dg_json_put_secret(json_object *j);

/* The tree printed (json-c flags), as a new string; json-c's copy of that text is wiped and the tree is
 * released with dg_json_put_secret(). NULL when out of memory (the tree is released all the same). */
char *dg_json_print_secret(json_object *j, int flags);
