/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <string.h>

#include "diagint/provider.h"
#include "diagint/target.h"

bool dg_target_charset(const char *s, size_t len, const char *set)
{
	size_t n = strlen(set);

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool ok = false;

		for (size_t j = 0; j < n && !ok; j++) {
			if (j + 2 < n && set[j + 1] == '-') {
				ok = c >= (unsigned char)set[j] && c <= (unsigned char)set[j + 2];
				j += 2;
			} else {
				ok = c == (unsigned char)set[j];
			}
		}
		if (!ok)
			return false;
	}
	return true;
}

static void provider_list(char *out, size_t len)
{
	const struct dg_provider *p;
	size_t used = 0;

	out[0] = '\0';
	for (unsigned i = 0; (p = dg_provider_at(i)); i++) {
		int n = snprintf(out + used, len - used, "%s%s", i ? ", " : "", p->name);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
}

static void shape(const struct dg_provider *p, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < p->n_parts; i++) {
		int n = snprintf(out + used, len - used, "%s%s", i ? "/" : "", p->parts[i].name);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
}

/* Targets travel into logs, JSON and audit records: show a bad one safely, escaped and cut short. */
static void quote(const char *s, char *out, size_t len)
{
	size_t w = 0;

	for (; *s && w + 5 < len; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f)
			w += (size_t)snprintf(out + w, len - w, "\\x%02x", c);
		else
			out[w++] = (char)c;
	}
	if (*s && w + 4 <= len) {
		memcpy(out + w, "...", 3);
		w += 3;
	}
	out[w] = '\0';
}

int dg_target_parse(const char *text, struct dg_target *ret, struct dg_error *err)
{
	char shown[96], names[128], form[160];
	const struct dg_provider *p;
	const char *colon, *s, *end;
	size_t len;

	if (!text || !*text)
		return dg_error_set(err, DG_USAGE, "empty target: write PROVIDER:ID, e.g. aws:us-east-1/"
				    "i-0123456789abcdef0 or libvirt:web-1");
	quote(text, shown, sizeof(shown));
	len = strlen(text);
	if (len >= DG_TARGET_MAX)
		return dg_error_set(err, DG_USAGE, "target '%s' is too long (%zu bytes, at most %d)", shown, len,
				    DG_TARGET_MAX - 1);
	for (s = text; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s == 0x7f)
			return dg_error_set(err, DG_USAGE, "target '%s' contains a space or control character; "
					    "targets are written without spaces", shown);
	colon = strchr(text, ':');
	provider_list(names, sizeof(names));
	if (!colon)
		return dg_error_set(err, DG_USAGE, "target '%s' names no provider: write PROVIDER:ID with PROVIDER one "
				    "of %s (a libvirt domain is libvirt:%s)", shown, names, shown);
	p = dg_provider_find(text, (size_t)(colon - text));
	if (!p) {
		char prov[40];
		size_t n = (size_t)(colon - text) < sizeof(prov) - 1 ? (size_t)(colon - text) : sizeof(prov) - 1;
		memcpy(prov, text, n);
		prov[n] = '\0';
		quote(prov, form, sizeof(form));
		return dg_error_set(err, DG_USAGE, "unknown provider '%s' in target '%s': use one of %s", form, shown,
				    names);
	}
	shape(p, form, sizeof(form));
	memset(ret, 0, sizeof(*ret));
	s = colon + 1;
	for (unsigned i = 0; i < p->n_parts; i++) {
		const struct dg_target_part *part = &p->parts[i];
		bool last = i + 1 == p->n_parts;
		char pshown[96];

		end = last ? s + strlen(s) : strchr(s, '/');
		if (!end)
			return dg_error_set(err, DG_USAGE, "target '%s' is incomplete: %s targets are %s:%s (e.g. %s); "
					    "%s is missing", shown, p->name, p->name, form, p->example, p->parts[i + 1].name);
		if (end == s)
			return dg_error_set(err, DG_USAGE, "target '%s': %s is empty (%s targets are %s:%s, e.g. %s)",
					    shown, part->name, p->name, p->name, form, p->example);
		if ((size_t)(end - s) >= DG_TARGET_PART_MAX)
			return dg_error_set(err, DG_USAGE, "target '%s': %s is too long (at most %d bytes)", shown,
					    part->name, DG_TARGET_PART_MAX - 1);
		memcpy(ret->part[i], s, (size_t)(end - s));
		ret->part[i][end - s] = '\0';
		if (last && memchr(s, '/', (size_t)(end - s)))
			return dg_error_set(err, DG_USAGE, "target '%s' has too many parts: %s targets are %s:%s "
					    "(e.g. %s)", shown, p->name, p->name, form, p->example);
		/* "." and ".." are valid characters in some parts (a domain-scoped GCP project) but as a whole part they
		 * are path segments that would move the request to another resource. */
		if ((end - s == 1 && s[0] == '.') || (end - s == 2 && s[0] == '.' && s[1] == '.'))
			return dg_error_set(err, DG_USAGE, "target '%s': %s '%.*s' is a dot segment, not a name (%s "
					    "targets are %s:%s, e.g. %s)", shown, part->name, (int)(end - s), s, p->name,
					    p->name, form, p->example);
		if (!part->valid(s, (size_t)(end - s))) {
			quote(ret->part[i], pshown, sizeof(pshown));
			return dg_error_set(err, DG_USAGE, "target '%s': %s '%s' is not valid: %s (e.g. %s)", shown,
					    part->name, pshown, part->rule, p->example);
		}
		s = end + 1;
	}
	ret->provider = p;
	ret->n_parts = p->n_parts;
	memcpy(ret->text, text, len + 1);
	return 0;
}

bool dg_target_grammar(struct dg_buf *out, const char *indent)
{
	const struct dg_provider *p;
	char form[160];

	for (unsigned i = 0; (p = dg_provider_at(i)); i++) {
		char left[200];
		shape(p, form, sizeof(form));
		snprintf(left, sizeof(left), "%s:%s", p->name, form);
		dg_buf_printf(out, "%s%-28s %s\n%s%-28s e.g. %s\n", indent, left, p->title, indent, "", p->example);
	}
	return dg_buf_ok(out);
}
