/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One record: its canonical line (golden), the fixed opening readers rely on, text that is not UTF-8, result
 * names, the HMAC member, the key file rules, the head file. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit-internal.h"
#include "diagint/audit.h"
#include "tap.h"

static char scratch[] = "/tmp/dg-test-audit-event-XXXXXX";

/* Every field, as docs/audit.md shows it: a change to this line is a change to the file format. */
#define GOLDEN                                                                                                 \
	"{\"v\":1,\"seq\":42,\"prev\":\"" DG_AUDIT_ZERO_HASH "\",\"time\":\"2026-11-22T10:00:00.000000123Z\","    \
	"\"host\":\"kvm7\",\"actor\":{\"user\":\"alice\",\"uid\":0,\"loginuid\":1000,\"ruser\":\"alice\","         \
	"\"tty\":\"/dev/pts/3\",\"rhost\":\"192.0.2.7\",\"service\":\"diagint\",\"component\":\"cli\","            \
	"\"pid\":4242},\"action\":\"inject\",\"target\":\"libvirt:web-1\",\"reason\":\"hung: \\\"no login\\\"\","  \
	"\"evidence\":null,\"result\":{\"status\":\"ok\",\"error\":null,\"request_id\":null,\"attempts\":1},"       \
	"\"dump\":{\"path\":\"/var/lib/diagint/dumps/web-1-20261122-100000.gcore\",\"sha256\":\"abc\"}}"

static void golden_event(struct dg_audit_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->time.tv_sec = 1795341600; /* 2026-11-22T10:00:00Z */
	ev->time.tv_nsec = 123;
	strcpy(ev->host, "kvm7");
	strcpy(ev->actor.user, "alice");
	ev->actor.uid = 0;
	ev->actor.loginuid = 1000;
	strcpy(ev->actor.ruser, "alice");
	strcpy(ev->actor.tty, "/dev/pts/3");
	strcpy(ev->actor.rhost, "192.0.2.7");
	strcpy(ev->actor.service, "diagint");
	strcpy(ev->actor.component, "cli");
	ev->actor.pid = 4242;
	strcpy(ev->action, "inject");
	strcpy(ev->target, "libvirt:web-1");
	strcpy(ev->reason, "hung: \"no login\"");
	ev->result = DG_AUDIT_OK;
	ev->attempts = 1;
	strcpy(ev->dump_path, "/var/lib/diagint/dumps/web-1-20261122-100000.gcore");
	strcpy(ev->dump_sha256, "abc");
}

static void test_golden(void)
{
	struct dg_audit_event ev;
	char prev[DG_SHA256_HEX_LEN + 1];
	uint64_t seq = 0;
	size_t len = 0;
	char *line;

	golden_event(&ev);
	line = dg_audit_render(&ev, 42, DG_AUDIT_ZERO_HASH, NULL, 0, &len);
	CHECK_STR(line, GOLDEN, "the canonical line of a full record");
	CHECK(line && len == strlen(GOLDEN), "its length is returned");
	CHECK(line && dg_audit_line_header(line, len, &seq, prev) && seq == 42 && !strcmp(prev, DG_AUDIT_ZERO_HASH),
	      "the fixed opening gives seq and prev without a parse");
	CHECK(!dg_audit_line_header("{\"seq\":1}", 9, &seq, prev), "another opening is refused");
	CHECK(!dg_audit_line_header("{\"v\":1,\"seq\":01,\"prev\":\"", 24, &seq, prev), "a leading zero is refused");
	free(line);
}

static void test_text_sanitised(void)
{
	struct dg_audit_event ev;
	json_object *o, *v;
	size_t len = 0;
	char *line;

	dg_audit_event_init(&ev, "test", "send");
	CHECK(ev.actor.uid == (long long)getuid() && ev.actor.pid == (long long)getpid() && ev.host[0],
	      "init fills uid, pid and host");
	strcpy(ev.reason, "bad \xff\xfe utf-8, ok \xc3\xa9, newline\nand tab\t");
	line = dg_audit_render(&ev, 1, DG_AUDIT_ZERO_HASH, NULL, 0, &len);
	o = line ? json_tokener_parse(line) : NULL;
	CHECK(o != NULL, "a record with invalid UTF-8 in a field still parses");
	CHECK(o && json_object_object_get_ex(o, "reason", &v) &&
	      !strcmp(json_object_get_string(v), "bad ?? utf-8, ok \xc3\xa9, newline\nand tab\t"),
	      "invalid bytes become '?', valid UTF-8 and escapes survive");
	CHECK(line && !strchr(line, '\n'), "the line holds no raw newline");
	json_object_put(o);
	free(line);
}

static void test_outcome(void)
{
	char long_reason[2000];
	struct dg_audit_event ev;

	memset(long_reason, 'r', sizeof(long_reason) - 1);
	long_reason[sizeof(long_reason) - 1] = '\0';
	dg_audit_event_outcome(&ev, "watcher", "inject", &(struct dg_audit_outcome){
		.target = "libvirt:web-1", .reason = long_reason, .evidence = "heartbeat probe: no line",
		.result = DG_AUDIT_FAILED, .error = "no panic", .attempts = 2, .dump_path = "/var/crash/x.gcore",
		.dump_sha256 = "ab" });
	CHECK(!strcmp(ev.actor.component, "watcher") && !strcmp(ev.action, "inject") && ev.host[0],
	      "outcome: initialized like dg_audit_event_init");
	CHECK(!strcmp(ev.target, "libvirt:web-1") && !strcmp(ev.evidence, "heartbeat probe: no line") &&
	      !strcmp(ev.error, "no panic") && ev.result == DG_AUDIT_FAILED && ev.attempts == 2 &&
	      !strcmp(ev.dump_path, "/var/crash/x.gcore") && !strcmp(ev.dump_sha256, "ab") && !ev.request_id[0],
	      "outcome: every field copied, NULL ones empty");
	CHECK(strlen(ev.reason) == sizeof(ev.reason) - 1, "outcome: a long text is cut to its field");
	dg_audit_event_outcome(&ev, "collectd", "send", &(struct dg_audit_outcome){ .dump_sha256 = "ab" });
	CHECK(!ev.target[0] && !ev.dump_path[0] && !ev.dump_sha256[0], "outcome: no dump, no hash");
}

static void test_results(void)
{
	CHECK_STR(dg_audit_result_name(DG_AUDIT_DRY_RUN), "dry-run", "dry-run");
	CHECK(dg_audit_result_parse("denied") == DG_AUDIT_DENIED, "parse denied");
	CHECK(dg_audit_result_parse("maybe") == -1, "unknown result is -1");
	CHECK(dg_audit_result_from_status(0) == DG_AUDIT_OK && dg_audit_result_from_status(-DG_DENIED) ==
	      DG_AUDIT_DENIED && dg_audit_result_from_status(DG_UNAVAILABLE) == DG_AUDIT_FAILED, "status to result");
}

static void test_hmac_member(void)
{
	static const unsigned char key[] = "a sixteen+ byte key";
	struct dg_audit_event ev;
	char mac[DG_SHA256_HEX_LEN + 1];
	const char *claimed = NULL;
	size_t len = 0;
	char *line;

	golden_event(&ev);
	line = dg_audit_render(&ev, 42, DG_AUDIT_ZERO_HASH, key, sizeof(key) - 1, &len);
	CHECK(line && !strncmp(line, GOLDEN, strlen(GOLDEN) - 1), "a keyed line is the plain one plus a last member");
	CHECK(line && dg_audit_line_hmac(line, len, key, sizeof(key) - 1, mac, &claimed) &&
	      !memcmp(mac, claimed, DG_SHA256_HEX_LEN), "its HMAC is over the plain line");
	dg_audit_hmac(key, sizeof(key) - 1, GOLDEN, strlen(GOLDEN), mac);
	CHECK(claimed && !memcmp(mac, claimed, DG_SHA256_HEX_LEN), "HMAC-SHA256(key, plain line), exactly");
	CHECK(!dg_audit_line_hmac(GOLDEN, strlen(GOLDEN), key, sizeof(key) - 1, mac, NULL), "a plain line has none");
	free(line);
}

static int write_file(const char *path, const char *data, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, data, strlen(data));
	fchmod(fd, mode);
	close(fd);
	return n == (ssize_t)strlen(data) ? 0 : -1;
}

static void test_key_file(void)
{
	unsigned char key[1024];
	struct dg_error err = { 0 };
	char path[256];
	size_t len = 99;

	snprintf(path, sizeof(path), "%s/key", scratch);
	write_file(path, "0123456789abcdef-key", 0600);
	CHECK(dg_audit_key_load(path, key, sizeof(key), &len, &err) == 0 && len == 20, "a 20-byte key loads");
	chmod(path, 0644);
	CHECK(dg_audit_key_load(path, key, sizeof(key), &len, &err) == -DG_USAGE && strstr(err.message, "chmod 600"),
	      "a key others can read is refused: %s", err.message);
	write_file(path, "short", 0600);
	CHECK(dg_audit_key_load(path, key, sizeof(key), &len, &err) == -DG_USAGE && strstr(err.message, "urandom"),
	      "a short key is refused, and the message says how to make one");
	snprintf(path, sizeof(path), "%s/none", scratch);
	CHECK(dg_audit_key_load(path, key, sizeof(key), &len, &err) == -DG_USAGE, "a named missing key is an error");
	setenv(DG_AUDIT_ENV_KEY, "", 1);
	len = 99;
	CHECK(access(DG_AUDIT_DEFAULT_KEY_PATH, F_OK) == 0 ||
	      (dg_audit_key_load(NULL, key, sizeof(key), &len, &err) == 0 && len == 0),
	      "no key configured: an unkeyed log");
}

static void test_head(void)
{
	static const unsigned char key[] = "0123456789abcdef";
	struct dg_audit_head h = { .seq = 7 }, back;
	struct dg_error err = { 0 };
	bool keyed = false;
	size_t len = 0;
	char *body;

	memset(h.sha256, 'a', DG_SHA256_HEX_LEN);
	h.sha256[DG_SHA256_HEX_LEN] = '\0';
	body = dg_audit_head_render(&h, key, 16, &len);
	CHECK(body && body[len - 1] == '\n', "the head is one line");
	CHECK(body && dg_audit_head_parse(body, len, key, 16, &back, &keyed, &err) == 0 && back.seq == 7 && keyed &&
	      !strcmp(back.sha256, h.sha256), "it reads back with its key");
	CHECK(body && dg_audit_head_parse(body, len, (const unsigned char *)"fedcba9876543210", 16, &back, NULL,
					  &err) == -DG_FAILED, "another key is refused");
	CHECK(dg_audit_head_parse("{\"seq\":\"x\"}", 11, NULL, 0, &back, NULL, &err) < 0, "garbage is refused");
	free(body);
}

int main(void)
{
	test_outcome();
	if (!mkdtemp(scratch))
		SKIP_ALL("cannot create a scratch directory in /tmp: %s", strerror(errno));
	setenv("TZ", "UTC", 1);
	test_golden();
	test_text_sanitised();
	test_results();
	test_hmac_member();
	test_key_file();
	test_head();
	{
		char cmd[512];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", scratch);
		(void)!system(cmd);
	}
	return tap_done();
}
