/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "diagint/buf.h"

static bool reserve(struct dg_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (b->oom)
		return false;
	if (extra > (size_t)-1 / 2 - b->len - 1) {
		b->oom = true;
		return false;
	}
	need = b->len + extra + 1;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

bool dg_buf_append(struct dg_buf *b, const void *data, size_t len)
{
	if (!reserve(b, len))
		return false;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return true;
}

bool dg_buf_puts(struct dg_buf *b, const char *s)
{
	return dg_buf_append(b, s, strlen(s));
}

bool dg_buf_putc(struct dg_buf *b, char c)
{
	return dg_buf_append(b, &c, 1);
}

bool dg_buf_printf(struct dg_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(b, (size_t)n))
		return false;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return true;
}

const char *dg_buf_str(const struct dg_buf *b)
{
	return b->data ? b->data : "";
}

char *dg_buf_steal(struct dg_buf *b)
{
	char *s;

	if (b->oom) {
		dg_buf_free(b);
		return NULL;
	}
	s = b->data ? b->data : strdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return s;
}

void dg_buf_reset(struct dg_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void dg_buf_free(struct dg_buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

void dg_buf_free_secret(struct dg_buf *b)
{
	if (b && b->data)
		OPENSSL_cleanse(b->data, b->cap);
	dg_buf_free(b);
}
