/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `diagint audit`: review the audit log (list, show, report, export) and check it (verify); repair, rotate. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "diagint/audit.h"
#include "diagint/audit_query.h"
#include "diagint/audit_verify.h"

#define CMD "audit"
#define MAX_FILES 64

void dg_cmd_audit_help(void)
{
	printf("Usage: diagint audit list   [FILTERS] [--json]\n"
	       "       diagint audit show   SEQ [--json]\n"
	       "       diagint audit report [FILTERS] [--json]\n"
	       "       diagint audit export [FILTERS]\n"
	       "       diagint audit verify [--key-file FILE] [--anchors LOG] [--no-head] [--json] [FILE...]\n"
	       "       diagint audit repair | rotate [--key-file FILE] [--json]\n\n"
	       "The audit log records every decision and action: who asked (user, uid, login uid, sudo user, tty,\n"
	       "remote host, PAM service), what (action, target, reason, evidence), when (UTC, nanoseconds),\n"
	       "where (host) and the outcome (ok, failed, denied, suppressed, dry-run; error, provider request\n"
	       "id, attempts; dump path and SHA-256). Each record holds the SHA-256 of the one before, so a\n"
	       "changed, removed or reordered record shows; the head is kept in FILE.head and announced to syslog\n"
	       "and Linux audit, so records cut from the end show too. See diagint-audit(1).\n\n"
	       "Subcommands:\n"
	       "  list      matching records, one line each (oldest first)\n"
	       "  show      one record, whole\n"
	       "  report    counts by user, target, provider, action, result and day (UTC), like aureport\n"
	       "  export    matching records as JSON Lines, as written, for a SIEM\n"
	       "  verify    check the chain, HMACs (with the key), the head and the announcements; on failure\n"
	       "            the first bad record is named with the reason, and the status is 1\n"
	       "  repair    cut a torn last line (a writer died mid-append) and record that; appends do it too\n"
	       "  rotate    start a new file whose first record chains to the old one (kept as FILE.TIMESTAMP)\n\n"
	       "Filters:\n"
	       "  --since TIME, --until TIME   systemd.time(7)'s forms, as 'diagint dumps list': 2026-11-22,\n"
	       "                               '2026-11-22 10:00' (local), 2026-11-22T10:00:00Z (UTC), @EPOCH,\n"
	       "                               now, today, yesterday, tomorrow, -2h, -30m, -7d, -2h30min,\n"
	       "                               '7d ago'; 7d alone is 7d ago; --until is exclusive\n"
	       "  --user NAME      the person (PAM user or sudo user)\n"
	       "  --target GLOB    e.g. 'libvirt:web-*', 'aws:*'\n"
	       "  --result R       ok, failed, denied, suppressed, dry-run\n"
	       "  --action A       authorize, session, inject, capture, send, ...\n\n"
	       "Options:\n"
	       "  --audit-log FILE the log (every diagint command takes it; default $%s, else %s)\n"
	       "  --key-file FILE  the HMAC key (default $%s, else %s when it exists)\n"
	       "  --anchors LOG    (verify) a copy of syslog or auditd's log: every head announced there must\n"
	       "                   match, and none may lie beyond the end of the file\n"
	       "  --no-head        (verify) do not check FILE.head (for rotated files given alone)\n"
	       "  -j, --json       machine-readable output (list: a JSON array of records)\n"
	       "  -h, --help       this help\n\n"
	       "Examples:\n"
	       "  diagint audit list --since -1d --result denied\n"
	       "  diagint audit list --user alice --target 'libvirt:web-*' --json | jq '.[].dump.sha256'\n"
	       "  diagint audit report --since 2026-11-01\n"
	       "  diagint audit verify --anchors /var/log/audit/audit.log\n"
	       "  diagint audit verify /var/log/diagint/audit.jsonl.20261101T000000Z /var/log/diagint/audit.jsonl\n\n",
	       DG_AUDIT_ENV_PATH, DG_AUDIT_DEFAULT_PATH, DG_AUDIT_ENV_KEY, DG_AUDIT_DEFAULT_KEY_PATH);
	dg_cli_print_exit_statuses();
}

/* The log to read: on a fresh host, before any record, the audit log does not exist; a listing of it is then
 * empty (an empty file reads as no records), and a note on stderr says why. */
static const char *readable_log(void)
{
	const char *path = dg_audit_path(NULL);

	if (access(path, F_OK) < 0 && errno == ENOENT) {
		fprintf(stderr, "%s: no audit log at %s yet: nothing recorded\n", dg_cli_prog, path);
		return "/dev/null";
	}
	return path;
}

/* What the command line asks for. */
struct opts {
	struct dg_audit_filter f;
	char since[64], until[64];
	const char *key_file;
	const char *anchors;
	bool no_head;
	bool json;
	bool help;
	char **args; /* the operands after the options */
	int nargs;
};

enum { OPT_SINCE = 256, OPT_UNTIL, OPT_USER, OPT_TARGET, OPT_RESULT, OPT_ACTION, OPT_KEY, OPT_ANCHORS, OPT_NOHEAD };

/* The options of subcommand sub into *o; prints nothing but usage errors. Returns 0 or the status to exit with. */
static int parse_args(int argc, char **argv, const char *sub, struct opts *o)
{
	static const struct option longopts[] = {
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "until", required_argument, NULL, OPT_UNTIL },
		{ "user", required_argument, NULL, OPT_USER },
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "result", required_argument, NULL, OPT_RESULT },
		{ "action", required_argument, NULL, OPT_ACTION },
		{ "key-file", required_argument, NULL, OPT_KEY },
		{ "anchors", required_argument, NULL, OPT_ANCHORS },
		{ "no-head", no_argument, NULL, OPT_NOHEAD },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct dg_error err = { 0 };
	time_t now = time(NULL);
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SINCE:
		case OPT_UNTIL:
			if (dg_audit_parse_time(optarg, now, c == OPT_SINCE ? o->since : o->until, sizeof(o->since),
						&err) < 0)
				return dg_cli_usage_error(CMD, "--%s: %s", c == OPT_SINCE ? "since" : "until", err.message);
			if (c == OPT_SINCE)
				o->f.since = o->since;
			else
				o->f.until = o->until;
			break;
		case OPT_USER:
			o->f.user = optarg;
			break;
		case OPT_TARGET:
			o->f.target = optarg;
			break;
		case OPT_RESULT:
			if (dg_audit_result_parse(optarg) < 0)
				return dg_cli_usage_error(CMD, "unknown --result '%s': use ok, failed, denied, suppressed or "
							  "dry-run", optarg);
			o->f.result = optarg;
			break;
		case OPT_ACTION:
			o->f.action = optarg;
			break;
		case OPT_KEY:
			dg_cli_override("key-file", optarg);
			o->key_file = optarg;
			break;
		case OPT_ANCHORS:
			dg_cli_override("anchors", optarg);
			o->anchors = optarg;
			break;
		case OPT_NOHEAD:
			o->no_head = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			o->help = true; /* whatever follows */
			return 0;
		default:
			if (optopt)
				return dg_cli_usage_error(CMD, "option -%c is unknown or needs a value", optopt);
			return dg_cli_usage_error(CMD, "option '%s' is unknown or needs a value for '%s'", argv[optind - 1],
						  sub);
		}
	}
	o->args = argv + optind;
	o->nargs = argc - optind;
	/* Files named on the command line would be read as root: under sudo only root's log is read. */
	if (!strcmp(sub, "verify"))
		for (int i = 0; i < o->nargs; i++)
			dg_cli_override("file", o->args[i]);
	return 0;
}

/* "2026-11-22T10:00:00.123456789Z" shown in the reader's local time, to the second. */
static void local_time(const char *utc, char *out, size_t len)
{
	struct tm tm = { 0 };
	time_t t;

	if (!utc || !strptime(utc, "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(out, len, "%s", utc ? utc : "-");
		return;
	}
	t = timegm(&tm);
	localtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

struct list_state {
	bool json;
	long long n;
};

static int list_one(void *ud, const char *line, size_t len, json_object *rec)
{
	struct list_state *st = ud;
	const char *detail;
	json_object *seq;
	char when[32];

	if (st->json) {
		/* Each record is already JSON as json-c wrote it: the array is those lines, comma-separated. */
		fputs(st->n ? ",\n" : "[\n", stdout);
		fwrite(line, 1, len, stdout);
	} else {
		if (st->n == 0)
			printf("%-7s %-19s %-10s %-10s %-24s %-9s %s\n", "SEQ", "TIME", "USER", "ACTION", "TARGET",
			       "RESULT", "DETAIL");
		local_time(dg_audit_rec_str(rec, "time"), when, sizeof(when));
		detail = dg_audit_rec_str(rec, "result.error");
		if (!detail)
			detail = dg_audit_rec_str(rec, "dump.path");
		if (!detail)
			detail = dg_audit_rec_str(rec, "reason");
		json_object_object_get_ex(rec, "seq", &seq);
		/* Every field may hold what an operator typed (--reason) or a guest named: nothing reaches the
		 * reviewer's terminal as a control character. */
		char user[128], action[128], target[512], status[64], det[512];
		printf("%-7lld %-19s %-10s %-10s %-24s %-9s %.100s\n", (long long)json_object_get_int64(seq), when,
		       or_dash(dg_cli_termsafe(dg_audit_rec_str(rec, "actor.user") ? dg_audit_rec_str(rec, "actor.user")
										  : dg_audit_rec_str(rec, "actor.component"),
					       user, sizeof(user))),
		       or_dash(dg_cli_termsafe(dg_audit_rec_str(rec, "action"), action, sizeof(action))),
		       or_dash(dg_cli_termsafe(dg_audit_rec_str(rec, "target"), target, sizeof(target))),
		       or_dash(dg_cli_termsafe(dg_audit_rec_str(rec, "result.status"), status, sizeof(status))),
		       or_dash(dg_cli_termsafe(detail, det, sizeof(det))));
	}
	st->n++;
	return 0;
}

static int export_one(void *ud, const char *line, size_t len, json_object *rec)
{
	(void)ud;
	(void)rec;
	fwrite(line, 1, len, stdout);
	fputc('\n', stdout);
	return 0;
}

static int list_or_export(const struct opts *o, bool export)
{
	struct list_state st = { 0 };
	struct dg_error err = { 0 };
	const char *path;
	long long n;

	if (o->nargs)
		return dg_cli_usage_error(CMD, "unexpected '%s' (filters are options: --user, --target, ...)",
					  o->args[0]);
	st.json = o->json;
	path = readable_log();
	n = dg_audit_query(path, &o->f, export ? export_one : list_one, &st, &err);
	if (n < 0)
		return dg_cli_fail(&err);
	if (!export && o->json)
		puts(st.n ? "\n]" : "[]");
	else if (!export && n == 0 && path == dg_audit_path(NULL))
		fprintf(stderr, "%s: no matching records in %s\n", dg_cli_prog, dg_audit_path(NULL));
	return 0;
}

static int cmd_list(struct opts *o)
{
	return list_or_export(o, false);
}

static int cmd_export(struct opts *o)
{
	return list_or_export(o, true);
}

static int show_one(void *ud, const char *line, size_t len, json_object *rec)
{
	bool json = *(bool *)ud;

	if (json) {
		fwrite(line, 1, len, stdout);
		fputc('\n', stdout);
	} else {
		puts(json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	}
	return 1;
}

static int cmd_show(struct opts *o)
{
	struct dg_error err = { 0 };
	char *end;
	long long n;

	if (o->nargs != 1)
		return dg_cli_usage_error(CMD, "show takes one SEQ (a record number from 'diagint audit list')");
	o->f.seq = strtoull(o->args[0], &end, 10);
	if (*end || o->f.seq == 0 || o->args[0][0] == '-')
		return dg_cli_usage_error(CMD, "bad SEQ '%s': give a record number, e.g. 'diagint audit show 42'",
					  o->args[0]);
	n = dg_audit_query(dg_audit_path(NULL), &o->f, show_one, &o->json, &err);
	if (n < 0)
		return dg_cli_fail(&err);
	if (n == 0) {
		dg_error_set(&err, DG_NOTFOUND, "no record %s in %s", o->args[0], dg_audit_path(NULL));
		return dg_cli_fail(&err);
	}
	return 0;
}

static void print_counts(json_object *report, const char *key, const char *title)
{
	json_object *map;

	if (!json_object_object_get_ex(report, key, &map) || json_object_object_length(map) == 0)
		return;
	printf("\n%s:\n", title);
	json_object_object_foreach(map, name, count) {
		char safe[512];

		printf("  %8lld  %s\n", (long long)json_object_get_int64(count), dg_cli_termsafe(name, safe, sizeof(safe)));
	}
}

static int cmd_report(struct opts *o)
{
	struct dg_error err = { 0 };
	json_object *rep = NULL, *n;
	int r;

	if (o->nargs)
		return dg_cli_usage_error(CMD, "unexpected '%s'", o->args[0]);
	r = dg_audit_report(readable_log(), &o->f, &rep, &err);
	if (r < 0)
		return dg_cli_fail(&err);
	if (o->json) {
		puts(json_object_to_json_string_ext(rep, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		json_object_object_get_ex(rep, "records", &n);
		printf("Audit report for %s: %lld records\n", dg_audit_path(NULL), (long long)json_object_get_int64(n));
		print_counts(rep, "by_user", "By user");
		print_counts(rep, "by_target", "By target");
		print_counts(rep, "by_provider", "By provider");
		print_counts(rep, "by_action", "By action");
		print_counts(rep, "by_result", "By result");
		print_counts(rep, "by_day", "By day (UTC)");
	}
	json_object_put(rep);
	return 0;
}

static int load_key(const struct opts *o, unsigned char *key, size_t max, size_t *len)
{
	struct dg_error err = { 0 };

	if (dg_audit_key_load(o->key_file, key, max, len, &err) < 0)
		return dg_cli_fail(&err);
	return 0;
}

static int cmd_verify(struct opts *o)
{
	struct dg_audit_verify_opts vo = { 0 };
	struct dg_audit_verify_result res;
	struct dg_error err = { 0 };
	const char *files[MAX_FILES];
	unsigned char key[1024];
	size_t keylen = 0, nfiles = 0;
	int r;

	r = load_key(o, key, sizeof(key), &keylen);
	if (r)
		return r;
	for (int i = 0; i < o->nargs; i++) {
		if (nfiles == MAX_FILES)
			return dg_cli_usage_error(CMD, "at most %d files at once", MAX_FILES);
		files[nfiles++] = o->args[i];
	}
	if (nfiles == 0)
		files[nfiles++] = dg_audit_path(NULL);
	vo.key = keylen ? key : NULL;
	vo.keylen = keylen;
	vo.anchors = o->anchors;
	vo.no_head = o->no_head;
	r = dg_audit_verify(files, nfiles, &vo, &res, &err);
	explicit_bzero(key, sizeof(key));
	if (r < 0 && !res.problem[0])
		return dg_cli_fail(&err);
	if (o->json) {
		json_object *j = json_object_new_object(), *notes = json_object_new_array();

		json_object_object_add(j, "ok", json_object_new_boolean(res.ok));
		json_object_object_add(j, "records", json_object_new_int64((int64_t)res.records));
		json_object_object_add(j, "first_seq", json_object_new_int64((int64_t)res.first_seq));
		json_object_object_add(j, "last_seq", json_object_new_int64((int64_t)res.last_seq));
		json_object_object_add(j, "last_sha256", res.records ? json_object_new_string(res.last_sha256) : NULL);
		json_object_object_add(j, "hmac_checked", json_object_new_int64((int64_t)res.hmac_checked));
		json_object_object_add(j, "head_checked", json_object_new_boolean(res.head_checked));
		json_object_object_add(j, "anchors_checked", json_object_new_int64((int64_t)res.anchors_checked));
		if (!res.ok) {
			json_object *bad = json_object_new_object();
			json_object_object_add(bad, "file", json_object_new_string(res.bad_file));
			json_object_object_add(bad, "line", res.bad_line ? json_object_new_int64((int64_t)res.bad_line)
									 : NULL);
			json_object_object_add(bad, "seq", res.bad_seq ? json_object_new_int64((int64_t)res.bad_seq) : NULL);
			json_object_object_add(bad, "problem", json_object_new_string(res.problem));
			json_object_object_add(j, "bad", bad);
		}
		for (unsigned i = 0; i < res.nnotes; i++)
			json_object_array_add(notes, json_object_new_string(res.notes[i]));
		json_object_object_add(j, "notes", notes);
		puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(j);
	} else if (res.ok) {
		printf("%s: ok: %llu records, seq %llu..%llu, last sha256 %s; %s%s%s\n", files[nfiles - 1],
		       (unsigned long long)res.records, (unsigned long long)res.first_seq, (unsigned long long)res.last_seq,
		       res.records ? res.last_sha256 : "-", res.hmac_checked ? "HMACs checked, " : "",
		       res.head_checked ? "head anchor matches" : "no head anchor checked",
		       res.anchors_checked ? ", announcements match" : "");
		for (unsigned i = 0; i < res.nnotes; i++)
			printf("note: %s\n", res.notes[i]);
	} else {
		if (res.bad_line)
			fprintf(stderr, "%s: verify failed at %s line %llu: %s\n", dg_cli_prog, res.bad_file,
				(unsigned long long)res.bad_line, res.problem);
		else
			fprintf(stderr, "%s: verify failed for %s: %s\n", dg_cli_prog, res.bad_file, res.problem);
	}
	return res.ok ? 0 : DG_FAILED;
}

static int maintain(const struct opts *o, bool rotate)
{
	struct dg_audit_log *log = NULL;
	struct dg_error err = { 0 };
	char rotated[PATH_MAX] = "";
	unsigned char key[1024];
	size_t keylen = 0;
	int notices = 0, r;

	if (o->nargs)
		return dg_cli_usage_error(CMD, "unexpected '%s'", o->args[0]);
	r = load_key(o, key, sizeof(key), &keylen);
	if (r)
		return r;
	r = dg_audit_log_open(dg_audit_path(NULL), key, keylen, 0, &log, &err);
	explicit_bzero(key, sizeof(key));
	if (r == 0)
		r = rotate ? dg_audit_rotate(log, rotated, &err) : dg_audit_repair(log, &notices, &err);
	dg_audit_log_free(log);
	if (r < 0)
		return dg_cli_fail(&err);
	if (o->json) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "log", json_object_new_string(dg_audit_path(NULL)));
		if (rotate)
			json_object_object_add(j, "rotated_to", json_object_new_string(rotated));
		else
			json_object_object_add(j, "notices", json_object_new_int(notices));
		puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(j);
	} else if (rotate) {
		printf("%s continues in a new file; the old records are in %s\n", dg_audit_path(NULL), rotated);
	} else {
		printf("%s: %s\n", dg_audit_path(NULL), notices ? "repaired; a record says what was done" : "nothing to repair");
	}
	return 0;
}

static int cmd_repair(struct opts *o)
{
	return maintain(o, false);
}

static int cmd_rotate(struct opts *o)
{
	return maintain(o, true);
}

int dg_cmd_audit(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(struct opts *o);
	} subs[] = {
		{ "list", cmd_list },	  { "export", cmd_export }, { "show", cmd_show },     { "report", cmd_report },
		{ "verify", cmd_verify }, { "repair", cmd_repair }, { "rotate", cmd_rotate },
	};
	struct dg_error err = { 0 };
	struct opts o;
	const char *sub;
	size_t i;
	int r;

	if (argc < 2) {
		dg_cmd_audit_help();
		return DG_USAGE;
	}
	sub = argv[1];
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
		dg_cmd_audit_help();
		return 0;
	}
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]) && strcmp(sub, subs[i].name); i++)
		;
	if (i == sizeof(subs) / sizeof(subs[0]))
		return dg_cli_usage_error(CMD, "unknown subcommand '%s': use list, show, report, export, verify, "
					  "repair or rotate", sub);
	r = parse_args(argc - 1, argv + 1, sub, &o);
	if (r)
		return r;
	if (o.help) {
		dg_cmd_audit_help();
		return 0;
	}
	if (dg_cli_refuse_overrides("audit", &err) < 0) {
		fprintf(stderr, "%s: %s\n", dg_cli_prog, err.message);
		return DG_DENIED;
	}
	return subs[i].run(&o);
}
