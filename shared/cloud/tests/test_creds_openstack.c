/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Keystone v3 auth requests from the OS_* environment (no network): password and application credential. */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cloud/creds_openstack.h"
#include "tap.h"

static const char *const vars[] = { "OS_AUTH_URL", "OS_AUTH_TYPE", "OS_USERNAME", "OS_USER_ID", "OS_PASSWORD",
				    "OS_USER_DOMAIN_NAME", "OS_USER_DOMAIN_ID", "OS_PROJECT_NAME", "OS_PROJECT_ID",
				    "OS_TENANT_NAME", "OS_TENANT_ID", "OS_PROJECT_DOMAIN_NAME", "OS_PROJECT_DOMAIN_ID",
				    "OS_APPLICATION_CREDENTIAL_ID", "OS_APPLICATION_CREDENTIAL_NAME",
				    "OS_APPLICATION_CREDENTIAL_SECRET", "OS_INTERFACE", "OS_REGION_NAME", NULL };

static const char *path(json_object *j, const char *a, const char *b, const char *c, const char *d, const char *e)
{
	const char *keys[] = { a, b, c, d, e };
	for (int i = 0; i < 5 && keys[i]; i++)
		if (!json_object_object_get_ex(j, keys[i], &j))
			return NULL;
	return json_object_get_string(j);
}

int main(void)
{
	struct dg_os_auth a;
	struct dg_error err = { 0 };
	json_object *j;

	for (const char *const *v = vars; *v; v++)
		unsetenv(*v);
	CHECK(dg_os_auth_init(&a, &err) == -DG_USAGE && strstr(err.message, "OS_AUTH_URL"), "no cloud: OS_AUTH_URL");

	setenv("OS_AUTH_URL", "https://keystone:5000/", 1);
	setenv("OS_USERNAME", "u", 1);
	CHECK(dg_os_auth_init(&a, &err) == -DG_USAGE && strstr(err.message, "OS_PASSWORD"), "password missing");
	setenv("OS_PASSWORD", "pw", 1);
	setenv("OS_PROJECT_NAME", "p", 1);
	setenv("OS_USER_DOMAIN_NAME", "Users", 1);
	CHECK(dg_os_auth_init(&a, &err) == 0, "password auth (%s)", err.message);
	CHECK_STR(a.auth_url, "https://keystone:5000/v3", "/v3 appended once");
	CHECK_STR(a.interface, "public", "public interface by default");
	j = json_tokener_parse(a.body);
	CHECK_STR(path(j, "auth", "identity", "password", "user", "name"), "u", "user name");
	CHECK_STR(path(j, "auth", "identity", "password", "user", "password"), "pw", "password");
	CHECK_STR(path(j, "auth", "scope", "project", "name", NULL), "p", "project scope");
	CHECK_STR(path(j, "auth", "scope", "project", "domain", "name"), "Default", "project domain defaults to Default");
	CHECK(!strstr(a.source, "pw"), "source does not show the password: %s", a.source);
	json_object_put(j);
	dg_os_auth_clear(&a);

	setenv("OS_AUTH_URL", "https://keystone/identity/v3", 1);
	setenv("OS_AUTH_TYPE", "v3applicationcredential", 1);
	CHECK(dg_os_auth_init(&a, &err) == -DG_USAGE && strstr(err.message, "OS_APPLICATION_CREDENTIAL_SECRET"),
	      "application credential needs its secret");
	setenv("OS_APPLICATION_CREDENTIAL_ID", "acid", 1);
	setenv("OS_APPLICATION_CREDENTIAL_SECRET", "acsecret", 1);
	CHECK(dg_os_auth_init(&a, &err) == 0, "application credential");
	CHECK_STR(a.auth_url, "https://keystone/identity/v3", "URL already ending in /v3 kept");
	j = json_tokener_parse(a.body);
	CHECK_STR(path(j, "auth", "identity", "application_credential", "id", NULL), "acid", "credential id");
	CHECK_STR(path(j, "auth", "identity", "application_credential", "secret", NULL), "acsecret", "secret");
	CHECK(path(j, "auth", "scope", NULL, NULL, NULL) == NULL, "no scope: the credential carries its project");
	json_object_put(j);
	dg_os_auth_clear(&a);

	setenv("OS_AUTH_TYPE", "token", 1);
	CHECK(dg_os_auth_init(&a, &err) == -DG_USAGE && strstr(err.message, "OS_AUTH_TYPE=token"), "other auth types");
	dg_os_auth_clear(NULL);
	return tap_done();
}
