/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `diagint doctor`: would an interrupt sent to these targets produce a dump? One line per check (doctor.h), read
 * only: nothing here interrupts, pauses or restarts anything. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dg_config.h"
#include "diagint/buf.h"
#include "diagint/config.h"
#include "diagint/doctor.h"

#define MAX_TARGETS 1000

void dg_cmd_doctor_help(void)
{
	struct dg_buf g = DG_BUF_INIT;

	dg_target_grammar(&g, "  ");
	printf("Usage: diagint doctor [OPTIONS] TARGET...\n\n"
	       "Say, before the night it matters, whether a diagnostic interrupt sent to each TARGET would produce\n"
	       "a dump: one line per check, ok / warn / fail, each not-ok line with its fix in one sentence.\n\n"
	       "Nothing doctor does interrupts, pauses, restarts or changes anything: no NMI is sent, no dump is\n"
	       "taken, no file is written. libvirt guests are read (domain XML, state, the guest agent's ping,\n"
	       "file reads, 'systemctl is-active' and 'df' inside the guest); clouds get only their dry runs and\n"
	       "reads (AWS DryRun, DescribeInstances; GCP instance and testIamPermissions; OCI, OpenStack reads).\n\n"
	       "Targets:\n%s\n",
	       dg_buf_str(&g));
	dg_buf_free(&g);
	printf("Checks:\n"
	       "  libvirt    domain running; <panic> device; on_crash keeps the state (preserve; coredump-* warns,\n"
	       "             destroy/restart fail); guest agent reachable; through the agent: kernel.unknown_nmi_panic,\n"
	       "             crashkernel= in /proc/cmdline, the kdump service, room in /var/crash (without an agent:\n"
	       "             warnings that say so); on this host: the dump destination exists and is writable, and\n"
	       "             has room for the guest's RAM under MaxUse/KeepFree (nothing is evicted)\n"
	       "  aws        SendDiagnosticInterrupt with DryRun=true (DryRunOperation proves the permission),\n"
	       "             instance running and its type Nitro-based but not A1 (DescribeInstances/-Types)\n"
	       "  gcp        instance RUNNING, testIamPermissions for compute.instances.sendDiagnosticInterrupt,\n"
	       "             Shielded VM Secure Boot off\n"
	       "  oci        instance RUNNING (GetInstance: no start, stop or reboot in progress)\n"
	       "  openstack  server status allows trigger_crash_dump, read with microversion 2.17\n"
	       "  What the clouds' APIs cannot show without interrupting is listed as a warning with the manual check.\n\n"
	       "Options:\n"
	       "  -j, --json             one JSON object per target and line\n"
	       "  -c, --connect URI      libvirt URI for libvirt: targets\n"
	       "  -D, --dest DEST        the dump destination to check (default: Destination= in the\n"
	       "                         configuration, else %s)\n"
	       "      --config FILE      configuration (default %s if it exists)\n"
	       "      --agent-timeout S  seconds per guest agent command (default %g)\n"
	       "  -e, --endpoint [PROVIDER=]URL, --cacert FILE, -t, --timeout SECONDS\n"
	       "                         as for 'diagint send' (cloud targets)\n"
	       "  -h, --help             this help\n\n"
	       "Examples:\n"
	       "  diagint doctor libvirt:web-1 libvirt:web-2\n"
	       "  diagint doctor --json aws:us-east-1/i-0123456789abcdef0 gcp:my-project/us-central1-a/web-1\n\n"
	       "Exit status: 0 when every target is ready (warnings allowed), 1 when a check failed, else the\n"
	       "status of the first target that could not be examined (2 usage, 3 not authorized, 4 not found,\n"
	       "5 unavailable).\n",
	       DG_DEFAULT_DUMP_DIR, DG_CONFIG_DEFAULT_PATH, DG_DOCTOR_AGENT_TIMEOUT);
	dg_cli_print_exit_statuses();
}

struct out {
	bool json;
	bool color;
	json_object *checks; /* --json: the current target's */
};

static void on_check(void *userdata, const struct dg_doctor_check *c)
{
	struct out *o = userdata;
	static const char *const color[] = { "\033[32m", "\033[33m", "\033[1;31m" };
	static const char *const word[] = { "ok", "warn", "FAIL" };

	if (o->json) {
		json_object_array_add(o->checks, dg_doctor_check_to_json(c));
		return;
	}
	printf("  %s%-4s%s  %-24s %s\n", o->color ? color[c->level] : "", word[c->level], o->color ? "\033[0m" : "",
	       c->name, c->message);
	if (c->level != DG_DOCTOR_OK && c->fix[0])
		printf("        %-24s fix: %s\n", "", c->fix);
	fflush(stdout);
}

int dg_cmd_doctor(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "connect", required_argument, NULL, 'c' },
		{ "dest", required_argument, NULL, 'D' },
		{ "config", required_argument, NULL, 'C' },
		{ "agent-timeout", required_argument, NULL, 'A' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "cacert", required_argument, NULL, 'K' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct dg_doctor_opts o = { 0 };
	struct dg_send_opts so = { .retries = -1 };
	struct out out = { 0 };
	const char *config_path = NULL, *bare_endpoint = NULL;
	struct dg_config *cfg = NULL;
	struct dg_target *targets = NULL;
	struct dg_error err = { 0 };
	size_t n = 0, n_ready = 0;
	int c, status = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "jc:D:e:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			out.json = true;
			break;
		case 'c':
			dg_cli_override("uri", optarg);
			o.libvirt_uri = optarg;
			so.libvirt_uri = optarg;
			break;
		case 'D':
			dg_cli_override("dest", optarg);
			o.dest = optarg;
			break;
		case 'C':
			dg_cli_override("config", optarg);
			config_path = optarg;
			break;
		case 'A':
			if (!dg_cli_parse_seconds(optarg, 300, &o.agent_timeout))
				return dg_cli_usage_error("doctor", "bad --agent-timeout '%s': give seconds above 0, at most "
							  "300", optarg);
			break;
		case 'e':
			dg_cli_override("endpoint", optarg);
			if ((status = dg_cli_endpoint_option("doctor", &so, optarg, &bare_endpoint)) != 0)
				goto out;
			break;
		case 'K':
			dg_cli_override("cacert", optarg);
			so.cacert = optarg;
			break;
		case 't':
			if (!dg_cli_parse_seconds(optarg, 3600, &so.timeout))
				return dg_cli_usage_error("doctor", "bad --timeout '%s': give seconds above 0, at most 3600",
							  optarg);
			break;
		case 'h':
			dg_cmd_doctor_help();
			return 0;
		default:
			return dg_cli_bad_option("doctor", optopt, argv, optind);
		}
	}
	/* doctor asks no PAM: under sudo it takes root's choices only (it sends root's credentials). */
	if (dg_cli_refuse_overrides("doctor", &err) < 0)
		return dg_cli_fail(&err);
	if (optind >= argc)
		return dg_cli_usage_error("doctor", "missing TARGET, e.g. libvirt:web-1 (see --help)");
	if ((size_t)(argc - optind) > MAX_TARGETS)
		return dg_cli_usage_error("doctor", "at most %d targets per run", MAX_TARGETS);

	targets = calloc((size_t)(argc - optind), sizeof(*targets));
	if (!targets) {
		status = DG_FAILED;
		goto out;
	}
	for (int i = optind; i < argc; i++) {
		if (dg_target_parse(argv[i], &targets[n], &err) < 0) {
			status = dg_cli_usage_error("doctor", "%s", err.message);
			goto out;
		}
		n++;
	}
	if ((status = dg_cli_endpoints_finish("doctor", &so, bare_endpoint, targets, n)) != 0)
		goto out;
	if (dg_config_load(config_path, &cfg, &err) < 0) {
		status = dg_cli_fail(&err);
		goto out;
	}
	o.config = cfg;
	o.send = &so;
	out.color = !out.json && isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
	signal(SIGPIPE, SIG_IGN);

	for (size_t i = 0; i < n; i++) {
		struct dg_doctor_summary sum = { 0 };
		struct dg_error e = { 0 };
		int r;

		if (out.json)
			out.checks = json_object_new_array();
		else
			printf("%s%s\n", i ? "\n" : "", targets[i].text);
		r = dg_doctor_check(&targets[i], &o, on_check, &out, &sum, &e);
		if (out.json) {
			json_object *j = json_object_new_object();
			json_object_object_add(j, "target", json_object_new_string(targets[i].text));
			json_object_object_add(j, "provider", json_object_new_string(targets[i].provider->name));
			json_object_object_add(j, "ready", json_object_new_boolean(r == 0));
			json_object_object_add(j, "status", json_object_new_string(dg_status_name(r ? e.status : DG_OK)));
			json_object_object_add(j, "ok", json_object_new_int((int)sum.n_ok));
			json_object_object_add(j, "warn", json_object_new_int((int)sum.n_warn));
			json_object_object_add(j, "fail", json_object_new_int((int)sum.n_fail));
			json_object_object_add(j, "checks", out.checks);
			puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
			json_object_put(j);
		} else {
			printf("  => %s: %s (%u ok, %u warning%s, %u failed)\n", targets[i].text,
			       r == 0 ? "ready" : r == -DG_FAILED ? "NOT READY" : "NOT CHECKED", sum.n_ok, sum.n_warn,
			       sum.n_warn == 1 ? "" : "s", sum.n_fail);
		}
		fflush(stdout);
		if (r == 0)
			n_ready++;
		else if (!status)
			status = (int)e.status ? (int)e.status : DG_FAILED;
	}
	if (n > 1 && !out.json)
		fprintf(stderr, "%s: %zu of %zu targets ready\n", dg_cli_prog, n_ready, n);
out:
	dg_config_free(cfg);
	dg_cli_endpoints_free(&so);
	free(targets);
	return status;
}
