/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* [fleet] of diagint.conf (fleet.h): etcd endpoints, TLS, credentials, key prefix, timeouts. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "diagint/config.h"
#include "diagint/fleet.h"

void dg_fleet_config_default(struct dg_fleet_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->key_prefix, sizeof(c->key_prefix), "/diagint/");
	c->dial_timeout = 2;
	c->command_timeout = 5;
}

static int fail(char *errbuf, size_t len, const char *fmt, const char *a, const char *b)
{
	if (errbuf && len)
		snprintf(errbuf, len, fmt, a, b);
	return -1;
}

static bool url_ok(const char *u)
{
	const char *host;

	if (!strncasecmp(u, "https://", 8))
		host = u + 8;
	else if (!strncasecmp(u, "http://", 7))
		host = u + 7;
	else
		return false;
	/* HOST[:PORT] and nothing else: the gateway paths are ours to add. */
	if (!*host || strpbrk(host, "/?#@ \t"))
		return false;
	for (const char *p = u; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

static int set_path(char *dst, size_t size, const char *key, const char *value, char *errbuf, size_t len)
{
	if (value[0] != '/')
		return fail(errbuf, len, "%s '%s' must be an absolute path", key, value);
	if (strlen(value) >= size)
		return fail(errbuf, len, "%s '%s' is too long", key, value);
	snprintf(dst, size, "%s", value);
	return 1;
}

int dg_fleet_config_entry(struct dg_fleet_config *c, const char *key, const char *value, char *errbuf, size_t len)
{
	double d;

	if (!strcasecmp(key, "Endpoints")) {
		char copy[4096], *save = NULL;
		if (strlen(value) >= sizeof(copy))
			return fail(errbuf, len, "%s is too long%s", key, "");
		snprintf(copy, sizeof(copy), "%s", value);
		c->n_endpoints = 0;
		/* Space or comma separated, as etcdctl's --endpoints takes a comma list. */
		for (char *t = strtok_r(copy, " \t,", &save); t; t = strtok_r(NULL, " \t,", &save)) {
			if (!url_ok(t) || strlen(t) >= sizeof(c->endpoints[0]))
				return fail(errbuf, len, "Endpoints: '%s' is not an etcd client URL (http(s)://HOST:PORT, "
					    "e.g. https://10.0.0.1:2379)%s", t, "");
			if (c->n_endpoints >= DG_FLEET_MAX_ENDPOINTS)
				return fail(errbuf, len, "Endpoints: more than %s URLs%s", "8", "");
			snprintf(c->endpoints[c->n_endpoints++], sizeof(c->endpoints[0]), "%s", t);
		}
		if (!c->n_endpoints)
			return fail(errbuf, len, "Endpoints is empty: give the etcd client URLs%s%s", "", "");
	} else if (!strcasecmp(key, "CACert")) {
		return set_path(c->cacert, sizeof(c->cacert), key, value, errbuf, len);
	} else if (!strcasecmp(key, "Cert")) {
		return set_path(c->cert, sizeof(c->cert), key, value, errbuf, len);
	} else if (!strcasecmp(key, "Key")) {
		return set_path(c->key, sizeof(c->key), key, value, errbuf, len);
	} else if (!strcasecmp(key, "User")) {
		if (!*value || strlen(value) >= sizeof(c->user) || strpbrk(value, ": \t"))
			return fail(errbuf, len, "User '%s' is not an etcd user name%s", value, "");
		snprintf(c->user, sizeof(c->user), "%s", value);
	} else if (!strcasecmp(key, "Password")) {
		if (!*value || strlen(value) >= sizeof(c->password))
			return fail(errbuf, len, "Password is empty or longer than 255 bytes%s%s", "", "");
		snprintf(c->password, sizeof(c->password), "%s", value);
	} else if (!strcasecmp(key, "KeyPrefix")) {
		size_t n = strlen(value);
		if (n < 2 || value[0] != '/' || value[n - 1] != '/' || n >= sizeof(c->key_prefix) ||
		    strpbrk(value, " \t"))
			return fail(errbuf, len, "KeyPrefix '%s' must start and end with '/' (e.g. /diagint/)%s", value, "");
		snprintf(c->key_prefix, sizeof(c->key_prefix), "%s", value);
	} else if (!strcasecmp(key, "DialTimeout") || !strcasecmp(key, "CommandTimeout")) {
		if (dg_config_parse_seconds(value, &d) < 0 || d < 0.1 || d > 600)
			return fail(errbuf, len, "%s '%s' is not a duration from 0.1 s to 10 min (e.g. 2s, 500ms)", key, value);
		if (!strcasecmp(key, "DialTimeout"))
			c->dial_timeout = d;
		else
			c->command_timeout = d;
	} else if (!strcasecmp(key, "Monitor")) {
		if (!*value || strlen(value) >= sizeof(c->monitor) || strchr(value, '/'))
			return fail(errbuf, len, "Monitor '%s' must be 1 to 127 printable bytes without '/' (e.g. watch@%s)",
				    value, "kvm7");
		for (const char *p = value; *p; p++)
			if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
				return fail(errbuf, len, "Monitor '%s' must be printable, without spaces%s", value, "");
		snprintf(c->monitor, sizeof(c->monitor), "%s", value);
	} else if (!strcasecmp(key, "RequireFleet")) {
		if (dg_config_parse_bool(value, &c->require_fleet) < 0)
			return fail(errbuf, len, "RequireFleet '%s' is not a boolean (yes/no)%s", value, "");
	} else {
		return 0;
	}
	return 1;
}

void dg_fleet_monitor_name(const struct dg_fleet_config *c, const char *kind, char *buf, size_t len)
{
	char host[128] = "localhost";

	if (c && c->monitor[0]) {
		snprintf(buf, len, "%s", c->monitor);
		return;
	}
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	snprintf(buf, len, "%s@%s", kind, host);
	for (char *p = buf; *p; p++)
		if (*p == '/' || (unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			*p = '_';
}

int dg_fleet_config_check(const struct dg_fleet_config *c, char *errbuf, size_t len)
{
	bool all_https = true;

	if (!c->n_endpoints)
		return fail(errbuf, len, "[fleet] needs Endpoints (the etcd client URLs, e.g. Endpoints = "
			    "https://10.0.0.1:2379 https://10.0.0.2:2379 https://10.0.0.3:2379)%s%s", "", "");
	for (unsigned i = 0; i < c->n_endpoints; i++)
		if (strncasecmp(c->endpoints[i], "https://", 8))
			all_https = false;
	if ((c->user[0] || c->password[0] || c->cert[0]) && !all_https)
		return fail(errbuf, len, "[fleet]: User/Password and client certificates go over https only: make every "
			    "endpoint https://%s%s", "", "");
	if (!!c->user[0] != !!c->password[0])
		return fail(errbuf, len, "[fleet]: give User and Password together%s%s", "", "");
	if (!!c->cert[0] != !!c->key[0])
		return fail(errbuf, len, "[fleet]: give Cert and Key together%s%s", "", "");
	return 0;
}
