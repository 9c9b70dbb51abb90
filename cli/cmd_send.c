/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `diagint send`: one diagnostic interrupt per target, in the clouds (GCP, AWS, OCI, OpenStack) or libvirt,
 * all targets at once (send.h). Each target is authorized and recorded in the audit log (authz.h). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "cli.h"
#include "diagint/buf.h"
#include "diagint/send.h"
#include "fleet_cli.h"

#define MAX_TARGETS 10000

void dg_cmd_send_help(void)
{
	struct dg_buf g = DG_BUF_INIT;

	dg_target_grammar(&g, "  ");
	printf("Usage: diagint send [OPTIONS] TARGET...\n\n"
	       "Send one diagnostic interrupt (an NMI: the guest kernel panics and writes its crash dump) to each\n"
	       "TARGET, all at once, with the credentials the providers' own tools use. One result line per target,\n"
	       "in the order given (or JSON lines with --json). Nothing is captured here: for a libvirt guest's\n"
	       "memory use 'diagint inject'.\n\n"
	       "Targets:\n%s"
	       "  openstack: the cloud comes from the OS_* environment (an openrc file).\n"
	       "  libvirt: the URI is --connect, else libvirt's default.\n\n",
	       dg_buf_str(&g));
	dg_buf_free(&g);
	printf("Options:\n"
	       "  -n, --dry-run          check credentials, permission and target without interrupting anything:\n"
	       "                         AWS sends DryRun (412 DryRunOperation = would succeed); GCP reads the\n"
	       "                         instance and asks testIamPermissions; OCI and OpenStack read the instance;\n"
	       "                         libvirt looks the domain up\n"
	       "  -r, --reason TEXT      why (kept in the audit log and the JSON result)\n"
	       "  -j, --json             one JSON object per target and line instead of text\n"
	       "  -e, --endpoint [PROVIDER=]URL\n"
	       "                         API endpoint (https) for private regions and tests; without PROVIDER= it\n"
	       "                         applies to the one cloud provider the targets name. Repeatable.\n"
	       "      --cacert FILE      trust this CA (PEM) for every provider; TLS is always verified\n"
	       "  -c, --connect URI      libvirt URI for libvirt: targets\n"
	       "  -t, --timeout SECONDS  per request (default 30)\n"
	       "      --retries N        extra attempts where it is safe (default %d, at most 10)\n"
	       "  -p, --parallel N       requests in flight at once (default %d)\n"
	       "      --config FILE      configuration (default %s if it exists): its [fleet] section\n"
	       "      --require-fleet    with [fleet]: refuse (status 5) when etcd cannot be asked, instead of\n"
	       "                         sending with a warning (see docs/fleet.md)\n"
	       "  -h, --help             this help\n\n",
	       DG_SEND_DEFAULT_RETRIES, DG_SEND_DEFAULT_PARALLEL, DG_CONFIG_DEFAULT_PATH);
	printf("Credentials, as each provider's own tools find them:\n"
	       "  gcp        GOOGLE_APPLICATION_CREDENTIALS (service_account key: JWT to its token_uri;\n"
	       "             authorized_user: refresh token), gcloud's application_default_credentials.json,\n"
	       "             then the metadata server (GCE_METADATA_HOST). Needs compute.instances.sendDiagnosticInterrupt.\n"
	       "  aws        AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, ~/.aws/credentials and\n"
	       "             ~/.aws/config (AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE), then IMDSv2\n"
	       "             (AWS_EC2_METADATA_SERVICE_ENDPOINT; off with AWS_EC2_METADATA_DISABLED=true).\n"
	       "             Needs ec2:SendDiagnosticInterrupt.\n"
	       "  oci        ~/.oci/config (OCI_CLI_CONFIG_FILE, OCI_CLI_PROFILE), key_file with pass_phrase when\n"
	       "             encrypted. Needs 'manage instance-family'.\n"
	       "  openstack  Keystone v3 from OS_AUTH_URL with OS_USERNAME/OS_PASSWORD/OS_PROJECT_NAME/..., or\n"
	       "             OS_AUTH_TYPE=v3applicationcredential with OS_APPLICATION_CREDENTIAL_ID/_SECRET.\n"
	       "  Key and credentials files that others can read are refused (chmod 600), as ssh does.\n"
	       "Endpoint and CA variables: AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL, AWS_CA_BUNDLE,\n"
	       "  CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE, CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE, OCI_CLI_CERT_BUNDLE,\n"
	       "  REQUESTS_CA_BUNDLE, OS_CACERT. --endpoint and --cacert win over them.\n\n"
	       "Safety: a second NMI can crash a guest again while it writes its dump, so a request is sent again\n"
	       "only when it certainly did not arrive (no connection) or the provider throttled it (429, AWS\n"
	       "RequestLimitExceeded, 503 with Retry-After), after a jittered backoff or the Retry-After asked;\n"
	       "never after a timeout once it was sent. A target given twice is sent once. Attempts are shown.\n\n"
	       "Examples:\n"
	       "  diagint send aws:us-east-1/i-0123456789abcdef0\n"
	       "  diagint send --dry-run gcp:my-project/us-central1-a/web-1 oci:us-ashburn-1/ocid1.instance.oc1..x\n"
	       "  diagint send --json --reason 'hung, ticket 4711' openstack:4f2a6c1e-5b7d-4e21-9a0b-3c8d2e1f0a9b\n"
	       "  diagint send -c qemu:///system libvirt:web-1 libvirt:web-2\n\n"
	       "Exit status: 0 when every target succeeded, else the status of the first target (in the order\n"
	       "given) that did not; each line shows its own.\n");
	dg_cli_print_exit_statuses();
}

static bool parse_count(const char *s, long lo, long hi, long *ret)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < lo || v > hi)
		return false;
	*ret = v;
	return true;
}

/* Provider messages quote remote text: keep every result on one line. */
static void print_line(const struct dg_send_result *r)
{
	char msg[DG_ERROR_MSG_MAX];

	snprintf(msg, sizeof(msg), "%s", r->message);
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	printf("%s: %s: %s (", r->target, dg_status_name(r->status), msg);
	if (r->request_id[0])
		printf("request id %s, ", r->request_id);
	printf("%u attempt%s, %.0f ms)\n", r->attempts, r->attempts == 1 ? "" : "s", r->seconds * 1000);
}

/* What the command line asks for; send_args_free() releases it. */
struct send_args {
	struct dg_send_opts o;   /* with the --endpoint options, a bare URL given to the one cloud named */
	const char *config_path;
	struct dg_target *targets; /* parsed, repeats removed */
	size_t n, n_repeated;
	bool json, require_fleet, help;
};

static void send_args_free(struct send_args *a)
{
	dg_cli_endpoints_free(&a->o);
	free(a->targets);
	a->targets = NULL;
}

/* The options and targets into *a; prints nothing but usage errors. Returns 0 or the status to exit with; *a is
 * always to be freed. */
static int parse_args(int argc, char **argv, struct send_args *a)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "reason", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "cacert", required_argument, NULL, 'C' },
		{ "connect", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "retries", required_argument, NULL, 'R' },
		{ "parallel", required_argument, NULL, 'p' },
		{ "config", required_argument, NULL, 'K' },
		{ "require-fleet", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct dg_send_opts *o = &a->o;
	const char *bare_endpoint = NULL;
	struct dg_error err = { 0 };
	int c;
	long v;

	*a = (struct send_args){ .o = { .retries = -1 } };
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "nr:je:c:t:p:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->dry_run = true;
			break;
		case 'r':
			o->reason = optarg;
			break;
		case 'j':
			a->json = true;
			break;
		case 'e':
			dg_cli_override("endpoint", optarg);
			if ((c = dg_cli_endpoint_option("send", o, optarg, &bare_endpoint)) != 0)
				return c;
			break;
		case 'C':
			dg_cli_override("cacert", optarg);
			o->cacert = optarg;
			break;
		case 'c':
			dg_cli_override("uri", optarg);
			o->libvirt_uri = optarg;
			break;
		case 't':
			if (!dg_cli_parse_seconds(optarg, 3600, &o->timeout))
				return dg_cli_usage_error("send", "bad --timeout '%s': give seconds above 0, at most 3600",
							  optarg);
			break;
		case 'R':
			if (!parse_count(optarg, 0, 10, &v))
				return dg_cli_usage_error("send", "bad --retries '%s': give 0 to 10", optarg);
			o->retries = (int)v;
			break;
		case 'p':
			if (!parse_count(optarg, 1, 1000, &v))
				return dg_cli_usage_error("send", "bad --parallel '%s': give 1 to 1000", optarg);
			o->parallel = (unsigned)v;
			break;
		case 'K':
			dg_cli_override("config", optarg);
			a->config_path = optarg;
			break;
		case 'F':
			a->require_fleet = true;
			break;
		case 'h':
			a->help = true; /* whatever follows */
			return 0;
		default:
			return dg_cli_bad_option("send", optopt, argv, optind);
		}
	}
	if (optind >= argc)
		return dg_cli_usage_error("send", "missing TARGET, e.g. aws:us-east-1/i-0123456789abcdef0 (see --help)");
	if ((size_t)(argc - optind) > MAX_TARGETS)
		return dg_cli_usage_error("send", "at most %d targets per run", MAX_TARGETS);

	/* Every target is parsed before anything is sent: one typo stops the whole run. */
	a->targets = calloc((size_t)(argc - optind), sizeof(*a->targets));
	if (!a->targets)
		return DG_FAILED;
	for (int i = optind; i < argc; i++) {
		if (dg_target_parse(argv[i], &a->targets[a->n], &err) < 0)
			return dg_cli_usage_error("send", "%s", err.message);
		a->n++;
	}
	{
		size_t m = dg_send_dedupe(a->targets, a->n);

		a->n_repeated = a->n - m;
		a->n = m;
	}
	return dg_cli_endpoints_finish("send", o, bare_endpoint, a->targets, a->n);
}

static int run(const struct send_args *a)
{
	const struct dg_send_opts o = a->o;
	const struct dg_target *targets = a->targets;
	const char *config_path = a->config_path;
	bool json = a->json, require_fleet = a->require_fleet;
	size_t n = a->n;
	struct dg_send_result *results = NULL;
	struct dg_authz *az = NULL;
	bool *authorized = NULL;
	struct dg_sender *sender = NULL;
	struct dg_error err = { 0 };
	size_t n_ok = 0, n_run = 0;
	bool config_failed = false;
	struct dg_error config_err = { 0 };
	struct dg_config *cfg = NULL;
	struct dg_cli_fleet fleet = { 0 };
	struct dg_cli_fleet_ticket *tickets = NULL;
	int status = 0;

	if (a->n_repeated)
		fprintf(stderr, "%s: %zu repeated target%s ignored: each machine gets one interrupt\n", dg_cli_prog,
			a->n_repeated, a->n_repeated == 1 ? "" : "s");

	/* The configuration matters here only for [fleet]: a default file that cannot be read is a warning. An
	 * operator's --config under sudo is read only once PAM granted the first target (as inject does). */
	bool config_after_pam = dg_cli_delegated() && config_path;

	if (!config_after_pam && dg_config_load(config_path, &cfg, &err) < 0) {
		if (config_path || require_fleet) {
			status = dg_cli_fail(&err);
			goto out;
		}
		fprintf(stderr, "%s: warning: fleet brakes not consulted: %s\n", dg_cli_prog, err.message);
		dg_error_clear(&err);
	}
	dg_cli_fleet_init(&fleet, cfg, require_fleet);

	results = calloc(n, sizeof(*results));
	az = calloc(n, sizeof(*az));
	authorized = calloc(n, sizeof(*authorized));
	tickets = calloc(n, sizeof(*tickets));
	if (!results || !az || !authorized || !tickets) {
		status = DG_FAILED;
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);

	/* Who may, who did: each target is authorized (PAM) and recorded before anything is sent. Denied targets
	 * get their result here; the rest go out together. */
	{
		struct dg_target *run = calloc(n, sizeof(*run));
		struct dg_send_result *run_res = calloc(n, sizeof(*run_res));
		size_t *index = calloc(n, sizeof(*index));
		if (!run || !run_res || !index) {
			free(run);
			free(run_res);
			free(index);
			status = DG_FAILED;
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			struct dg_error e = { 0 };
			snprintf(results[i].target, sizeof(results[i].target), "%s", targets[i].text);
			results[i].provider = targets[i].provider->name;
			results[i].dry_run = o.dry_run;
			if (o.dry_run) {
				/* A dry run interrupts nothing: no authorization step, no audit record. */
				authorized[i] = false;
			} else if (dg_authz_begin(&az[i], "send", targets[i].text, false, &e) < 0) {
				results[i].status = e.status;
				snprintf(results[i].message, sizeof(results[i].message), "%s", e.message);
				continue;
			} else {
				authorized[i] = true;
				if (o.reason)
					snprintf(az[i].ev.reason, sizeof(az[i].ev.reason), "%s", o.reason);
				if (config_after_pam) {
					config_after_pam = false;
					if (dg_config_load(config_path, &cfg, &config_err) < 0)
						config_failed = true;
					dg_cli_fleet_init(&fleet, cfg, require_fleet);
				}
				/* [fleet]: claimed by another monitor -> 6, not sent; the refusal is recorded. */
				if (config_failed)
					e = config_err;
				if (config_failed ||
				    dg_cli_fleet_claim(&fleet, targets[i].text, "send", &az[i], &tickets[i], &e) < 0) {
					results[i].status = e.status;
					snprintf(results[i].message, sizeof(results[i].message), "%s", e.message);
					dg_authz_end(&az[i], -(int)e.status, &e, NULL, NULL, 0);
					continue;
				}
			}
			run[n_run] = targets[i];
			index[n_run++] = i;
		}
		if (n_run) {
			if (dg_sender_new(&o, &sender, &err) < 0) {
				for (size_t k = 0; k < n_run; k++) {
					results[index[k]].status = err.status;
					snprintf(results[index[k]].message, sizeof(results[index[k]].message), "%s", err.message);
				}
			} else {
				dg_sender_run(sender, run, n_run, run_res);
				for (size_t k = 0; k < n_run; k++) {
					size_t i = index[k];
					results[i] = run_res[k];
					/* point into the caller's copy, which outlives run[] */
					results[i].provider = targets[i].provider->name;
				}
			}
			for (size_t k = 0; k < n_run; k++) {
				size_t i = index[k];
				struct dg_error e = { .status = results[i].status };
				if (!authorized[i])
					continue;
				/* Not sent, or refused by the provider (no such instance, no permission): no interrupt. */
				if (results[i].status != DG_OK &&
				    (!results[i].sent || results[i].status == DG_NOTFOUND ||
				     results[i].status == DG_DENIED || results[i].status == DG_USAGE))
					dg_cli_fleet_unclaim(&fleet, &tickets[i]);
				snprintf(e.message, sizeof(e.message), "%s", results[i].message);
				snprintf(e.request_id, sizeof(e.request_id), "%s", results[i].request_id);
				/* Success has a request id too: the provider's receipt for the interrupt. */
				snprintf(az[i].ev.request_id, sizeof(az[i].ev.request_id), "%s", results[i].request_id);
				dg_authz_end(&az[i], -(int)results[i].status, &e, NULL, NULL, (int)results[i].attempts);
			}
		}
		free(run);
		free(run_res);
		free(index);
	}

	for (size_t i = 0; i < n; i++) {
		if (json) {
			json_object *j = dg_send_result_to_json(&results[i], o.reason);
			puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
			json_object_put(j);
		} else {
			print_line(&results[i]);
		}
		if (results[i].status == DG_OK)
			n_ok++;
		else if (!status)
			status = (int)results[i].status;
	}
	fflush(stdout);
	if (n > 1 && !json)
		fprintf(stderr, "%s: %zu of %zu target%s %s\n", dg_cli_prog, n_ok, n, n == 1 ? "" : "s",
			o.dry_run ? "would succeed (dry run)" : "done");
out:
	dg_cli_fleet_close(&fleet);
	dg_config_free(cfg);
	free(tickets);
	dg_sender_free(sender);
	free(results);
	free(az);
	free(authorized);
	return status;
}

int dg_cmd_send(int argc, char **argv)
{
	struct send_args a;
	int r = parse_args(argc, argv, &a);

	if (r == 0 && a.help)
		dg_cmd_send_help();
	else if (r == 0)
		r = run(&a);
	send_args_free(&a);
	return r;
}
