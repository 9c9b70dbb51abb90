/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The audit log's writer: one chain however many processes append, durable before append returns, repaired
 * after a crash, carried across rotation. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
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
	/* The file lock (flock) is per open file: it keeps other processes out, not our own other threads. */
	pthread_mutex_t lock;
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

static bool regular(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

static int open_files(struct dg_audit_log *log, struct dg_error *err)
{
	const int flags = O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK;
	int r;

	log->fd = open(log->path, flags, 0600);
	if (log->fd < 0 && errno == ENOENT) {
		r = mkdir_parents(log->path);
		if (r < 0)
			return dg_error_set_errno(err, r == -EACCES ? DG_DENIED : DG_USAGE, -r,
						  "cannot create the directory of the audit log %s (run as root, or "
						  "name a log you may write with --audit-log FILE or $%s)",
						  log->path, DG_AUDIT_ENV_PATH);
		log->fd = open(log->path, flags, 0600);
	}
	if (log->fd < 0)
		return dg_error_set_errno(err, errno == EACCES || errno == EPERM ? DG_DENIED : DG_USAGE, errno,
					  "cannot open the audit log %s for appending (run as root, or name a log you "
					  "may write with --audit-log FILE or $%s)", log->path, DG_AUDIT_ENV_PATH);
	/* O_NONBLOCK above: a FIFO in the log's place must not hang the open. Records go to regular files only
	 * (into a FIFO they would go to whoever reads it, into a device nowhere). */
	if (!regular(log->fd))
		return dg_error_set(err, DG_USAGE, "the audit log %s is not a regular file (a FIFO, a device or a "
				    "directory): name the log itself with --audit-log FILE or $%s", log->path,
				    DG_AUDIT_ENV_PATH);
	log->head_fd = open(log->head_path, (flags & ~O_APPEND), 0600);
	if (log->head_fd < 0)
		return dg_error_set_errno(err, DG_USAGE, errno, "cannot open the audit log's head anchor %s (if "
					  "something else is there, remove it: the next record writes it afresh)",
					  log->head_path);
	if (!regular(log->head_fd))
		return dg_error_set(err, DG_USAGE, "the audit log's head anchor %s is not a regular file (a FIFO, a "
				    "device or a directory): remove it; the next record writes it afresh", log->head_path);
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
	pthread_mutex_init(&log->lock, NULL);
	log->flags = flags;
	log->anchor = (struct dg_audit_anchor_state)DG_AUDIT_ANCHOR_STATE_INIT;
	if (keylen)
		memcpy(log->key, key, keylen);
	log->keylen = keylen;
	r = absolute(path, log->path, sizeof(log->path));
	if (r < 0 || snprintf(log->head_path, sizeof(log->head_path), "%s" DG_AUDIT_HEAD_SUFFIX, log->path) >=
			     (int)sizeof(log->head_path)) {
		pthread_mutex_destroy(&log->lock);
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
	pthread_mutex_destroy(&log->lock);
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
	off_t torn_at;          /* where the torn fragment began: put back if its record cannot be written */
	char *torn_bytes;       /* the fragment itself (at most DG_AUDIT_LINE_MAX bytes) */
	char torn_sha256[DG_SHA256_HEX_LEN + 1];
	char torn_sample[96];
	bool gap;
	struct dg_audit_head anchored;
	char head_problem[400]; /* the head anchor is missing, garbled, forged or rolled back: a notice says so */
	bool torn_recorded;     /* the audit-repair record is written: the cut is accounted for */
};

/* The cut fragment goes back where it was when its audit-repair record could not be written: repair writes its
 * record or changes nothing. O_APPEND puts it at the end, which is where it was cut. */
static void restore_torn(struct dg_audit_log *log, struct pending *pend)
{
	size_t done = 0;

	if (!pend->torn || pend->torn_recorded || !pend->torn_bytes)
		return;
	if (ftruncate(log->fd, pend->torn_at) < 0)
		return;
	while (done < (size_t)pend->torn_len) {
		ssize_t n = write(log->fd, pend->torn_bytes + done, (size_t)pend->torn_len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	log->known = false;
}

static void pending_clear(struct pending *pend)
{
	free(pend->torn_bytes);
	pend->torn_bytes = NULL;
}

static void sample_text(const char *p, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < outlen; i++)
		out[o++] = (p[i] >= ' ' && p[i] < 0x7f) ? p[i] : '?';
	out[o] = '\0';
}

/* -ENOENT: empty (deleted and recreated by our open); -EINVAL: not a head; -EBADMSG: its HMAC does not verify with
 * our key. ret_keyed: it carries an HMAC. */
static int read_head_checked(struct dg_audit_log *log, struct dg_audit_head *head, bool *ret_keyed, bool locked)
{
	char buf[512];
	bool keyed = false;
	ssize_t n;

	/* Shared lock: a writer moving the head (advance_head, exclusive) is never read half-way. */
	while (!locked && flock(log->head_fd, LOCK_SH) < 0 && errno == EINTR)
		;
	n = pread(log->head_fd, buf, sizeof(buf) - 1, 0);
	if (!locked)
		flock(log->head_fd, LOCK_UN);
	if (n <= 0)
		return -ENOENT;
	buf[n] = '\0';
	if (dg_audit_head_parse(buf, (size_t)n, NULL, 0, head, &keyed, NULL) < 0)
		return -EINVAL;
	if (ret_keyed)
		*ret_keyed = keyed;
	if (keyed && log->keylen && dg_audit_head_parse(buf, (size_t)n, log->key, log->keylen, head, NULL, NULL) < 0)
		return -EBADMSG;
	return 0;
}

/* With the head's lock already held (advance_head). */
static int read_head_locked(struct dg_audit_log *log, struct dg_audit_head *head)
{
	return read_head_checked(log, head, NULL, true);
}

/* A diagint audit log, not some other file we were pointed at: its first line is one of our records (or, with no
 * line ended yet, the start of one). Nothing in a file that fails this is ever changed. */
static int is_audit_log(struct dg_audit_log *log, off_t size, struct dg_error *err)
{
	static const char start[] = "{\"v\":1,\"seq\":";
	size_t n = size > DG_AUDIT_LINE_MAX + 1 ? DG_AUDIT_LINE_MAX + 1 : (size_t)size;
	char *buf = malloc(n + 1);
	uint64_t seq;
	char *nl;
	bool ok;
	int r;

	if (!buf)
		return dg_error_set(err, DG_FAILED, "out of memory");
	r = read_at(log->fd, buf, n, 0);
	if (r < 0) {
		free(buf);
		return dg_error_set_errno(err, DG_FAILED, -r, "cannot read the audit log %s", log->path);
	}
	nl = memchr(buf, '\n', n);
	ok = nl ? dg_audit_line_header(buf, (size_t)(nl - buf), &seq, NULL)
		: n <= DG_AUDIT_LINE_MAX && n >= sizeof(start) - 1 && !memcmp(buf, start, sizeof(start) - 1);
	free(buf);
	if (!ok)
		return dg_error_set(err, DG_USAGE, "%s is not a diagint audit log (its first line is not an audit "
				    "record): nothing was changed; name the right file, or move this one aside",
				    log->path);
	return 0;
}

/* The hash of the record with sequence number `want`, found going back from the end (`end`: the file's size,
 * `last`: the last record's seq); at most `max_back` records back. -ESRCH: not found that close. */
static int hash_of_seq(struct dg_audit_log *log, off_t end, uint64_t last, uint64_t want, unsigned max_back,
		       char out[DG_SHA256_HEX_LEN + 1])
{
	off_t stop = end, start;
	uint64_t seq = last;
	int r;

	if (want > last || last - want > max_back)
		return -ESRCH;
	for (;;) {
		size_t len;
		char *line;

		r = last_newline_end(log->fd, stop - 1, &start);
		if (r < 0)
			return r;
		if (seq == want) {
			len = (size_t)(stop - 1 - start);
			if (len > DG_AUDIT_LINE_MAX)
				return -EINVAL;
			line = malloc(len + 1);
			if (!line)
				return -ENOMEM;
			r = read_at(log->fd, line, len, start);
			if (r == 0)
				dg_hash_buffer(line, len, out);
			free(line);
			return r;
		}
		if (start == 0)
			return -ESRCH;
		stop = start;
		seq--;
	}
}

/* Compare the head anchor with the log's end (log->last, just learned): a head ahead of the log means records
 * were cut (a gap); a head missing, garbled, forged, or naming a record that is not the log's is a problem the
 * writer records before its own record -- never a silent fresh start. */
static int check_head(struct dg_audit_log *log, off_t size, bool last_keyed, struct pending *pend)
{
	struct dg_audit_head head;
	char at[DG_SHA256_HEX_LEN + 1];
	bool keyed = false;
	int r;

	r = read_head_checked(log, &head, &keyed, false);
	if (log->last.seq == 0)
		return 0; /* an empty log: nothing the head could vouch for */
	if (r == -ENOENT) {
		snprintf(pend->head_problem, sizeof(pend->head_problem), "the head anchor %.200s is missing or empty "
			 "although the log holds records up to seq %llu: it was deleted", log->head_path,
			 (unsigned long long)log->last.seq);
		return 0;
	}
	if (r == -EINVAL) {
		snprintf(pend->head_problem, sizeof(pend->head_problem), "the head anchor %.200s is garbled (not a diagint "
			 "audit head)", log->head_path);
		return 0;
	}
	if (r == -EBADMSG || (log->keylen && !keyed && last_keyed)) {
		snprintf(pend->head_problem, sizeof(pend->head_problem), "the head anchor %.200s %s: it was rewritten "
			 "without the key", log->head_path, r == -EBADMSG ? "fails its HMAC" : "carries no HMAC although "
			 "the log is keyed");
		return 0;
	}
	if (head.seq > log->last.seq || (head.seq == log->last.seq && strcmp(head.sha256, log->last.sha256))) {
		pend->gap = true;
		pend->anchored = head;
		return 0;
	}
	if (head.seq == log->last.seq)
		return 0;
	if (head.seq == 0 && !strcmp(head.sha256, DG_AUDIT_ZERO_HASH) && log->last.seq <= 256)
		return 0; /* the head of the new log, not moved yet by the writer of its first record */
	/* Behind: normal for a moment (writers move it after their flush). It must still name a record of this log. */
	r = hash_of_seq(log, size, log->last.seq, head.seq, 256, at);
	if (r == -ESRCH)
		snprintf(pend->head_problem, sizeof(pend->head_problem), "the head anchor names seq %llu, more than 256 "
			 "records behind the log's last (seq %llu): it was rolled back, or writers died before moving it",
			 (unsigned long long)head.seq, (unsigned long long)log->last.seq);
	else if (r == 0 && strcmp(at, head.sha256))
		snprintf(pend->head_problem, sizeof(pend->head_problem), "the head anchor names seq %llu with sha256 "
			 "%.64s, but the log's record %llu hashes to %.64s: records were rewritten (or the head rolled back "
			 "to another log's)", (unsigned long long)head.seq, head.sha256, (unsigned long long)head.seq, at);
	return r == -ESRCH ? 0 : r;
}

static void advance_head(struct dg_audit_log *log, const struct dg_audit_head *h);

/* Learn the last record (seq and hash) from the file itself; cut off a torn last line; compare with the head. */
static int sync_tail(struct dg_audit_log *log, struct pending *pend, struct dg_error *err)
{
	bool last_keyed = false;
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

			/* Cutting is the one change made to what is there: only ever in a file proven to be ours. */
			r = is_audit_log(log, size, err);
			if (r < 0)
				return r;
			r = last_newline_end(log->fd, size, &cut);
			if (r < 0)
				return dg_error_set_errno(err, DG_FAILED, -r, "cannot read the audit log %s", log->path);
			/* A record is at most DG_AUDIT_LINE_MAX bytes: a longer unfinished line is no torn record of ours,
			 * and is not cut. */
			if (size - cut > DG_AUDIT_LINE_MAX)
				return dg_error_set(err, DG_FAILED, "the audit log %s ends with %lld bytes and no newline: not "
						    "a torn diagint record; nothing was changed: check it with 'diagint audit "
						    "verify' and move it aside", log->path, (long long)(size - cut));
			pend->torn = true;
			pend->torn_len = size - cut;
			pend->torn_at = cut;
			frag = malloc((size_t)(size - cut));
			if (!frag)
				return dg_error_set(err, DG_FAILED, "out of memory");
			r = read_at(log->fd, frag, (size_t)(size - cut), cut);
			if (r == 0) {
				dg_hash_buffer(frag, (size_t)(size - cut), pend->torn_sha256);
				sample_text(frag, (size_t)(size - cut), pend->torn_sample, sizeof(pend->torn_sample));
			}
			pend->torn_bytes = frag;
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
		last_keyed = dg_audit_line_hmac(line, len, NULL, 0, NULL, NULL);
		dg_hash_buffer(line, len, log->last.sha256);
		free(line);
	}

	r = check_head(log, size, last_keyed, pend);
	if (r < 0)
		return dg_error_set_errno(err, DG_FAILED, -r, "cannot read the audit log %s", log->path);
	/* A new log gets its head (seq 0) before its first record, under the log's lock: from then on an empty head
	 * means a deleted one, never a writer that has not got round to it yet. */
	if (size == 0)
		advance_head(log, &log->last);
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
		pend->torn_recorded = true;
	}
	if (pend->head_problem[0]) {
		dg_audit_event_init(&ev, "audit", "audit-gap");
		ev.result = DG_AUDIT_FAILED;
		snprintf(ev.reason, sizeof(ev.reason), "%s", pend->head_problem);
		snprintf(ev.evidence, sizeof(ev.evidence), "log's last seq %llu sha256 %s",
			 (unsigned long long)log->last.seq, log->last.sha256);
		snprintf(ev.error, sizeof(ev.error), "audit head anchor missing, garbled or not this log's");
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
	if (read_head_locked(log, &cur) < 0 || cur.seq < h->seq) {
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

/* Under the log's lock, before anything is appended: learn the end, write the writer's own notices (a cut torn
 * line, a gap, a head problem), and undo the cut when its notice could not be written. */
static int catch_up(struct dg_audit_log *log, struct pending *pend, struct dg_error *err)
{
	int r = sync_tail(log, pend, err);

	if (r == 0)
		r = write_notices(log, pend, err);
	if (r < 0)
		restore_torn(log, pend);
	pending_clear(pend);
	return r;
}

static int append(struct dg_audit_log *log, const struct dg_audit_event *ev, struct dg_audit_head *ret_head,
		  struct dg_error *err)
{
	struct pending pend = { 0 };
	struct dg_audit_head mine;
	int fd, r;

	r = lock_current(log, err);
	if (r < 0)
		return r;
	r = catch_up(log, &pend, err);
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

int dg_audit_append(struct dg_audit_log *log, const struct dg_audit_event *ev, struct dg_audit_head *ret_head,
		    struct dg_error *err)
{
	int r;

	pthread_mutex_lock(&log->lock);
	r = append(log, ev, ret_head, err);
	pthread_mutex_unlock(&log->lock);
	return r;
}

int dg_audit_append_outcome(struct dg_audit_log *log, const char *component, const char *action,
			    const struct dg_audit_outcome *o, struct dg_error *err)
{
	struct dg_audit_event ev;

	dg_audit_event_outcome(&ev, component, action, o);
	return dg_audit_append(log, &ev, NULL, err);
}

static int repair(struct dg_audit_log *log, int *ret_notices, struct dg_error *err)
{
	struct pending pend = { 0 };
	struct dg_audit_head mine;
	int r;

	r = lock_current(log, err);
	if (r < 0)
		return r;
	log->known = false; /* read the end afresh even if we wrote it */
	r = catch_up(log, &pend, err);
	mine = log->last;
	if (r == 0 && !(log->flags & DG_AUDIT_NO_FSYNC) && fdatasync(log->fd) < 0)
		r = dg_error_set_errno(err, DG_FAILED, errno, "cannot flush the audit log %s", log->path);
	flock(log->fd, LOCK_UN);
	if (r < 0)
		return r;
	if (pend.torn || pend.gap || pend.head_problem[0]) {
		advance_head(log, &mine);
		dg_audit_anchor_announce(&log->anchor, log->path, &mine, log->flags);
	}
	if (ret_notices)
		*ret_notices = (int)pend.torn + (int)pend.gap + (pend.head_problem[0] != 0);
	return 0;
}

int dg_audit_repair(struct dg_audit_log *log, int *ret_notices, struct dg_error *err)
{
	int r;

	pthread_mutex_lock(&log->lock);
	r = repair(log, ret_notices, err);
	pthread_mutex_unlock(&log->lock);
	return r;
}

int dg_audit_head_read(const char *log_path, struct dg_audit_head *ret, struct dg_error *err)
{
	char path[PATH_MAX + 8], buf[512];
	struct stat st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s" DG_AUDIT_HEAD_SUFFIX, log_path);
	fd = dg_audit_open_regular(path, &st);
	if (fd == -2)
		return dg_error_set(err, DG_FAILED, "the head anchor " DG_AUDIT_NOT_REGULAR, path);
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

static int rotate(struct dg_audit_log *log, char *ret_rotated, struct dg_error *err)
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
	r = catch_up(log, &pend, err);
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

int dg_audit_rotate(struct dg_audit_log *log, char *ret_rotated, struct dg_error *err)
{
	int r;

	pthread_mutex_lock(&log->lock);
	r = rotate(log, ret_rotated, err);
	pthread_mutex_unlock(&log->lock);
	return r;
}
