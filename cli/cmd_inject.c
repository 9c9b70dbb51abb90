/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `diagint inject` and `diagint capture`: the two faces of the libvirt path in the core (dg_inject). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dg_config.h"
#include "diagint/inject.h"

#define MAX_TIMEOUT 86400.0

static void common_options_help(void)
{
	printf("  -c, --connect URI     libvirt URI (default: $LIBVIRT_DEFAULT_URI, then libvirt's default,\n"
	       "                        qemu:///system as root)\n"
	       "  -d, --dump-dir DIR    directory for the dump (default %s, created if missing;\n"
	       "                        a DIR you name must exist). On a remote URI it is a path on that host.\n"
	       "  -j, --json            print the whole record as JSON instead of the dump path\n"
	       "  -h, --help            this help\n",
	       DG_DEFAULT_DUMP_DIR);
}

static void naming_help(void)
{
	printf("\nDump files are named as QNX qvm's dump option names them: DOMAIN-YYYYMMDD-hhmmss.gcore in the\n"
	       "host's local time, then DOMAIN-YYYYMMDD-hhmmss-1.gcore .. -9.gcore when taken. When all ten exist\n"
	       "nothing is written and the command fails with status 6. In DOMAIN, bytes other than letters,\n"
	       "digits and . _ + - become '_', and leading dots become '_', so no name leaves DIR. The dump is\n"
	       "written as .NAME.partial and renamed when complete and flushed; NAME.gcore.json beside it records\n"
	       "domain, host, time, trigger, panic, size, sha256, vCPUs, RAM, versions and step timings.\n\n");
}

void dg_cmd_inject_help(void)
{
	printf("Usage: diagint inject [OPTIONS] DOMAIN\n\n"
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
	       "  -n, --no-capture      send the NMI and wait for the panic, capture nothing\n",
	       DG_INJECT_DEFAULT_TIMEOUT);
	naming_help();
	printf("Output: the dump's path on stdout (one line), or with --json the record; messages on stderr.\n\n"
	       "Examples:\n"
	       "  diagint inject web-1\n"
	       "  diagint inject -c qemu+ssh://root@kvm7/system --dump-dir /srv/dumps web-1\n"
	       "  diagint inject --no-capture --timeout 5 3f2a...-uuid\n\n");
	dg_cli_print_exit_statuses();
}

void dg_cmd_capture_help(void)
{
	printf("Usage: diagint capture [OPTIONS] DOMAIN\n\n"
	       "Capture a libvirt guest's memory as an ELF64 .gcore without interrupting it. The guest is paused\n"
	       "while its memory is written and resumed afterwards (a crashed guest stays crashed). DOMAIN is a\n"
	       "name, a UUID or an id.\n\n"
	       "Options:\n");
	common_options_help();
	naming_help();
	printf("Output: the dump's path on stdout (one line), or with --json the record; messages on stderr.\n\n");
	dg_cli_print_exit_statuses();
}

static int run(int argc, char **argv, bool nmi)
{
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "dump-dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "no-capture", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *cmd = nmi ? "inject" : "capture";
	struct dg_inject_opts o = {
		.nmi = nmi, .capture = true, .timeout = DG_INJECT_DEFAULT_TIMEOUT, .trigger = cmd, .log = dg_cli_log,
	};
	struct dg_dump_record rec;
	struct dg_error err = { 0 };
	struct dg_lv *lv = NULL;
	const char *uri = NULL;
	bool json = false;
	int c, r;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, nmi ? "+c:d:jt:nh" : "+c:d:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			uri = optarg;
			break;
		case 'd':
			o.dump_dir = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 't':
			if (!nmi)
				return dg_cli_usage_error(cmd, "--timeout applies to inject only");
			if (!dg_cli_parse_seconds(optarg, MAX_TIMEOUT, &o.timeout))
				return dg_cli_usage_error(cmd, "bad --timeout '%s': give seconds, a number above 0 and at "
							  "most %g (e.g. --timeout 10)", optarg, MAX_TIMEOUT);
			break;
		case 'n':
			if (!nmi)
				return dg_cli_usage_error(cmd, "--no-capture applies to inject only");
			o.capture = false;
			break;
		case 'h':
			nmi ? dg_cmd_inject_help() : dg_cmd_capture_help();
			return 0;
		default:
			if (optopt)
				return dg_cli_usage_error(cmd, "option -%c is unknown or needs a value", optopt);
			return dg_cli_usage_error(cmd, "option '%s' is unknown or needs a value", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return dg_cli_usage_error(cmd, "missing DOMAIN (a name, UUID or id)");
	if (optind + 1 < argc)
		return dg_cli_usage_error(cmd, "one DOMAIN at a time; unexpected '%s'", argv[optind + 1]);
	if (!o.capture && o.dump_dir)
		return dg_cli_usage_error(cmd, "--dump-dir and --no-capture contradict each other");

	dg_record_init(&rec, o.trigger);
	r = dg_lv_open(uri, &lv, &err);
	if (r < 0)
		return dg_cli_fail(&err);
	r = dg_inject(lv, argv[optind], &o, &rec, &err);
	dg_lv_free(lv);
	if (r < 0)
		return dg_cli_fail(&err);

	if (json) {
		json_object *j = dg_record_to_json(&rec);
		puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(j);
	} else if (rec.captured) {
		puts(rec.path);
	}
	if (!rec.captured && !json)
		fprintf(stderr, "%s: NMI sent to %s; %s\n", dg_cli_prog, rec.domain,
			rec.panic_seen ? "the guest panicked" : "no panic seen");
	return 0;
}

int dg_cmd_inject(int argc, char **argv)
{
	return run(argc, argv, true);
}

int dg_cmd_capture(int argc, char **argv)
{
	return run(argc, argv, false);
}
