/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>

#include "diagint/error.h"
#include "diagint/hash.h"

/* The audit log: JSON Lines, one record per decision or action, from every path (CLI, PAM module, watcher,
 * collectd). Each record carries the SHA-256 of the previous record's line, so a changed, removed or reordered
 * record breaks the chain; with a key, each record also carries an HMAC so only key holders can extend it; the
 * head (last seq + hash) is kept beside the log (PATH.head) and announced to syslog and Linux audit, so that a
 * clean truncation is detectable too. Format: docs/audit.md. */

#define DG_AUDIT_DEFAULT_PATH "/var/log/diagint/audit.jsonl"
#define DG_AUDIT_ENV_PATH "DIAGINT_AUDIT_LOG"
#define DG_AUDIT_DEFAULT_KEY_PATH "/etc/diagint/audit.key"
#define DG_AUDIT_ENV_KEY "DIAGINT_AUDIT_KEY_FILE"
#define DG_AUDIT_HEAD_SUFFIX ".head"
#define DG_AUDIT_RECORD_VERSION 1
/* A line longer than this is not ours: the writer cuts every free-text field well below it. */
#define DG_AUDIT_LINE_MAX 16384

enum dg_audit_result {
	DG_AUDIT_OK,
	DG_AUDIT_FAILED,
	DG_AUDIT_DENIED,
	DG_AUDIT_SUPPRESSED, /* an automatic sender decided not to act (cooldown, storm brake) */
	DG_AUDIT_DRY_RUN,
};

/* Who. Empty strings and -1 mean "not known" and are written as null. */
struct dg_audit_actor {
	char user[64];       /* the person the decision is about (PAM_USER): SUDO_USER, the login uid's user, or us */
	long long uid;       /* real uid of the process that wrote the record */
	long long loginuid;  /* /proc/self/loginuid; -1 when unset */
	char ruser[64];      /* sudo user / PAM_RUSER */
	char tty[64];        /* PAM_TTY or the controlling terminal */
	char rhost[256];     /* PAM_RHOST, or the SSH client's address */
	char service[64];    /* PAM service, "" when no PAM transaction was involved */
	char component[32];  /* "cli", "pam", "watcher", "collectd", "hook", "audit" */
	long long pid;
};

struct dg_audit_event {
	struct timespec time; /* when it happened (UTC); dg_audit_event_init sets now */
	char host[256];
	struct dg_audit_actor actor;
	char action[32];      /* "authorize", "session", "inject", "capture", "send", "audit-repair", "rotate", ... */
	char target[512];     /* the shared target grammar: libvirt:DOMAIN, aws:REGION/ID, ... */
	char reason[512];     /* why: the user's --reason, the policy that decided, ... */
	char evidence[1024];  /* for automatic actions: what was seen ("no heartbeat for 120 s") */
	enum dg_audit_result result;
	char error[1024];     /* error text when result is failed or denied */
	char request_id[128]; /* provider request id */
	int attempts;         /* 0: not applicable */
	char dump_path[PATH_MAX];
	char dump_sha256[DG_SHA256_HEX_LEN + 1];
};

/* One written record, as verify and the writer see it. */
struct dg_audit_head {
	uint64_t seq;                         /* 0: empty log */
	char sha256[DG_SHA256_HEX_LEN + 1];   /* of the record's line without its newline; all zeros for seq 0 */
};

struct dg_audit_log;

enum dg_audit_flags {
	DG_AUDIT_NO_SYSLOG = 1 << 0,  /* do not announce the head to syslog */
	DG_AUDIT_NO_KAUDIT = 1 << 1,  /* do not announce the head to Linux audit */
	DG_AUDIT_NO_FSYNC = 1 << 2,   /* tests and benchmarks of the non-durable path only */
};

/* Which log: override (a --audit-log FILE), else $DIAGINT_AUDIT_LOG, else DG_AUDIT_DEFAULT_PATH. */
const char *dg_audit_path(const char *override);

/* Fill ev with now, this host, this process's actor (uid, login uid, tty, SSH client) and the action. */
void dg_audit_event_init(struct dg_audit_event *ev, const char *component, const char *action);

/* An automatic decision or its outcome (the watcher's, the collectd plugin's): the texts (NULL: empty) are cut to
 * their fields. */
struct dg_audit_outcome {
	const char *target, *reason, *evidence, *error, *request_id;
	enum dg_audit_result result;
	int attempts;
	const char *dump_path, *dump_sha256; /* NULL: no dump */
};
/* dg_audit_event_init, then the outcome's fields. */
void dg_audit_event_outcome(struct dg_audit_event *ev, const char *component, const char *action,
			    const struct dg_audit_outcome *o);
const char *dg_audit_result_name(enum dg_audit_result result);
/* "ok", "failed", "denied", "suppressed", "dry-run"; -1 when unknown. */
int dg_audit_result_parse(const char *name);
/* The result a status means: 0 ok, DG_DENIED denied, anything else failed. */
enum dg_audit_result dg_audit_result_from_status(int status);

/* The record as a json object (caller puts it), without seq, prev and hmac. Field names: docs/audit.md. */
json_object *dg_audit_event_to_json(const struct dg_audit_event *ev);

/* Load an HMAC key: the file's bytes (at least 16, at most 1024; a trailing newline is kept as is).
 * path NULL: $DIAGINT_AUDIT_KEY_FILE, else DG_AUDIT_DEFAULT_KEY_PATH when it exists; none: *ret_len = 0. */
int dg_audit_key_load(const char *path, unsigned char *key, size_t keymax, size_t *ret_len, struct dg_error *err);

/* Open (creating it and its directory, mode 0700/0600, when missing) the log at path. key may be NULL. One
 * dg_audit_log may be shared by the threads of a process (append, repair and rotate take its mutex); other
 * processes are kept apart by the file lock. */
int dg_audit_log_open(const char *path, const unsigned char *key, size_t keylen, unsigned flags,
		      struct dg_audit_log **ret, struct dg_error *err);
void dg_audit_log_free(struct dg_audit_log *log);
const char *dg_audit_log_path(const struct dg_audit_log *log);

/* Append one record durably: exclusive lock, seq and prev from the last record, O_APPEND write, lock released,
 * fdatasync (concurrent writers share one flush), then the head is moved forward and announced. A torn last
 * line (a writer died mid-append) is cut off first and a record says so; a log shorter than its head gets a
 * record saying records were lost. ret_head (may be NULL) receives the new record's seq and hash. */
int dg_audit_append(struct dg_audit_log *log, const struct dg_audit_event *ev, struct dg_audit_head *ret_head,
		    struct dg_error *err);
/* dg_audit_event_outcome, then dg_audit_append: an automatic decision's record in one call. */
int dg_audit_append_outcome(struct dg_audit_log *log, const char *component, const char *action,
			    const struct dg_audit_outcome *o, struct dg_error *err);

/* What append does first, alone: cut a torn last line and record it, record lost records. *ret_notices (may
 * be NULL) gets how many notice records were written (0: the log was sound). */
int dg_audit_repair(struct dg_audit_log *log, int *ret_notices, struct dg_error *err);

/* Rename the live log to PATH.YYYYmmddTHHMMSSZ (-N when taken) and start a new one whose first record
 * ("rotate") chains to the old file's last record. ret_rotated (may be NULL, PATH_MAX) gets the old file's
 * new name. */
int dg_audit_rotate(struct dg_audit_log *log, char *ret_rotated, struct dg_error *err);

/* Read PATH.head: DG_NOTFOUND when there is none. */
int dg_audit_head_read(const char *log_path, struct dg_audit_head *ret, struct dg_error *err);

/* The record fields every reader (verify, query) relies on, read from our own canonical line layout
 * {"v":1,"seq":N,"prev":"HEX",...}. Returns false when the line does not start that way. */
bool dg_audit_line_header(const char *line, size_t len, uint64_t *ret_seq, char ret_prev[DG_SHA256_HEX_LEN + 1]);
