/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* --endpoint [PROVIDER=]URL, shared by the commands that reach clouds (send, doctor). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "diagint/provider.h"
#include "diagint/send.h"

int dg_cli_endpoint_option(const char *cmd, struct dg_send_opts *o, const char *arg, const char **bare)
{
	const char *eq = strchr(arg, '='), *colon = strstr(arg, "://");

	if (!eq || (colon && eq > colon)) {
		*bare = arg; /* resolved against the targets once they are known */
		return 0;
	}
	if (!dg_provider_find(arg, (size_t)(eq - arg)))
		return dg_cli_usage_error(cmd, "--endpoint %s: unknown provider before '='", arg);
	if (o->n_endpoints == DG_SEND_MAX_ENDPOINTS)
		return dg_cli_usage_error(cmd, "too many --endpoint options");
	o->endpoints[o->n_endpoints].provider = strndup(arg, (size_t)(eq - arg));
	o->endpoints[o->n_endpoints++].url = eq + 1;
	return 0;
}

/* A CA file that cannot be used would show only as a TLS failure per request, after the name lookups (or hang
 * curl's open on a FIFO): said once, before anything is asked. */
static int check_cacert(const char *cmd, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), e;

	if (fd < 0)
		return dg_cli_usage_error(cmd, "--cacert %s: %s; name a PEM file of CA certificates", path,
					  strerror(errno));
	e = fstat(fd, &st) < 0 || !S_ISREG(st.st_mode);
	close(fd);
	if (e)
		return dg_cli_usage_error(cmd, "--cacert %s is not a regular file (a FIFO, a device or a directory); name "
					  "a PEM file of CA certificates", path);
	return 0;
}

int dg_cli_endpoints_finish(const char *cmd, struct dg_send_opts *o, const char *bare, const struct dg_target *t,
			    size_t n)
{
	const struct dg_provider *only = NULL;
	int r;

	/* Not under sudo: there root would be probing the operator's path before PAM has decided. */
	if (o->cacert && !dg_cli_delegated() && (r = check_cacert(cmd, o->cacert)) != 0)
		return r;
	/* TLS is never switched off, and a plain http:// endpoint would be exactly that. */
	for (unsigned i = 0; i < o->n_endpoints; i++)
		if (strncmp(o->endpoints[i].url, "https://", 8))
			return dg_cli_usage_error(cmd, "--endpoint %s=%s: the endpoint must be an https:// URL",
						  o->endpoints[i].provider, o->endpoints[i].url);
	if (!bare)
		return 0;
	if (strncmp(bare, "https://", 8))
		return dg_cli_usage_error(cmd, "--endpoint %s: the endpoint must be an https:// URL", bare);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(t[i].provider->name, "libvirt"))
			continue;
		if (only && only != t[i].provider)
			return dg_cli_usage_error(cmd, "--endpoint %s is ambiguous: the targets name more than one cloud; "
						  "write --endpoint PROVIDER=URL", bare);
		only = t[i].provider;
	}
	if (only && o->n_endpoints < DG_SEND_MAX_ENDPOINTS) {
		o->endpoints[o->n_endpoints].provider = strdup(only->name);
		o->endpoints[o->n_endpoints++].url = bare;
	}
	return 0;
}

void dg_cli_endpoints_free(struct dg_send_opts *o)
{
	for (unsigned i = 0; i < o->n_endpoints; i++)
		free((char *)o->endpoints[i].provider);
	o->n_endpoints = 0;
}
