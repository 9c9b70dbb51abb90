/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Wiping json-c's memory before it is freed: the strings of a tree, the tokener's scratch buffer, the text a
 * tree was printed into. json-c keeps all three on the heap and frees them as they are. */
#include <stdlib.h>
#include <string.h>

#include <json-c/printbuf.h>
#include <openssl/crypto.h>

#include "cloud/jsonsecret.h"

static void wipe_strings(json_object *j, int depth)
{
	/* json-c's own parser stops at depth 32; a tree built by hand is ours. The bound only guards the stack. */
	if (!j || depth > 256)
		return;
	switch (json_object_get_type(j)) {
	case json_type_string:
		/* The string's storage is the object's own heap block; writing through it is what freeing would
		 * have done to it anyway. */
		OPENSSL_cleanse((char *)json_object_get_string(j), (size_t)json_object_get_string_len(j));
		break;
	case json_type_object: {
		json_object_object_foreach(j, key, v)
		{
			(void)key;
			wipe_strings(v, depth + 1);
		}
		break;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(j); i++)
			wipe_strings(json_object_array_get_idx(j, i), depth + 1);
		break;
	default:
		break;
	}
}

void dg_json_put_secret(json_object *j)
{
	wipe_strings(j, 0);
	json_object_put(j);
}

void dg_json_tokener_free_secret(json_tokener *tok)
{
	if (!tok)
		return;
	/* Direct access is deprecated, but json-c offers no other way to the scratch buffer before it frees it. */
	if (tok->pb && tok->pb->buf)
		OPENSSL_cleanse(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
}

json_object *dg_json_parse_secret(const char *text)
{
	json_tokener *tok;
	json_object *j;

	if (!text)
		return NULL;
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	j = json_tokener_parse_ex(tok, text, -1); /* as json_tokener_parse() reads it */
	if (j && json_tokener_get_error(tok) != json_tokener_success) {
		dg_json_put_secret(j);
		j = NULL;
	}
	dg_json_tokener_free_secret(tok);
	return j;
}

char *dg_json_print_secret(json_object *j, int flags)
{
	size_t len = 0;
	const char *text;
	char *ret = NULL;

	if (!j)
		return NULL;
	text = json_object_to_json_string_length(j, flags, &len);
	if (text) {
		ret = malloc(len + 1);
		if (ret) {
			memcpy(ret, text, len);
			ret[len] = '\0';
		}
		OPENSSL_cleanse((char *)text, len);
	}
	dg_json_put_secret(j);
	return ret;
}
