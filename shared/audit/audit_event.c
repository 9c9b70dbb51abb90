/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One audit record: who, what, when, where, outcome; and its canonical line. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit-internal.h"
#include "diagint/audit.h"

const char *dg_audit_path(const char *override)
{
	const char *env;

	if (override && *override)
		return override;
	env = getenv(DG_AUDIT_ENV_PATH);
	if (env && *env)
		return env;
	return DG_AUDIT_DEFAULT_PATH;
}

static const char *const result_names[] = {
	[DG_AUDIT_OK] = "ok",
	[DG_AUDIT_FAILED] = "failed",
	[DG_AUDIT_DENIED] = "denied",
	[DG_AUDIT_SUPPRESSED] = "suppressed",
	[DG_AUDIT_DRY_RUN] = "dry-run",
};

const char *dg_audit_result_name(enum dg_audit_result result)
{
	if ((unsigned)result >= sizeof(result_names) / sizeof(result_names[0]))
		return "failed";
	return result_names[result];
}

int dg_audit_result_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(result_names) / sizeof(result_names[0]); i++)
		if (name && !strcmp(name, result_names[i]))
			return (int)i;
	return -1;
}

enum dg_audit_result dg_audit_result_from_status(int status)
{
	if (status < 0)
		status = -status;
	if (status == DG_OK)
		return DG_AUDIT_OK;
	return status == DG_DENIED ? DG_AUDIT_DENIED : DG_AUDIT_FAILED;
}

static long long read_loginuid(void)
{
	char buf[32] = "";
	long long v;
	ssize_t n;
	int fd;

	fd = open("/proc/self/loginuid", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	v = strtoll(buf, NULL, 10);
	/* (uid_t)-1 is the kernel's "never logged in" (daemons, containers). */
	return v < 0 || v == 4294967295LL ? -1 : v;
}

void dg_audit_event_init(struct dg_audit_event *ev, const char *component, const char *action)
{
	const char *ssh;
	char *tty;

	memset(ev, 0, sizeof(*ev));
	clock_gettime(CLOCK_REALTIME, &ev->time);
	if (gethostname(ev->host, sizeof(ev->host) - 1) < 0)
		ev->host[0] = '\0';
	ev->actor.uid = (long long)getuid();
	ev->actor.loginuid = read_loginuid();
	ev->actor.pid = (long long)getpid();
	tty = ttyname(STDIN_FILENO);
	if (tty)
		snprintf(ev->actor.tty, sizeof(ev->actor.tty), "%s", tty);
	/* "CLIENT_IP CLIENT_PORT SERVER_IP SERVER_PORT": the remote end is the first word. */
	ssh = getenv("SSH_CONNECTION");
	if (ssh && *ssh)
		snprintf(ev->actor.rhost, sizeof(ev->actor.rhost), "%.*s", (int)strcspn(ssh, " "), ssh);
	snprintf(ev->actor.component, sizeof(ev->actor.component), "%s", component ? component : "");
	snprintf(ev->action, sizeof(ev->action), "%s", action ? action : "");
	ev->result = DG_AUDIT_OK;
}

void dg_audit_event_outcome(struct dg_audit_event *ev, const char *component, const char *action,
			    const struct dg_audit_outcome *o)
{
	dg_audit_event_init(ev, component, action);
	snprintf(ev->target, sizeof(ev->target), "%s", o->target ? o->target : "");
	snprintf(ev->reason, sizeof(ev->reason), "%s", o->reason ? o->reason : "");
	snprintf(ev->evidence, sizeof(ev->evidence), "%s", o->evidence ? o->evidence : "");
	snprintf(ev->error, sizeof(ev->error), "%s", o->error ? o->error : "");
	snprintf(ev->request_id, sizeof(ev->request_id), "%s", o->request_id ? o->request_id : "");
	snprintf(ev->dump_path, sizeof(ev->dump_path), "%s", o->dump_path ? o->dump_path : "");
	snprintf(ev->dump_sha256, sizeof(ev->dump_sha256), "%s", o->dump_sha256 && o->dump_path ? o->dump_sha256 : "");
	ev->result = o->result;
	ev->attempts = o->attempts;
}

void dg_audit_format_time(const struct timespec *ts, char *buf, size_t len)
{
	struct tm tm;
	char base[32];

	gmtime_r(&ts->tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%09ldZ", base, ts->tv_nsec);
}

/* Length of the valid UTF-8 sequence at s (1..4), 0 when it is not one. Records must stay valid JSON text for
 * every reader, and free text (reasons, errors, PAM items) may come from anywhere. */
static size_t utf8_seq(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))
			return 0; /* overlong, surrogates */
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

static json_object *text(const char *s)
{
	char clean[2048];
	size_t i = 0, o = 0;

	if (!s || !*s)
		return NULL;
	while (s[i] && o < sizeof(clean) - 4) {
		size_t n = utf8_seq((const unsigned char *)s + i);
		if (n == 0) {
			clean[o++] = '?';
			i++;
			continue;
		}
		memcpy(clean + o, s + i, n);
		o += n;
		i += n;
	}
	clean[o] = '\0';
	return json_object_new_string(clean);
}

static json_object *number(long long v)
{
	return v < 0 ? NULL : json_object_new_int64(v);
}

/* Field order is part of the format: readers find "time", "target" and "status" without a full parse. */
static void add_event(json_object *o, const struct dg_audit_event *ev)
{
	json_object *actor = json_object_new_object(), *result = json_object_new_object(), *dump = NULL;
	char when[64];

	dg_audit_format_time(&ev->time, when, sizeof(when));
	json_object_object_add(o, "time", json_object_new_string(when));
	json_object_object_add(o, "host", text(ev->host));

	json_object_object_add(actor, "user", text(ev->actor.user));
	json_object_object_add(actor, "uid", number(ev->actor.uid));
	json_object_object_add(actor, "loginuid", number(ev->actor.loginuid));
	json_object_object_add(actor, "ruser", text(ev->actor.ruser));
	json_object_object_add(actor, "tty", text(ev->actor.tty));
	json_object_object_add(actor, "rhost", text(ev->actor.rhost));
	json_object_object_add(actor, "service", text(ev->actor.service));
	json_object_object_add(actor, "component", text(ev->actor.component));
	json_object_object_add(actor, "pid", number(ev->actor.pid));
	json_object_object_add(o, "actor", actor);

	json_object_object_add(o, "action", text(ev->action));
	json_object_object_add(o, "target", text(ev->target));
	json_object_object_add(o, "reason", text(ev->reason));
	json_object_object_add(o, "evidence", text(ev->evidence));

	json_object_object_add(result, "status", json_object_new_string(dg_audit_result_name(ev->result)));
	json_object_object_add(result, "error", text(ev->error));
	json_object_object_add(result, "request_id", text(ev->request_id));
	json_object_object_add(result, "attempts", ev->attempts > 0 ? json_object_new_int(ev->attempts) : NULL);
	json_object_object_add(o, "result", result);

	if (ev->dump_path[0] || ev->dump_sha256[0]) {
		dump = json_object_new_object();
		json_object_object_add(dump, "path", text(ev->dump_path));
		json_object_object_add(dump, "sha256", text(ev->dump_sha256));
	}
	json_object_object_add(o, "dump", dump);
}

json_object *dg_audit_event_to_json(const struct dg_audit_event *ev)
{
	json_object *o = json_object_new_object();

	add_event(o, ev);
	return o;
}

#define LINE_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

char *dg_audit_render(const struct dg_audit_event *ev, uint64_t seq, const char *prev, const unsigned char *key,
		      size_t keylen, size_t *ret_len)
{
	json_object *o = json_object_new_object();
	const char *s;
	char *line = NULL;
	size_t len;

	if (!o)
		return NULL;
	json_object_object_add(o, "v", json_object_new_int(DG_AUDIT_RECORD_VERSION));
	json_object_object_add(o, "seq", json_object_new_int64((int64_t)seq));
	json_object_object_add(o, "prev", json_object_new_string(prev));
	add_event(o, ev);
	if (keylen > 0) {
		char mac[DG_SHA256_HEX_LEN + 1];

		/* The MAC covers the record as it reads without its hmac member; json-c keeps insertion order, so
		 * adding the member last only appends it. */
		s = json_object_to_json_string_ext(o, LINE_FLAGS);
		dg_audit_hmac(key, keylen, s, strlen(s), mac);
		json_object_object_add(o, "hmac", json_object_new_string(mac));
	}
	s = json_object_to_json_string_ext(o, LINE_FLAGS);
	if (s) {
		len = strlen(s);
		line = malloc(len + 2);
		if (line) {
			memcpy(line, s, len + 1);
			*ret_len = len;
		}
	}
	json_object_put(o);
	return line;
}

static bool is_hex64(const char *s)
{
	for (int i = 0; i < DG_SHA256_HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* verify and query read a million lines: they check our fixed opening instead of parsing each record, and the
 * hash chain makes any other change to a line visible. */
bool dg_audit_line_header(const char *line, size_t len, uint64_t *ret_seq, char ret_prev[DG_SHA256_HEX_LEN + 1])
{
	static const char open[] = "{\"v\":1,\"seq\":";
	static const char mid[] = ",\"prev\":\"";
	uint64_t seq = 0;
	size_t i = sizeof(open) - 1, digits = 0;

	if (len < sizeof(open) - 1 || memcmp(line, open, sizeof(open) - 1))
		return false;
	while (i < len && line[i] >= '0' && line[i] <= '9' && digits < 19) {
		seq = seq * 10 + (uint64_t)(line[i] - '0');
		i++;
		digits++;
	}
	if (digits == 0 || (digits > 1 && line[i - digits] == '0'))
		return false;
	if (len - i < sizeof(mid) - 1 + DG_SHA256_HEX_LEN + 1 || memcmp(line + i, mid, sizeof(mid) - 1))
		return false;
	i += sizeof(mid) - 1;
	if (!is_hex64(line + i) || line[i + DG_SHA256_HEX_LEN] != '"')
		return false;
	*ret_seq = seq;
	if (ret_prev) {
		memcpy(ret_prev, line + i, DG_SHA256_HEX_LEN);
		ret_prev[DG_SHA256_HEX_LEN] = '\0';
	}
	return true;
}
