/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "authz.h"
#include "cli.h"
#include "dg_config.h"

const char *dg_cli_prog = "diagint";

static const struct dg_cli_command commands[] = {
	{ "inject", "send an NMI to a libvirt guest and capture its memory as an ELF64 .gcore", dg_cmd_inject,
	  dg_cmd_inject_help },
	{ "capture", "capture a libvirt guest's memory as an ELF64 .gcore, without an NMI", dg_cmd_capture,
	  dg_cmd_capture_help },
	{ "dumps", "list, inspect, remove dumps; apply retention (gc)", dg_cmd_dumps, dg_cmd_dumps_help },
	{ "audit", "who may, who did: review and verify the audit log (list, show, report, export, verify)",
	  dg_cmd_audit, dg_cmd_audit_help },
	{ "send", "diagnostic interrupt to cloud instances (gcp, aws, oci, openstack) and libvirt guests", dg_cmd_send,
	  dg_cmd_send_help },
	{ "watch", "watch libvirt guests: capture panics, interrupt and capture hangs, under the brakes",
	  dg_cmd_watch, dg_cmd_watch_help },
	{ "doctor", "readiness: would an interrupt produce a dump? checks only, interrupts nothing", dg_cmd_doctor,
	  dg_cmd_doctor_help },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

void dg_cli_print_exit_statuses(void)
{
	printf("Exit status (the same for every diagint command):\n");
	for (int s = DG_OK; s <= DG_REFUSED; s++)
		printf("  %d  %s\n", s, dg_status_describe((enum dg_status)s));
}

static void main_help(void)
{
	printf("Usage: diagint COMMAND [OPTIONS] [ARGS]\n"
	       "       diagint help COMMAND | diagint COMMAND --help\n"
	       "       diagint --version\n\n"
	       "diagint makes a hung machine's kernel panic with a diagnostic interrupt (NMI) and keeps the\n"
	       "evidence: a crash dump inside the guest, a capture of its memory on the host.\n\n"
	       "Commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		printf("  %-10s %s\n", commands[i].name, commands[i].summary);
	printf("\nOptions may come before or after a command's arguments ('--' ends them). In every command that\n"
	       "acts (inject, capture, send, watch) -n is --dry-run: everything is checked, nothing is done.\n");
	printf("\nEvery command takes --audit-log FILE (default $DIAGINT_AUDIT_LOG, else %s).\n"
	       "inject, capture and send ask PAM service 'diagint' first and record the decision and the\n"
	       "outcome there: see 'diagint audit --help' and pam_diagint(8).\n", DG_AUDIT_DEFAULT_PATH);
	printf("\nExamples:\n"
	       "  diagint inject web-1                      NMI web-1, wait for its panic, dump its memory\n"
	       "  diagint inject --dump-dir /srv/dumps 7    same, domain by id, dumps into /srv/dumps\n"
	       "  diagint capture --json web-1              dump without interrupting; print the record\n\n");
	dg_cli_print_exit_statuses();
	printf("\nSee diagint(1) for the details.\n");
}

/* A progress line is being redrawn on the terminal: the next message must start on a clean line. */
static bool progress_open;

static void end_progress(void)
{
	if (progress_open) {
		fputs("\r\033[K", stderr);
		progress_open = false;
	}
}

int dg_cli_fail(const struct dg_error *err)
{
	end_progress();
	fprintf(stderr, "%s: %s\n", dg_cli_prog, err->message[0] ? err->message : dg_status_describe(err->status));
	return err->status ? (int)err->status : DG_FAILED;
}

int dg_cli_usage_error(const char *command, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s %s: ", dg_cli_prog, command);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s %s --help'.\n", dg_cli_prog, command);
	return DG_USAGE;
}

int dg_cli_bad_option(const char *command, int opt, char **argv, int optind)
{
	if (opt)
		return dg_cli_usage_error(command, "option -%c is unknown or needs a value", opt);
	return dg_cli_usage_error(command, "option '%s' is unknown or needs a value", argv[optind - 1]);
}

void dg_cli_log(void *userdata, enum dg_log_level level, const char *message)
{
	bool tty = isatty(STDERR_FILENO);

	(void)userdata;
	if (level == DG_LOG_PROGRESS) {
		/* On a terminal redraw one line; in a log, every update is a line of its own. */
		fprintf(stderr, tty ? "\r\033[K%s: %s" : "%s: %s\n", dg_cli_prog, message);
		progress_open = tty;
		return;
	}
	end_progress();
	fprintf(stderr, "%s: %s%s\n", dg_cli_prog, level == DG_LOG_WARNING ? "warning: " : "", message);
}

bool dg_cli_parse_seconds(const char *text, double max, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (errno || end == text || *end || !isfinite(v) || v <= 0 || v > max)
		return false;
	*ret = v;
	return true;
}

int main(int argc, char **argv)
{
	const char *name;
	struct dg_error err = { 0 };

	/* Cloud keys, tokens and the audit key live in this process: no core dump (and no ptrace by the same uid)
	 * may carry them away. A |command child gets its own dumpability back at exec. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (!dg_authz_take_audit_log(&argc, argv))
		return DG_USAGE;
	if (dg_cli_delegation_start(&err) < 0)
		return dg_cli_fail(&err);
	if (argc < 2) {
		main_help();
		return DG_USAGE;
	}
	name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
		main_help();
		return 0;
	}
	if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
		printf("diagint %s\n", DG_VERSION);
		return 0;
	}
	if (!strcmp(name, "help")) {
		if (argc < 3) {
			main_help();
			return 0;
		}
		name = argv[2];
		for (size_t i = 0; i < N_COMMANDS; i++)
			if (!strcmp(commands[i].name, name)) {
				commands[i].help();
				return 0;
			}
		fprintf(stderr, "%s: unknown command '%s'. Run '%s --help' for the list.\n", dg_cli_prog, name,
			dg_cli_prog);
		return DG_USAGE;
	}
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "%s: unknown command '%s'. Run '%s --help' for the list.\n", dg_cli_prog, name, dg_cli_prog);
	return DG_USAGE;
}
