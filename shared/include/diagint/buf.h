/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* A growing, always NUL-terminated byte buffer for building requests, canonical strings and messages.
 * Running out of memory is sticky: later appends do nothing and dg_buf_ok() says false, so a builder checks
 * once at the end instead of after every append. */
struct dg_buf {
	char *data; /* NULL until the first append */
	size_t len;
	size_t cap;
	bool oom;
};

#define DG_BUF_INIT { 0 }

bool dg_buf_append(struct dg_buf *b, const void *data, size_t len);
bool dg_buf_puts(struct dg_buf *b, const char *s);
bool dg_buf_putc(struct dg_buf *b, char c);
bool dg_buf_printf(struct dg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline bool dg_buf_ok(const struct dg_buf *b)
{
	return !b->oom;
}
/* The contents ("" when empty); valid until the next append. */
const char *dg_buf_str(const struct dg_buf *b);
/* Hand the string to the caller (free() it); NULL after an out-of-memory. The buffer is empty afterwards. */
char *dg_buf_steal(struct dg_buf *b);
void dg_buf_reset(struct dg_buf *b);
void dg_buf_free(struct dg_buf *b);
/* Overwrite the contents before freeing: for buffers that held a secret (a password form, a signing key). */
void dg_buf_free_secret(struct dg_buf *b);
