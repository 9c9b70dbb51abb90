/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `diagint inject` and `diagint capture`: the two faces of the libvirt path in the core (dg_inject). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "cli.h"
#include "dg_config.h"
#include "diagint/config.h"
#include "diagint/inject.h"
#include "fleet_cli.h"
#include <signal.h>
#include <unistd.h>

#define MAX_TIMEOUT 86400.0

static void common_options_help(void)
{
	printf("  -c, --connect URI     libvirt URI (default: $LIBVIRT_DEFAULT_URI, then libvirt's default,\n"
	       "                        qemu:///system as root)\n"
	       "  -D, --dest DEST       where the dump goes: a directory (any mount: local disk, NFS), or\n"
	       "                        '|COMMAND' to stream it into the standard input of /bin/sh -c COMMAND,\n"
	       "                        which gets DIAGINT_DOMAIN, DIAGINT_UUID, DIAGINT_DUMP_NAME,\n"
	       "                        DIAGINT_TRIGGER and DIAGINT_FORMAT in its environment\n"
	       "  -d, --dump-dir DIR    the same, directory only\n"
	       "                        Default: Destination= in the configuration, else %s\n"
	       "                        (created if missing, however it is given; any other directory must\n"
	       "                        exist)\n"
	       "  -f, --format F        elf (default: ELF64 .gcore, zero pages left as holes), kdump-zlib\n"
	       "                        (.kdump, written as a normal kdump-compressed file; to a |COMMAND in\n"
	       "                        makedumpfile's flattened form), kdump-lzo, kdump-snappy (when QEMU\n"
	       "                        has them), win-dmp (Windows guests)\n"
	       "      --config FILE     configuration (default %s if it exists)\n"
	       "  -n, --dry-run         check everything (the guest and its state, authorization, the\n"
	       "                        destination, flood limit, a free dump name, room under the retention\n"
	       "                        rules) and say what would be done; send and write nothing (the dry\n"
	       "                        run is recorded in the audit log as one, result dry-run)\n"
	       "      --require-fleet   with [fleet] configured: refuse (status 5) when etcd cannot be asked,\n"
	       "                        instead of acting with a warning (see docs/fleet.md)\n"
	       "  -q, --quiet           no progress or informational messages\n"
	       "  -j, --json            print the whole record as JSON instead of the dump path\n"
	       "  -h, --help            this help\n"
	       "Options may come before or after DOMAIN; '--' ends them.\n",
	       DG_DEFAULT_DUMP_DIR, DG_CONFIG_DEFAULT_PATH);
}

static void naming_help(void)
{
	printf("\nDump files are named as QNX qvm's dump option names them: DOMAIN-YYYYMMDD-hhmmss.gcore in the\n"
	       "host's local time, then DOMAIN-YYYYMMDD-hhmmss-1.gcore .. -9.gcore when taken. When all ten exist\n"
	       "nothing is written and the command fails with status 6. In DOMAIN, bytes other than letters,\n"
	       "digits and . _ + - become '_', and leading dots become '_', so no name leaves DIR. The dump is\n"
	       "written as .NAME.partial and renamed when complete and flushed; NAME.gcore.json beside it records\n"
	       "domain, host, time, trigger, panic, size, sha256, vCPUs, RAM, versions and step timings.\n"
	       "Before the capture, retention (MaxUse, KeepFree) and the per-domain flood limit of the\n"
	       "configuration apply: the oldest dumps are removed to make room, or the capture is refused\n"
	       "(status 6). Ctrl-C stops a capture; nothing is kept and the guest is left as it was.\n\n");
}

void dg_cmd_inject_help(void)
{
	printf("Usage: diagint inject [OPTIONS] DOMAIN [OPTIONS]\n\n"
	       "Send a diagnostic interrupt (NMI) to a libvirt guest, wait for its kernel to panic, and capture\n"
	       "the guest's memory as an ELF64 .gcore (memory-only dump: one NT_PRSTATUS note per vCPU, PT_LOAD\n"
	       "segments for RAM). DOMAIN is a name, a UUID or an id.\n\n"
	       "Before the NMI every capture precondition is checked (directory writable, a free dump name,\n"
	       "room for the guest's RAM): a refused capture never leaves a crashed guest without its dump.\n"
	       "If no panic arrives within --timeout (the guest lacks kernel.unknown_nmi_panic=1 or a <panic>\n"
	       "device), the memory is captured anyway and a warning says so.\n\n"
	       "Options:\n");
	common_options_help();
	printf("  -t, --timeout SECONDS how long to wait for the panic event (default %g)\n"
	       "      --no-capture      send the NMI and wait for the panic, capture nothing (no short\n"
	       "                        option: -n is --dry-run)\n",
	       DG_INJECT_DEFAULT_TIMEOUT);
	naming_help();
	printf("Output: the dump's path on stdout (one line), or with --json the record; messages on stderr.\n\n"
	       "Examples:\n"
	       "  diagint inject web-1\n"
	       "  diagint inject -c qemu+ssh://root@kvm7/system --dump-dir /srv/dumps web-1\n"
	       "  diagint inject --no-capture --timeout 5 3f2a...-uuid\n"
	       "  diagint inject web-1 --dry-run           would it work? nothing is sent or written\n\n");
	dg_cli_print_exit_statuses();
}

void dg_cmd_capture_help(void)
{
	printf("Usage: diagint capture [OPTIONS] DOMAIN [OPTIONS]\n\n"
	       "Capture a libvirt guest's memory as an ELF64 .gcore without interrupting it. The guest is paused\n"
	       "while its memory is written and resumed afterwards (a crashed guest stays crashed). DOMAIN is a\n"
	       "name, a UUID or an id.\n\n"
	       "Options:\n");
	common_options_help();
	naming_help();
	printf("Output: the dump's path on stdout (one line), or with --json the record; messages on stderr.\n\n");
	dg_cli_print_exit_statuses();
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void quiet_log(void *userdata, enum dg_log_level level, const char *message)
{
	if (level == DG_LOG_WARNING)
		dg_cli_log(userdata, level, message);
}

/* What a dry run found it would do, in one line on stdout. */
static void print_dry_run(const struct dg_inject_opts *o, const struct dg_dump_record *rec)
{
	char what[PATH_MAX + 64] = "";

	if (o->capture)
		snprintf(what, sizeof(what), "capture its memory (%llu MiB) to %s",
			 (unsigned long long)(rec->ram_bytes >> 20), rec->path[0] ? rec->path : rec->dest);
	if (o->nmi && !rec->panic_seen)
		printf("dry run: would send an NMI to %s, wait up to %g s for its panic%s%s; nothing was sent or "
		       "written\n", rec->domain, o->timeout, o->capture ? " and " : "", what);
	else
		printf("dry run: would %s%s; nothing was sent or written\n", what,
		       o->nmi ? " (it has already crashed: no NMI)" : "");
}

/* What the command line asks for. */
struct inject_args {
	struct dg_inject_opts o; /* run() adds the configuration and the cancel flag */
	const char *uri, *config_path, *domain;
	bool json, require_fleet, help;
};

/* The options of inject (nmi) or capture into *a; prints nothing but usage errors. Returns 0 or the status to
 * exit with. */
static int parse_args(int argc, char **argv, bool nmi, struct inject_args *a)
{
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "dump-dir", required_argument, NULL, 'd' },
		{ "dest", required_argument, NULL, 'D' },
		{ "format", required_argument, NULL, 'f' },
		{ "config", required_argument, NULL, 'C' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "no-capture", no_argument, NULL, 'N' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "require-fleet", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *cmd = nmi ? "inject" : "capture";
	struct dg_inject_opts *o = &a->o;
	int c;

	*a = (struct inject_args){
		.o = { .nmi = nmi, .capture = true, .timeout = DG_INJECT_DEFAULT_TIMEOUT, .trigger = cmd,
		       .log = dg_cli_log },
	};
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, nmi ? "c:d:D:f:qjt:nh" : "c:d:D:f:qjnh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			dg_cli_override("uri", optarg);
			a->uri = optarg;
			break;
		case 'd':
			dg_cli_override("dest", optarg);
			o->dump_dir = optarg;
			break;
		case 'D':
			dg_cli_override("dest", optarg);
			o->dest = optarg;
			break;
		case 'f':
			o->format = optarg;
			break;
		case 'C':
			dg_cli_override("config", optarg);
			a->config_path = optarg;
			break;
		case 'q':
			o->log = quiet_log;
			break;
		case 'j':
			a->json = true;
			break;
		case 't':
			if (!nmi)
				return dg_cli_usage_error(cmd, "--timeout applies to inject only");
			if (!dg_cli_parse_seconds(optarg, MAX_TIMEOUT, &o->timeout))
				return dg_cli_usage_error(cmd, "bad --timeout '%s': give seconds, a number above 0 and at "
							  "most %g (e.g. --timeout 10)", optarg, MAX_TIMEOUT);
			break;
		case 'N':
			if (!nmi)
				return dg_cli_usage_error(cmd, "--no-capture applies to inject only");
			o->capture = false;
			break;
		case 'n':
			o->dry_run = true;
			break;
		case 'F':
			a->require_fleet = true;
			break;
		case 'h':
			a->help = true; /* whatever follows */
			return 0;
		default:
			return dg_cli_bad_option(cmd, optopt, argv, optind);
		}
	}
	if (optind >= argc)
		return dg_cli_usage_error(cmd, "missing DOMAIN (a name, UUID or id)");
	if (optind + 1 < argc)
		return dg_cli_usage_error(cmd, "one DOMAIN at a time; unexpected '%s'", argv[optind + 1]);
	if (!o->capture && (o->dump_dir || o->dest || o->format))
		return dg_cli_usage_error(cmd, "--no-capture contradicts --dump-dir, --dest and --format");
	if (o->dump_dir && o->dest)
		return dg_cli_usage_error(cmd, "give either --dest or --dump-dir, not both");
	if (o->format && !dg_dumpname_ext(o->format))
		return dg_cli_usage_error(cmd, "unknown --format '%s': use elf, kdump-zlib, kdump-lzo, kdump-snappy "
					  "or win-dmp", o->format);
	a->domain = argv[optind];
	return 0;
}

static int run(const struct inject_args *a)
{
	struct dg_inject_opts o = a->o;
	const char *cmd = o.trigger, *config_path = a->config_path;
	struct dg_dump_record rec;
	struct dg_error err = { 0 };
	struct dg_lv *lv = NULL;
	struct dg_config *cfg = NULL;
	struct sigaction sa = { .sa_handler = on_interrupt };
	bool json = a->json;
	struct dg_cli_fleet fleet;
	struct dg_cli_fleet_ticket ticket;
	int r;


	/* An operator's --config under sudo is read only once PAM has granted it: before, root would read whatever
	 * file they named and its errors could show its contents. */
	bool config_after_pam = dg_cli_delegated() && config_path;

	if (!config_after_pam) {
		r = dg_config_load(config_path, &cfg, &err);
		if (r < 0)
			return dg_cli_fail(&err);
		o.config = cfg;
	}
	/* Ctrl-C must not leave a half dump, or a paused guest: the core stops cleanly when asked. */
	o.cancel = &interrupted;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Who may, who did: PAM decides as the person behind the command; the decision and the outcome go to the
	 * audit log (authz.h). */
	char target[300];
	struct dg_authz az;

	snprintf(target, sizeof(target), "libvirt:%s", a->domain);
	r = dg_authz_begin(&az, cmd, target, o.dry_run, &err);
	if (r < 0) {
		dg_config_free(cfg);
		return dg_cli_fail(&err);
	}
	if (config_after_pam) {
		r = dg_config_load(config_path, &cfg, &err);
		if (r < 0) {
			dg_authz_end_dump(&az, r, &err, NULL);
			return dg_cli_fail(&err);
		}
		o.config = cfg;
	}
	/* [fleet]: one interrupt per hang however many monitors and people act on it (fleet_cli.h). A dry run
	 * interrupts nothing and claims nothing. */
	dg_cli_fleet_init(&fleet, o.dry_run ? NULL : cfg, a->require_fleet);
	r = dg_cli_fleet_claim(&fleet, target, cmd, &az, &ticket, &err);
	if (r < 0) {
		dg_config_free(cfg);
		dg_authz_end_dump(&az, r, &err, NULL);
		dg_cli_fleet_close(&fleet);
		return dg_cli_fail(&err);
	}
	dg_record_init(&rec, o.trigger);
	r = dg_lv_open(a->uri, &lv, &err);
	if (r < 0) {
		dg_config_free(cfg);
		dg_authz_end_dump(&az, r, &err, NULL);
		dg_cli_fleet_unclaim(&fleet, &ticket);
		dg_cli_fleet_close(&fleet);
		return dg_cli_fail(&err);
	}
	r = dg_inject(lv, a->domain, &o, &rec, &err);
	dg_lv_free(lv);
	if (r < 0 && !rec.nmi_sent && !rec.captured)
		dg_cli_fleet_unclaim(&fleet, &ticket);
	dg_cli_fleet_close(&fleet);
	dg_config_free(cfg);
	dg_authz_end_dump(&az, r, &err, &rec);
	if (r < 0)
		return dg_cli_fail(&err);

	if (o.dry_run && !json) {
		print_dry_run(&o, &rec);
	} else if (json) {
		json_object *j = dg_record_to_json(&rec);

		if (o.dry_run) {
			/* The record of a run that did nothing, and where its dump would have gone. */
			json_object_object_add(j, "dry_run", json_object_new_boolean(true));
			json_object_object_add(j, "would_write", o.capture && rec.path[0] ? json_object_new_string(rec.path)
										       : NULL);
			json_object_object_add(j, "destination", o.capture ? json_object_new_string(rec.dest) : NULL);
		}
		puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(j);
	} else if (rec.captured) {
		/* A |COMMAND has no path: name the dump and where it went. */
		if (rec.path[0])
			puts(rec.path);
		else
			printf("%s %s\n", rec.name, rec.dest);
	}
	if (!rec.captured && !json && !o.dry_run)
		fprintf(stderr, "%s: NMI sent to %s; %s\n", dg_cli_prog, rec.domain,
			rec.panic_seen ? "the guest panicked" : "no panic seen");
	return 0;
}

static int parse_and_run(int argc, char **argv, bool nmi)
{
	struct inject_args a;
	int r = parse_args(argc, argv, nmi, &a);

	if (r)
		return r;
	if (a.help) {
		nmi ? dg_cmd_inject_help() : dg_cmd_capture_help();
		return 0;
	}
	return run(&a);
}

int dg_cmd_inject(int argc, char **argv)
{
	return parse_and_run(argc, argv, true);
}

int dg_cmd_capture(int argc, char **argv)
{
	return parse_and_run(argc, argv, false);
}
