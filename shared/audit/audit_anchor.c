/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The head announced outside the log (syslog, Linux audit), and read back from a copy of those logs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#ifdef HAVE_LIBAUDIT
#include <libaudit.h>
#endif

#include "audit/audit-internal.h"
#include "audit/audit_anchor.h"
#include "base/encode.h"

#define ANCHOR_LINE_MAX 8192

/* Paths go into audit's key=value text the way auditd encodes untrusted strings: quoted when that is
 * unambiguous, hex otherwise, so ausearch -i shows them and a space cannot fake another field. */
static bool needs_hex(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == '"' || *s == '\'' || (unsigned char)*s >= 0x7f)
			return true;
	return false;
}

int dg_audit_anchor_message(const char *log_path, const struct dg_audit_head *head, char *buf, size_t len)
{
	size_t o, plen = strlen(log_path);
	int n;

	if (!needs_hex(log_path))
		n = snprintf(buf, len, DG_AUDIT_ANCHOR_OP " log=\"%s\" seq=%llu sha256=\"%s\"", log_path,
			     (unsigned long long)head->seq, head->sha256);
	else {
		n = snprintf(buf, len, DG_AUDIT_ANCHOR_OP " log=");
		if (n < 0 || (size_t)n + 2 * plen >= len)
			return -ENAMETOOLONG;
		dg_hex_upper(log_path, plen, buf + n);
		o = (size_t)n + 2 * plen;
		n = (int)o + snprintf(buf + o, len - o, " seq=%llu sha256=\"%s\"", (unsigned long long)head->seq,
				      head->sha256);
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

#ifdef HAVE_LIBAUDIT
static void kaudit_send(struct dg_audit_anchor_state *st, const char *msg)
{
	if (st->kaudit_fd == -2)
		return;
	if (st->kaudit_fd == -1) {
		st->kaudit_fd = audit_open();
		if (st->kaudit_fd < 0) {
			/* No audit in this kernel (EINVAL, EPROTONOSUPPORT, EAFNOSUPPORT) or under pam_wrapper. */
			st->kaudit_errno = errno;
			st->kaudit_fd = -2;
			return;
		}
	}
	errno = 0;
	/* 0 with EPERM: no CAP_AUDIT_WRITE. Nothing is retried; the syslog copy and the head file remain. */
	if (audit_log_user_message(st->kaudit_fd, AUDIT_TRUSTED_APP, msg, NULL, NULL, NULL, 1) <= 0) {
		st->kaudit_errno = errno ? errno : EPERM;
		audit_close(st->kaudit_fd);
		st->kaudit_fd = -2;
		return;
	}
	st->kaudit_sent++;
}
#endif

void dg_audit_anchor_announce(struct dg_audit_anchor_state *st, const char *log_path,
			      const struct dg_audit_head *head, unsigned flags)
{
	char msg[PATH_MAX * 2 + 200];
	int saved = errno;

	if (dg_audit_anchor_message(log_path, head, msg, sizeof(msg)) < 0)
		return;
	if (!(flags & DG_AUDIT_NO_SYSLOG))
		syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", msg);
#ifdef HAVE_LIBAUDIT
	if (!(flags & DG_AUDIT_NO_KAUDIT))
		kaudit_send(st, msg);
#else
	(void)st;
#endif
	errno = saved;
}

void dg_audit_anchor_close(struct dg_audit_anchor_state *st)
{
	if (!st)
		return;
#ifdef HAVE_LIBAUDIT
	if (st->kaudit_fd >= 0)
		audit_close(st->kaudit_fd);
#endif
	st->kaudit_fd = -1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The log= value at p, decoded into out; false when malformed. */
static bool read_log_value(const char *p, char *out, size_t outlen)
{
	size_t o = 0;

	if (*p == '"') {
		const char *end = strchr(p + 1, '"');
		if (!end || (size_t)(end - p - 1) >= outlen)
			return false;
		memcpy(out, p + 1, (size_t)(end - p - 1));
		out[end - p - 1] = '\0';
		return true;
	}
	while (hexval(p[0]) >= 0 && hexval(p[1]) >= 0 && o + 1 < outlen) {
		out[o++] = (char)(hexval(p[0]) << 4 | hexval(p[1]));
		p += 2;
	}
	out[o] = '\0';
	return o > 0;
}

/* Lines of auditd's log are trusted only as the kernel attests them: a TRUSTED_APP record of uid 0 (diagint's
 * writers run as root; without CAP_AUDIT_WRITE nobody else can send one). Syslog lines carry no attested sender
 * (any local user can run logger): they are taken as they are, so a forged one can only make verify fail. */
static bool trusted_source(const char *line, const char *op)
{
	const char *kaudit = strstr(line, "msg=audit(");

	if (!kaudit || kaudit > op)
		return true;
	return strstr(line, "type=TRUSTED_APP ") == line && (strstr(line, " uid=0 ") || strstr(line, " uid=root "));
}

static int cmp_point(const void *a, const void *b)
{
	const struct dg_audit_anchor_point *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int dg_audit_anchor_scan(const char *file, const char *log_path, struct dg_audit_anchor_point **ret,
			 size_t *ret_n, struct dg_error *err)
{
	struct dg_audit_anchor_point *pts = NULL;
	size_t n = 0, cap = 0, linecap = 0;
	char *line = NULL, path[PATH_MAX];
	FILE *f;

	f = fopen(file, "re");
	if (!f)
		return dg_error_set_errno(err, errno == ENOENT ? DG_USAGE : DG_FAILED, errno,
					  "cannot read the anchor log %s", file);
	line = malloc(ANCHOR_LINE_MAX);
	if (!line) {
		fclose(f);
		return dg_error_set(err, DG_FAILED, "out of memory");
	}
	(void)linecap;
	while (fgets(line, ANCHOR_LINE_MAX, f)) {
		const char *op = strstr(line, DG_AUDIT_ANCHOR_OP " log="), *s, *h;
		struct dg_audit_anchor_point pt;
		char *end;

		/* Bounded: a longer line is no announcement of ours; skip the rest of it. */
		if (!strchr(line, '\n') && !feof(f)) {
			int c;
			while ((c = getc(f)) != EOF && c != '\n')
				;
			continue;
		}
		if (!op || !trusted_source(line, op) || !read_log_value(op + sizeof(DG_AUDIT_ANCHOR_OP " log=") - 1, path, sizeof(path)) ||
		    strcmp(path, log_path))
			continue;
		s = strstr(op, " seq=");
		h = strstr(op, " sha256=");
		if (!s || !h)
			continue;
		h += 8;
		if (*h == '"')
			h++; /* quoted, so that ausearch -i does not take the hex for an encoded string */
		errno = 0;
		pt.seq = strtoull(s + 5, &end, 10);
		if (errno || end == s + 5 || strspn(h, "0123456789abcdef") < DG_SHA256_HEX_LEN)
			continue;
		memcpy(pt.sha256, h, DG_SHA256_HEX_LEN);
		pt.sha256[DG_SHA256_HEX_LEN] = '\0';
		if (n == cap) {
			struct dg_audit_anchor_point *grown;

			cap = cap ? cap * 2 : 64;
			grown = realloc(pts, cap * sizeof(*pts));
			if (!grown) {
				free(pts);
				free(line);
				fclose(f);
				return dg_error_set(err, DG_FAILED, "out of memory reading %s", file);
			}
			pts = grown;
		}
		pts[n++] = pt;
	}
	free(line);
	fclose(f);
	if (n > 1)
		qsort(pts, n, sizeof(*pts), cmp_point);
	*ret = pts;
	*ret_n = n;
	return 0;
}
