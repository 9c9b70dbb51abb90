/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The audit log's writer: one chain however many processes append, durable before append returns, repaired
 * after a crash, carried across rotation. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit-internal.h"
#include "audit/audit_anchor.h"

#define TAIL_CHUNK 65536

struct dg_audit_log {
	char path[PATH_MAX];       /* absolute: the same name in the head announcements whoever writes */
	char head_path[PATH_MAX + 8];
	int fd;
	int head_fd;
	unsigned flags;
	unsigned char key[1024];
	size_t keylen;
	/* What we know of the file's end, valid while its size is known_size (another writer changes it). */
	bool known;
	off_t known_size;
	struct dg_audit_head last;
	struct dg_audit_anchor_state anchor;
};

const char *dg_audit_log_path(const struct dg_audit_log *log)
{
	return log->path;
}

static int mkdir_parents(const char *path)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

static int absolute(const char *path, char *out, size_t len)
{
	char cwd[PATH_MAX];

	if (path[0] == '/')
		return snprintf(out, len, "%s", path) >= (int)len ? -ENAMETOOLONG : 0;
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	return snprintf(out, len, "%s/%s", cwd, path) >= (int)len ? -ENAMETOOLONG : 0;
}

static int open_files(struct dg_audit_log *log, struct dg_error *err)
{
	int r;

	log->fd = open(log->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (log->fd < 0 && errno == ENOENT) {
		r = mkdir_parents(log->path);
		if (r < 0)
			return dg_error_set_errno(err, r == -EACCES ? DG_DENIED : DG_USAGE, -r,
						  "cannot create the directory of the audit log %s (run as root, or "
						  "name a log you may write with --audit-log FILE or $%s)",
						  log->path, DG_AUDIT_ENV_PATH);
		log->fd = open(log->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	}
	if (log->fd < 0)
		return dg_error_set_errno(err, errno == EACCES || errno == EPERM ? DG_DENIED : DG_USAGE, errno,
					  "cannot open the audit log %s for appending (run as root, or name a log you "
					  "may write with --audit-log FILE or $%s)", log->path, DG_AUDIT_ENV_PATH);
	log->head_fd = open(log->head_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (log->head_fd < 0)
		return dg_error_set_errno(err, DG_USAGE, errno, "cannot open the audit log's head anchor %s",
					  log->head_path);
	log->known = false;
	return 0;
}

static void close_files(struct dg_audit_log *log)
{
	if (log->fd >= 0)
		close(log->fd);
	if (log->head_fd >= 0)
		close(log->head_fd);
	log->fd = log->head_fd = -1;
}

int dg_audit_log_open(const char *path, const unsigned char *key, size_t keylen, unsigned flags,
		      struct dg_audit_log **ret, struct dg_error *err)
{
	struct dg_audit_log *log;
	int r;

	if (keylen > sizeof(log->key))
		return dg_error_set(err, DG_USAGE, "the audit key is longer than %zu bytes", sizeof(log->key));
	log = calloc(1, sizeof(*log));
	if (!log)
		return dg_error_set(err, DG_FAILED, "out of memory");
	log->fd = log->head_fd = -1;
	log->flags = flags;
	log->anchor = (struct dg_audit_anchor_state)DG_AUDIT_ANCHOR_STATE_INIT;
	if (keylen)
		memcpy(log->key, key, keylen);
	log->keylen = keylen;
	r = absolute(path, log->path, sizeof(log->path));
	if (r < 0 || snprintf(log->head_path, sizeof(log->head_path), "%s" DG_AUDIT_HEAD_SUFFIX, log->path) >=
			     (int)sizeof(log->head_path)) {
		free(log);
		return dg_error_set(err, DG_USAGE, "audit log path too long: %s", path);
	}
	r = open_files(log, err);
	if (r < 0) {
		dg_audit_log_free(log);
		return r;
	}
	*ret = log;
	return 0;
}

void dg_audit_log_free(struct dg_audit_log *log)
{
	if (!log)
		return;
	close_files(log);
	dg_audit_anchor_close(&log->anchor);
	explicit_bzero(log->key, sizeof(log->key));
	free(log);
}

/* Lock the file the path names now: a rotation or removal since we opened it makes us follow the path. */
static int lock_current(struct dg_audit_log *log, struct dg_error *err)
{
	for (int tries = 0; tries < 100; tries++) {
		struct stat a, b;
		int r;

		if (flock(log->fd, LOCK_EX) < 0) {
			if (errno == EINTR)
				continue;
			return dg_error_set_errno(err, DG_FAILED, errno, "cannot lock the audit log %s", log->path);
		}
		if (fstat(log->fd, &a) == 0 && stat(log->path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return 0;
		flock(log->fd, LOCK_UN);
		close_files(log);
		r = open_files(log, err);
		if (r < 0)
			return r;
	}
	return dg_error_set(err, DG_UNAVAILABLE, "the audit log %s keeps being replaced; try again", log->path);
}

static int read_at(int fd, char *buf, size_t len, off_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, off + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		got += (size_t)n;
	}
	return 0;
}

/* Offset just after the last '\n' before `end` (0 when there is none). */
static int last_newline_end(int fd, off_t end, off_t *ret)
{
	char *buf = malloc(TAIL_CHUNK);
	off_t pos = end;
	int r;

	if (!buf)
		return -ENOMEM;
	while (pos > 0) {
		size_t n = pos > TAIL_CHUNK ? TAIL_CHUNK : (size_t)pos;
		r = read_at(fd, buf, n, pos - (off_t)n);
		if (r < 0) {
			free(buf);
			return r;
		}
		for (size_t i = n; i > 0; i--)
			if (buf[i - 1] == '\n') {
				*ret = pos - (off_t)n + (off_t)i;
				free(buf);
				return 0;
			}
		pos -= (off_t)n;
	}
	free(buf);
	*ret = 0;
	return 0;
}

struct pending {
	bool torn;
	off_t torn_len;
	char torn_sha256[DG_SHA256_HEX_LEN + 1];
	char torn_sample[96];
	bool gap;
	struct dg_audit_head anchored;
};

static void sample_text(const char *p, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < outlen; i++)
		out[o++] = (p[i] >= ' ' && p[i] < 0x7f) ? p[i] : '?';
	out[o] = '\0';
}

static int read_head_fd(struct dg_audit_log *log, struct dg_audit_head *head)
{
	char buf[512];
	ssize_t n;

	n = pread(log->head_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return -ENOENT;
	buf[n] = '\0';
	/* The key is not checked here: a forged head can only make us write a gap record, never skip one. */
	return dg_audit_head_parse(buf, (size_t)n, NULL, 0, head, NULL, NULL) < 0 ? -EINVAL : 0;
}

/* Learn the last record (seq and hash) from the file itself; cut off a torn last line; compare with the head. */
static int sync_tail(struct dg_audit_log *log, struct pending *pend, struct dg_error *err)
{
	struct dg_audit_head head;
	struct stat st;
	off_t size, start = 0;
	char *line = NULL;
	int r;

	if (fstat(log->fd, &st) < 0)
		return dg_error_set_errno(err, DG_FAILED, errno, "cannot stat the audit log %s", log->path);
	size = st.st_size;
	if (log->known && size == log->known_size)
		return 0;

	if (size > 0) {
		char c;

		r = read_at(log->fd, &c, 1, size - 1);
		if (r < 0)
			return dg_error_set_errno(err, DG_FAILED, -r, "cannot read the audit log %s", log->path);
		if (c != '\n') {
			off_t cut;
			char *frag;

			r = last_newline_end(log->fd, size, &cut);
			if (r < 0)
				return dg_error_set_errno(err, DG_FAILED, -r, "cannot read the audit log %s", log->path);
			pend->torn = true;
			pend->torn_len = size - cut;
			frag = malloc((size_t)(size - cut));
			if (!frag)
				return dg_error_set(err, DG_FAILED, "out of memory");
			r = read_at(log->fd, frag, (size_t)(size - cut), cut);
			if (r == 0) {
				dg_hash_buffer(frag, (size_t)(size - cut), pend->torn_sha256);
				sample_text(frag, (size_t)(size - cut), pend->torn_sample, sizeof(pend->torn_sample));
			}
			free(frag);
			if (r < 0)
				return dg_error_set_errno(err, DG_FAILED, -r, "cannot read the audit log %s", log->path);
			if (ftruncate(log->fd, cut) < 0)
				return dg_error_set_errno(err, DG_FAILED, errno, "cannot cut the torn last line of %s",
							  log->path);
			size = cut;
		}
	}

	log->last.seq = 0;
	memcpy(log->last.sha256, DG_AUDIT_ZERO_HASH, sizeof(log->last.sha256));
	if (size > 0) {
		size_t len;

		r = last_newline_end(log->fd, size - 1, &start);
		if (r < 0)
			return dg_error_set_errno(err, DG_FAILED, -r, "cannot read the audit log %s", log->path);
		len = (size_t)(size - 1 - start);
		if (len > DG_AUDIT_LINE_MAX)
			return dg_error_set(err, DG_FAILED, "the last line of the audit log %s is not a diagint audit "
					    "record (%zu bytes): check it with 'diagint audit verify'", log->path, len);
		line = malloc(len + 1);
		if (!line)
			return dg_error_set(err, DG_FAILED, "out of memory");
		r = read_at(log->fd, line, len, start);
		if (r < 0) {
			free(line);
			return dg_error_set_errno(err, DG_FAILED, -r, "cannot read the audit log %s", log->path);
		}
		if (!dg_audit_line_header(line, len, &log->last.seq, NULL)) {
			free(line);
			return dg_error_set(err, DG_FAILED, "the last line of the audit log %s is not a diagint audit "
					    "record: check it with 'diagint audit verify', then move the file aside",
					    log->path);
		}
		/* Only key holders extend a keyed chain: a keyless writer would leave records verify rejects. */
		if (log->keylen == 0 && dg_audit_line_hmac(line, len, NULL, 0, NULL, NULL)) {
			free(line);
			return dg_error_set(err, DG_DENIED, "the audit log %s is keyed (its records carry an HMAC): "
					    "give the key with --key-file or $%s", log->path, DG_AUDIT_ENV_KEY);
		}
		dg_hash_buffer(line, len, log->last.sha256);
		free(line);
	}

	/* A head ahead of the file means records were taken from its end (or the file replaced) since. */
	if (read_head_fd(log, &head) == 0 &&
	    (head.seq > log->last.seq || (head.seq == log->last.seq && head.seq > 0 &&
					  strcmp(head.sha256, log->last.sha256)))) {
		pend->gap = true;
		pend->anchored = head;
	}
	log->known = true;
	log->known_size = size;
	return 0;
}

static int write_record(struct dg_audit_log *log, const struct dg_audit_event *ev, struct dg_error *err)
{
	size_t len = 0, done = 0;
	char *line;

	line = dg_audit_render(ev, log->last.seq + 1, log->last.sha256, log->key, log->keylen, &len);
	if (!line)
		return dg_error_set(err, DG_FAILED, "out of memory");
	line[len] = '\n';
	while (done < len + 1) {
		ssize_t n = write(log->fd, line + done, len + 1 - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			/* Never leave half a record for the next writer to find: take it back. */
			if (ftruncate(log->fd, log->known_size) < 0)
				log->known = false;
			free(line);
			return dg_error_set_errno(err, e == ENOSPC || e == EDQUOT ? DG_REFUSED : DG_FAILED, e,
						  "cannot append to the audit log %s", log->path);
		}
		done += (size_t)n;
	}
	dg_hash_buffer(line, len, log->last.sha256);
	log->last.seq++;
	log->known_size += (off_t)(len + 1);
	free(line);
	return 0;
}

/* Records the writer adds on its own behalf, before the caller's. */
static int write_notices(struct dg_audit_log *log, struct pending *pend, struct dg_error *err)
{
	struct dg_audit_event ev;
	int r;

	if (pend->torn) {
		dg_audit_event_init(&ev, "audit", "audit-repair");
		snprintf(ev.reason, sizeof(ev.reason), "a writer died mid-append: its torn last line was cut off");
		snprintf(ev.evidence, sizeof(ev.evidence), "%lld bytes, sha256 %s, starting '%s'",
			 (long long)pend->torn_len, pend->torn_sha256, pend->torn_sample);
		r = write_record(log, &ev, err);
		if (r < 0)
			return r;
	}
	if (pend->gap) {
		dg_audit_event_init(&ev, "audit", "audit-gap");
		ev.result = DG_AUDIT_FAILED;
		snprintf(ev.reason, sizeof(ev.reason), "records were removed: the log ended at seq %llu, but its head "
			 "anchor recorded seq %llu", (unsigned long long)log->last.seq,
			 (unsigned long long)pend->anchored.seq);
		snprintf(ev.evidence, sizeof(ev.evidence), "head seq %llu sha256 %s; log's last seq %llu sha256 %s",
			 (unsigned long long)pend->anchored.seq, pend->anchored.sha256,
			 (unsigned long long)log->last.seq, log->last.sha256);
		snprintf(ev.error, sizeof(ev.error), "audit log truncated or replaced");
		r = write_record(log, &ev, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Move the head forward, never back: writers finish their flushes in any order. */
static void advance_head(struct dg_audit_log *log, const struct dg_audit_head *h)
{
	struct dg_audit_head cur;
	size_t len = 0;
	char *body;

	if (flock(log->head_fd, LOCK_EX) < 0)
		return;
	if (read_head_fd(log, &cur) < 0 || cur.seq < h->seq) {
		body = dg_audit_head_render(h, log->key, log->keylen, &len);
		if (body) {
			/* One small pwrite at offset 0: a crash leaves the old head or the new one. */
			if (pwrite(log->head_fd, body, len, 0) == (ssize_t)len)
				(void)!ftruncate(log->head_fd, (off_t)len);
			free(body);
		}
	}
	flock(log->head_fd, LOCK_UN);
}

int dg_audit_append(struct dg_audit_log *log, const struct dg_audit_event *ev, struct dg_audit_head *ret_head,
		    struct dg_error *err)
{
	struct pending pend = { 0 };
	struct dg_audit_head mine;
	int fd, r;

	r = lock_current(log, err);
	if (r < 0)
		return r;
	r = sync_tail(log, &pend, err);
	if (r == 0)
		r = write_notices(log, &pend, err);
	if (r == 0)
		r = write_record(log, ev, err);
	mine = log->last;
	fd = dup(log->fd);
	flock(log->fd, LOCK_UN);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	/* Flushed outside the lock: writers queued behind us append meanwhile, and one journal commit makes
	 * several records durable (group commit). Our record is durable when this returns. The dup keeps the
	 * inode even if a rotation swaps the path under us. */
	if (!(log->flags & DG_AUDIT_NO_FSYNC) && fd >= 0 && fdatasync(fd) < 0) {
		r = dg_error_set_errno(err, DG_FAILED, errno, "cannot flush the audit log %s", log->path);
		close(fd);
		return r;
	}
	if (fd >= 0)
		close(fd);
	advance_head(log, &mine);
	dg_audit_anchor_announce(&log->anchor, log->path, &mine, log->flags);
	if (ret_head)
		*ret_head = mine;
	return 0;
}

int dg_audit_repair(struct dg_audit_log *log, int *ret_notices, struct dg_error *err)
{
	struct pending pend = { 0 };
	struct dg_audit_head mine;
	int r;

	r = lock_current(log, err);
	if (r < 0)
		return r;
	log->known = false; /* read the end afresh even if we wrote it */
	r = sync_tail(log, &pend, err);
	if (r == 0)
		r = write_notices(log, &pend, err);
	mine = log->last;
	if (r == 0 && !(log->flags & DG_AUDIT_NO_FSYNC) && fdatasync(log->fd) < 0)
		r = dg_error_set_errno(err, DG_FAILED, errno, "cannot flush the audit log %s", log->path);
	flock(log->fd, LOCK_UN);
	if (r < 0)
		return r;
	if (pend.torn || pend.gap) {
		advance_head(log, &mine);
		dg_audit_anchor_announce(&log->anchor, log->path, &mine, log->flags);
	}
	if (ret_notices)
		*ret_notices = (int)pend.torn + (int)pend.gap;
	return 0;
}

int dg_audit_head_read(const char *log_path, struct dg_audit_head *ret, struct dg_error *err)
{
	char path[PATH_MAX + 8], buf[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s" DG_AUDIT_HEAD_SUFFIX, log_path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dg_error_set_errno(err, errno == ENOENT ? DG_NOTFOUND : DG_FAILED, errno,
					  "cannot read the head anchor %s", path);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	if (n <= 0)
		return dg_error_set(err, DG_NOTFOUND, "the head anchor %s is empty", path);
	buf[n] = '\0';
	return dg_audit_head_parse(buf, (size_t)n, NULL, 0, ret, NULL, err);
}

int dg_audit_rotate(struct dg_audit_log *log, char *ret_rotated, struct dg_error *err)
{
	struct pending pend = { 0 };
	struct dg_audit_event ev;
	struct dg_audit_head prev;
	char rotated[PATH_MAX], tmp[PATH_MAX + 16], stamp[32];
	struct tm tm;
	time_t now = time(NULL);
	size_t len = 0;
	char *line = NULL;
	int r, nfd = -1;

	r = lock_current(log, err);
	if (r < 0)
		return r;
	r = sync_tail(log, &pend, err);
	if (r == 0)
		r = write_notices(log, &pend, err);
	if (r < 0)
		goto out;
	if (!(log->flags & DG_AUDIT_NO_FSYNC) && fdatasync(log->fd) < 0) {
		r = dg_error_set_errno(err, DG_FAILED, errno, "cannot flush the audit log %s", log->path);
		goto out;
	}
	prev = log->last;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (int i = 0; i < 100; i++) {
		int n = i == 0 ? snprintf(rotated, sizeof(rotated), "%s.%s", log->path, stamp)
			       : snprintf(rotated, sizeof(rotated), "%s.%s-%d", log->path, stamp, i);
		if (n >= (int)sizeof(rotated)) {
			r = dg_error_set(err, DG_USAGE, "audit log path too long to rotate: %s", log->path);
			goto out;
		}
		/* link() never replaces: an older rotated file under that name stays. */
		if (link(log->path, rotated) == 0)
			break;
		if (errno != EEXIST || i == 99) {
			r = dg_error_set_errno(err, DG_FAILED, errno, "cannot keep the old audit log as %s", rotated);
			goto out;
		}
	}

	/* The new file gets its first record before it takes the name, so nobody ever sees it empty. */
	dg_audit_event_init(&ev, "audit", "rotate");
	snprintf(ev.reason, sizeof(ev.reason), "the log continues from %.480s", rotated);
	snprintf(ev.evidence, sizeof(ev.evidence), "previous file ends at seq %llu sha256 %s",
		 (unsigned long long)prev.seq, prev.sha256);
	line = dg_audit_render(&ev, prev.seq + 1, prev.sha256, log->key, log->keylen, &len);
	snprintf(tmp, sizeof(tmp), "%s.rotating", log->path);
	nfd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (!line || nfd < 0) {
		r = dg_error_set_errno(err, DG_FAILED, line ? errno : ENOMEM, "cannot create %s", tmp);
		unlink(rotated);
		goto out;
	}
	line[len] = '\n';
	if (write(nfd, line, len + 1) != (ssize_t)(len + 1) || fsync(nfd) < 0 || rename(tmp, log->path) < 0) {
		r = dg_error_set_errno(err, DG_FAILED, errno, "cannot start the new audit log %s", log->path);
		unlink(tmp);
		unlink(rotated);
		goto out;
	}
	prev.seq++;
	dg_hash_buffer(line, len, prev.sha256);
	advance_head(log, &prev);
	dg_audit_anchor_announce(&log->anchor, log->path, &prev, log->flags);
	if (ret_rotated)
		snprintf(ret_rotated, PATH_MAX, "%s", rotated);
out:
	free(line);
	if (nfd >= 0)
		close(nfd);
	flock(log->fd, LOCK_UN);
	/* Whatever happened, the next append follows the path afresh. */
	log->known = false;
	return r;
}
