/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `diagint dumps`: review of a dump directory, like coredumpctl. Reads names, stat() and sidecars only. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "authz.h"
#include "cli.h"
#include "dg_config.h"
#include "diagint/config.h"
#include "diagint/dumpdir.h"
#include "diagint/dumpstore.h"
#include "diagint/retention.h"
#include "diagint/time_parse.h"
#include "diagint/units.h"

void dg_cmd_dumps_help(void)
{
	printf("Usage: diagint dumps list [--domain NAME] [--since WHEN] [--until WHEN] [--json]\n"
	       "       diagint dumps info NAME [--json]\n"
	       "       diagint dumps show NAME [--log] [--json]\n"
	       "       diagint dumps shrink NAME [--compress zlib|lzo] [--dump-level N] [--json]\n"
	       "       diagint dumps remove NAME...\n"
	       "       diagint dumps gc [--json]\n\n"
	       "Review the dumps in a dump directory: the default destination (%s) unless\n"
	       "--dest/--dump-dir or Destination= in the configuration says otherwise.\n\n"
	       "  list     one line per dump, oldest first: time, domain, size on disk, apparent size, panic seen\n"
	       "  info     the dump's record (its sidecar) and what is on disk\n"
	       "  show     the guest kernel: release, panic line, each vCPU's function, the last kernel messages\n"
	       "  shrink   makedumpfile's filtered, compressed kdump file in place of an ELF dump, once it reads back\n"
	       "  remove   delete dumps and their sidecars\n"
	       "  gc       apply retention now (MaxUse, KeepFree from the configuration): oldest dumps go first\n\n"
	       "Options:\n"
	       "  -d, --dump-dir DIR, -D, --dest DIR   the directory to review\n"
	       "      --config FILE     configuration (default %s if it exists)\n"
	       "      --domain NAME     only this domain's dumps\n"
	       "      --since WHEN      only dumps from WHEN on; --until WHEN: only dumps before WHEN\n"
	       "                        (systemd.time(7)'s forms, as 'diagint audit'): 2026-11-22,\n"
	       "                        '2026-11-22 10:00' (local), 2026-11-22T10:00:00Z (UTC), @EPOCH, now,\n"
	       "                        today, yesterday, tomorrow, -7d, -2h30min, '7d ago'; 7d alone is 7d ago\n"
	       "      --log             show: the whole kernel log, not its last %d lines\n"
	       "      --compress C      shrink: zlib (default, smaller) or lzo (faster)\n"
	       "      --dump-level N    shrink: makedumpfile -d N, default 31 (drops zero, cache, user and free pages)\n"
	       "  -j, --json            JSON output\n"
	       "  -h, --help            this help\n\n",
	       DG_DEFAULT_DUMP_DIR, DG_CONFIG_DEFAULT_PATH, DG_SHOW_TAIL);
	dg_cli_print_exit_statuses();
}

static json_object *read_sidecar(int dirfd, const char *name)
{
	char path[DG_DUMPNAME_MAX + 16];
	json_object *j;
	int fd;

	snprintf(path, sizeof(path), "%s.json", name);
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	j = json_object_from_fd(fd);
	close(fd);
	return j;
}

static const char *jstr(json_object *o, const char *a, const char *b)
{
	json_object *x;

	if (!o || !json_object_object_get_ex(o, a, &x))
		return NULL;
	if (b && !json_object_object_get_ex(x, b, &x))
		return NULL;
	return x && json_object_is_type(x, json_type_string) ? json_object_get_string(x) : NULL;
}

static int jbool(json_object *o, const char *a, const char *b)
{
	json_object *x;

	if (!o || !json_object_object_get_ex(o, a, &x) || !json_object_object_get_ex(x, b, &x) || !x)
		return -1;
	return json_object_get_boolean(x);
}

static json_object *entry_json(const struct dg_dump_entry *e, json_object *side)
{
	json_object *o = json_object_new_object();
	char when[32];
	struct tm tm;

	localtime_r(&e->stamp, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S%z", &tm);
	json_object_object_add(o, "name", json_object_new_string(e->name));
	json_object_object_add(o, "time", json_object_new_string(when));
	json_object_object_add(o, "domain", json_object_new_string(jstr(side, "domain", "name") ?: e->prefix));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)e->size));
	json_object_object_add(o, "allocated", json_object_new_int64((int64_t)e->allocated));
	json_object_object_add(o, "sidecar", json_object_new_boolean(e->sidecar));
	if (side && jbool(side, "nmi", "panic_seen") >= 0)
		json_object_object_add(o, "panic_seen", json_object_new_boolean(jbool(side, "nmi", "panic_seen")));
	return o;
}

/* since/until: NULL for no bound; until is exclusive, as audit's. */
static int do_list(struct dg_dumpdir *dir, const char *domain, const struct timespec *since,
		   const struct timespec *until, bool json)
{
	struct dg_dump_list list;
	struct dg_error err = { 0 };
	json_object *arr = json ? json_object_new_array() : NULL;
	unsigned shown = 0;

	if (dg_dumpstore_scan(dg_dumpdir_fd(dir), dg_dumpdir_path(dir), &list, &err) < 0)
		return dg_cli_fail(&err);
	if (!json)
		printf("%-19s %-24s %8s %8s %-5s %s\n", "TIME", "DOMAIN", "DISK", "SIZE", "PANIC", "NAME");
	for (size_t i = 0; i < list.n; i++) {
		const struct dg_dump_entry *e = &list.v[i];
		json_object *side;
		const char *dname;
		char when[32], disk[16], size[16];
		struct tm tm;
		int panic;

		if ((since && e->stamp < since->tv_sec + (since->tv_nsec > 0)) ||
		    (until && e->stamp >= until->tv_sec + (until->tv_nsec > 0)))
			continue;
		side = e->sidecar ? read_sidecar(dg_dumpdir_fd(dir), e->name) : NULL;
		dname = jstr(side, "domain", "name") ?: e->prefix;
		if (domain && strcmp(domain, dname) != 0 && strcmp(domain, e->prefix) != 0) {
			json_object_put(side);
			continue;
		}
		shown++;
		if (json) {
			json_object_array_add(arr, entry_json(e, side));
		} else {
			localtime_r(&e->stamp, &tm);
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
			dg_format_bytes(e->allocated, true, disk, sizeof(disk));
			dg_format_bytes(e->size, true, size, sizeof(size));
			panic = jbool(side, "nmi", "panic_seen");
			printf("%-19s %-24s %8s %8s %-5s %s\n", when, dname, disk, size,
			       panic < 0 ? "-" : panic ? "yes" : "no", e->name);
		}
		json_object_put(side);
	}
	if (json) {
		puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(arr);
	} else {
		fprintf(stderr, "%u dump(s) in %s\n", shown, dg_dumpdir_path(dir));
	}
	dg_dump_list_free(&list);
	return 0;
}

static int do_info(struct dg_dumpdir *dir, const char *name, bool json)
{
	struct dg_dump_list list;
	struct dg_error err = { 0 };
	const struct dg_dump_entry *e = NULL;
	json_object *side, *out;
	int r = 0;

	if (dg_dumpstore_scan(dg_dumpdir_fd(dir), dg_dumpdir_path(dir), &list, &err) < 0)
		return dg_cli_fail(&err);
	for (size_t i = 0; i < list.n; i++)
		if (!strcmp(list.v[i].name, name))
			e = &list.v[i];
	if (!e) {
		dg_error_set(&err, DG_NOTFOUND, "no dump named %s in %s: see 'diagint dumps list'", name,
			     dg_dumpdir_path(dir));
		dg_dump_list_free(&list);
		return dg_cli_fail(&err);
	}
	side = read_sidecar(dg_dumpdir_fd(dir), name);
	out = entry_json(e, side);
	json_object_object_add(out, "path", json_object_new_string(dg_dumpdir_path(dir)));
	json_object_object_add(out, "record", side ? json_object_get(side) : NULL);
	if (json) {
		puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		char disk[16], size[16];
		dg_format_bytes(e->allocated, true, disk, sizeof(disk));
		dg_format_bytes(e->size, true, size, sizeof(size));
		printf("        Dump: %s/%s\n", dg_dumpdir_path(dir), e->name);
		printf("      Domain: %s (%s)\n", jstr(side, "domain", "name") ?: e->prefix,
		       jstr(side, "domain", "uuid") ?: "uuid unknown");
		printf("        Time: %s\n", jstr(side, "local_time", NULL) ?: "(from name only)");
		printf("     Trigger: %s\n", jstr(side, "trigger", NULL) ?: "-");
		printf("       Panic: %s\n", jbool(side, "nmi", "panic_seen") == 1 ? "seen" : "not seen");
		printf("      Format: %s\n", jstr(side, "dump", "format") ?: "-");
		printf("        Size: %s apparent, %s on disk\n", size, disk);
		printf("      SHA256: %s\n", jstr(side, "dump", "sha256") ?: "-");
		printf("        Host: %s\n", jstr(side, "host", NULL) ?: "-");
		if (!side)
			printf("        Note: no sidecar (%s.json): the record is missing\n", e->name);
	}
	json_object_put(out);
	json_object_put(side);
	dg_dump_list_free(&list);
	return r;
}

static bool known_verb(const char *verb)
{
	static const char *const verbs[] = { "list", "info", "show", "shrink", "remove", "gc", NULL };

	for (size_t i = 0; verbs[i]; i++)
		if (!strcmp(verbs[i], verb))
			return true;
	return false;
}

/* list and gc of a default directory that does not exist yet: what they print for an empty one. */
static int empty_dir(const char *verb, const char *dest, bool json)
{
	if (!strcmp(verb, "list")) {
		if (json)
			puts("[]");
		else
			printf("%-19s %-24s %8s %8s %-5s %s\n", "TIME", "DOMAIN", "DISK", "SIZE", "PANIC", "NAME");
	} else if (json) {
		printf("{\"evicted\":0,\"freed\":0,\"usage\":0,\"free\":0}\n");
	}
	fprintf(stderr, "0 dump(s): %s does not exist%s\n", dest,
		dg_dumpdir_is_default(dest) ? " yet (the first capture creates it)" : "");
	return 0;
}

/* What the command line asks for. */
struct dumps_args {
	const char *dest, *config_path, *domain, *compress;
	const char *verb;   /* NULL: none given */
	char **names;       /* the operands after the verb */
	int n_names;
	struct timespec since, until;
	bool help, have_since, have_until, json, full_log;
	int dump_level;     /* 0: makedumpfile's default; -1: -d 0 */
};

/* The options into *a; prints nothing but usage errors. Returns 0 or the status to exit with. */
static int parse_args(int argc, char **argv, struct dumps_args *a)
{
	static const struct option longopts[] = {
		{ "dump-dir", required_argument, NULL, 'd' }, { "dest", required_argument, NULL, 'D' },
		{ "config", required_argument, NULL, 'C' },   { "domain", required_argument, NULL, 'm' },
		{ "since", required_argument, NULL, 's' },    { "until", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },           { "log", no_argument, NULL, 'l' },
		{ "compress", required_argument, NULL, 'z' }, { "dump-level", required_argument, NULL, 'L' },
		{ 0 },
	};
	struct dg_error err = { 0 };
	int c;

	memset(a, 0, sizeof(*a));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "d:D:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
		case 'D':
			dg_cli_override("dest", optarg);
			a->dest = optarg;
			break;
		case 'C':
			dg_cli_override("config", optarg);
			a->config_path = optarg;
			break;
		case 'm':
			a->domain = optarg;
			break;
		case 's':
		case 'u':
			if (dg_time_parse(optarg, time(NULL), c == 's' ? &a->since : &a->until, &err) < 0)
				return dg_cli_usage_error("dumps", "--%s: %s", c == 's' ? "since" : "until",
							  err.message);
			*(c == 's' ? &a->have_since : &a->have_until) = true;
			break;
		case 'j':
			a->json = true;
			break;
		case 'l':
			a->full_log = true;
			break;
		case 'z':
			a->compress = optarg;
			break;
		case 'L': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 0 || v > 31)
				return dg_cli_usage_error("dumps", "bad --dump-level '%s': 0 to 31", optarg);
			a->dump_level = v ? (int)v : -1;
			break;
		}
		case 'h':
			a->help = true; /* whatever follows */
			return 0;
		default:
			return dg_cli_bad_option("dumps", optopt, argv, optind);
		}
	}
	if (optind < argc) {
		a->verb = argv[optind];
		a->names = argv + optind + 1;
		a->n_names = argc - optind - 1;
	}
	return 0;
}

static int run(const struct dumps_args *a)
{
	const char *dest = a->dest, *verb = a->verb;
	struct dg_capture_policy policy;
	struct dg_config *cfg = NULL;
	struct dg_dumpdir *dir = NULL;
	struct dg_error err = { 0 };
	bool json = a->json;
	int r = 0;

	if (dg_cli_refuse_overrides("dumps", &err) < 0)
		return dg_cli_fail(&err);
	if (!verb)
		return dg_cli_usage_error("dumps", "missing action: list, info, show, shrink, remove or gc");
	/* Before the directory is opened: a misspelt action must not be answered with a directory's problem. */
	if (!known_verb(verb))
		return dg_cli_usage_error("dumps", "unknown action '%s': use list, info, show, shrink, remove or gc", verb);
	if (dg_config_load(a->config_path, &cfg, &err) < 0)
		return dg_cli_fail(&err);
	dg_config_capture_policy(cfg, NULL, &policy);
	if (!dest)
		dest = policy.dest[0] ? policy.dest : DG_DEFAULT_DUMP_DIR;
	if (dest[0] == '|') {
		dg_config_free(cfg);
		return dg_cli_usage_error("dumps", "the destination is a command (%s): only a directory can be "
					  "reviewed; give one with --dump-dir", dest);
	}
	if (dg_dumpdir_open(dest, false, &dir, &err) < 0) {
		dg_config_free(cfg);
		/* A fresh host: the default directory is made by the first capture. Until then, as for any directory
		 * that does not exist, there is nothing to list or collect (said on stderr, where a typo shows). */
		if (access(dest, F_OK) < 0 && errno == ENOENT && (!strcmp(verb, "list") || !strcmp(verb, "gc")))
			return empty_dir(verb, dest, json);
		return dg_cli_fail(&err);
	}

	if (!strcmp(verb, "list")) {
		r = do_list(dir, a->domain, a->have_since ? &a->since : NULL, a->have_until ? &a->until : NULL, json);
	} else if (!strcmp(verb, "info")) {
		if (a->n_names != 1)
			r = dg_cli_usage_error("dumps", "info takes one NAME");
		else
			r = do_info(dir, a->names[0], json);
	} else if (!strcmp(verb, "show")) {
		if (a->n_names != 1)
			r = dg_cli_usage_error("dumps", "show takes one NAME");
		else
			r = dg_cmd_dumps_show(dir, a->names[0], json, a->full_log);
	} else if (!strcmp(verb, "shrink")) {
		if (a->n_names != 1)
			r = dg_cli_usage_error("dumps", "shrink takes one NAME");
		else
			r = dg_cmd_dumps_shrink(dir, a->names[0], a->compress, a->dump_level, json);
	} else if (!strcmp(verb, "remove")) {
		if (a->n_names == 0)
			r = dg_cli_usage_error("dumps", "remove needs at least one NAME");
		for (int i = 0; i < a->n_names && r == 0; i++) {
			/* Dumps are evidence: removing one is authorized (PAM, target dump:NAME, so a site grants it
			 * apart from interrupting) and recorded before it happens, like any other action. */
			struct dg_authz az;
			char target[600];
			int rr;

			snprintf(target, sizeof(target), "dump:%.500s", a->names[i]);
			if (dg_authz_begin(&az, "dump-remove", target, false, &err) < 0) {
				r = dg_cli_fail(&err);
				break;
			}
			rr = dg_dumpstore_remove(dg_dumpdir_fd(dir), a->names[i], &err);
			dg_authz_end(&az, rr, &err, NULL, NULL, 0);
			if (rr < 0)
				r = dg_cli_fail(&err);
			else
				fprintf(stderr, "removed %s/%s\n", dest, a->names[i]);
		}
	} else if (!strcmp(verb, "gc")) {
		struct dg_retention_result res = { 0 };
		struct dg_authz az;
		char target[600];

		snprintf(target, sizeof(target), "dump:%.500s/*", dest);
		if (dg_authz_begin(&az, "dump-gc", target, false, &err) < 0) {
			dg_dumpdir_free(dir);
			dg_config_free(cfg);
			return dg_cli_fail(&err);
		}
		r = dg_retention_apply(dir, &policy, 0, true, dg_cli_log, NULL, &res, &err);
		snprintf(az.ev.evidence, sizeof(az.ev.evidence), "retention (MaxUse, KeepFree): %u dump(s) removed, "
			 "%llu bytes freed", res.evicted, (unsigned long long)res.freed);
		dg_authz_end(&az, r, &err, NULL, NULL, 0);
		if (r < 0)
			r = dg_cli_fail(&err);
		if (json)
			printf("{\"evicted\":%u,\"freed\":%llu,\"usage\":%llu,\"free\":%llu}\n", res.evicted,
			       (unsigned long long)res.freed, (unsigned long long)res.usage,
			       (unsigned long long)res.fs_free);
		else
			fprintf(stderr, "retention: %u dump(s) removed, %llu bytes freed; dumps use %llu bytes\n",
				res.evicted, (unsigned long long)res.freed, (unsigned long long)res.usage);
	} else {
		r = dg_cli_usage_error("dumps", "unknown action '%s': use list, info, show, shrink, remove or gc", verb);
	}
	dg_dumpdir_free(dir);
	dg_config_free(cfg);
	return r;
}

int dg_cmd_dumps(int argc, char **argv)
{
	struct dumps_args a;
	int r = parse_args(argc, argv, &a);

	if (r)
		return r;
	if (a.help) {
		dg_cmd_dumps_help();
		return 0;
	}
	return run(&a);
}
