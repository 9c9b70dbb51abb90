/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Acting for someone else (docs/security.md, "the sudo boundary"): under sudo, diagint runs as root for an operator
 * whom the site trusts with some targets, not with root. PAM decides who may act on which target; everything else
 * that chooses where something runs, is sent or is written is root's to choose. What the operator chose on the
 * command line or in the environment is collected here as an "override": handed to PAM with the request (so a site
 * may grant it: pam_diagint's overrides=) and written into the audit record. */
#include <link.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "diagint/audit.h"

#define MAX_OVERRIDES 16

static struct {
	char kind[16];
	char value[240];
} overrides[MAX_OVERRIDES];
static size_t n_overrides;

/* Variables that choose an endpoint, a CA, credentials, a configuration or a proxy. Prefixes end in '_'+'*'. */
static const char *const redirecting_env[] = {
	"DIAGINT_CONFIG", "LIBVIRT_DEFAULT_URI", "TMPDIR",
	"AWS_*", "GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_*", "GCE_METADATA_HOST", "GCE_METADATA_IP", "OCI_*",
	"OS_*", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR",
	"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY",
	NULL,
};

static int find_lib(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	return info->dlpi_name && strstr(info->dlpi_name, (const char *)data) != NULL;
}

bool dg_cli_loaded(const char *lib)
{
	return dl_iterate_phdr(find_lib, (void *)lib) != 0;
}

bool dg_cli_delegated(void)
{
	const char *sudo = getenv("SUDO_USER");

	return getuid() == 0 && sudo && *sudo && strcmp(sudo, "root");
}

static bool env_matches(const char *entry, const char *pattern)
{
	size_t n = strlen(pattern);

	if (n && pattern[n - 1] == '*')
		return !strncmp(entry, pattern, n - 1);
	return !strncmp(entry, pattern, n) && entry[n] == '=';
}

void dg_cli_override(const char *kind, const char *value)
{
	/* Acting for oneself (root directly, or a user with their own rights) every choice is one's own. */
	if (!dg_cli_delegated() || n_overrides == MAX_OVERRIDES)
		return; /* the last slot says there were more */
	snprintf(overrides[n_overrides].kind, sizeof(overrides[0].kind), "%s",
		 n_overrides == MAX_OVERRIDES - 1 ? "more" : kind);
	snprintf(overrides[n_overrides].value, sizeof(overrides[0].value), "%s", value ? value : "");
	n_overrides++;
}

static void collect_env(void)
{
	extern char **environ;
	const struct passwd *pw = getpwuid(0);
	const char *home = getenv("HOME");

	for (char **e = environ; e && *e; e++)
		for (size_t i = 0; redirecting_env[i]; i++)
			if (env_matches(*e, redirecting_env[i])) {
				char name[64];
				size_t len = strcspn(*e, "=");

				snprintf(name, sizeof(name), "%.*s", (int)(len < sizeof(name) ? len : sizeof(name) - 1), *e);
				dg_cli_override("env", name);
				break;
			}
	/* ~/.aws, ~/.oci, ~/.config/gcloud under the operator's home would be read by root. */
	if (home && pw && strcmp(home, pw->pw_dir))
		dg_cli_override("env", "HOME");
}

int dg_cli_delegation_start(struct dg_error *err)
{
	n_overrides = 0;
	if (!dg_cli_delegated())
		return 0;
	/* The records of who did what go where root said, or the operator could hide (or forge) their own. Under
	 * uid_wrapper (the tests' "root without privilege") there is no privilege to protect: the tests' own log. */
	if (getenv(DG_AUDIT_ENV_PATH) && !dg_cli_loaded("libuid_wrapper"))
		return dg_error_set(err, DG_DENIED, "acting for %s under sudo: the audit log is root's to choose "
				    "(%s or /etc/diagint/diagint.conf); --audit-log and $%s are not accepted",
				    getenv("SUDO_USER"), DG_AUDIT_DEFAULT_PATH, DG_AUDIT_ENV_PATH);
	if (getenv(DG_AUDIT_ENV_KEY) && !dg_cli_loaded("libuid_wrapper"))
		return dg_error_set(err, DG_DENIED, "acting for %s under sudo: the audit log's key is root's to "
				    "choose; $%s is not accepted", getenv("SUDO_USER"), DG_AUDIT_ENV_KEY);
	collect_env();
	return 0;
}

size_t dg_cli_overrides_count(void)
{
	return n_overrides;
}

/* with_values: "kind=value; kind=value" (the message, the audit record, PAM's DIAGINT_OVERRIDES_DETAIL); else the
 * kinds once each, "env,uri" (PAM's DIAGINT_OVERRIDES, what overrides= grants). */
void dg_cli_overrides_format(char *buf, size_t len, bool with_values)
{
	size_t used = 0;

	if (!len)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < n_overrides && used < len; i++) {
		bool seen = false;
		int n;

		for (size_t j = 0; !with_values && j < i; j++)
			seen = seen || !strcmp(overrides[j].kind, overrides[i].kind);
		if (seen)
			continue;
		n = snprintf(buf + used, len - used, "%s%s%s%s", used ? (with_values ? "; " : ",") : "",
			     overrides[i].kind, with_values ? "=" : "", with_values ? overrides[i].value : "");
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

int dg_cli_refuse_overrides(const char *cmd, struct dg_error *err)
{
	char list[1024];

	if (!n_overrides)
		return 0;
	dg_cli_overrides_format(list, sizeof(list), true);
	return dg_error_set(err, DG_DENIED, "acting for %s under sudo, %s does not take what root's "
			    "configuration chooses (%s): ask root to set it in /etc/diagint/diagint.conf, or run it "
			    "without sudo", getenv("SUDO_USER"), cmd, list);
}
