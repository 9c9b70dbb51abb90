/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* AWS credential chain without the network (http NULL: no metadata service): environment, shared credentials
 * file, config file, AWS_PROFILE, the errors that name the fix. IMDSv2 runs against the lab (test_send.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diagint/creds_aws.h"
#include "tap.h"

static char home[] = "/tmp/dg-aws-XXXXXX";

static void put(const char *name, const char *text, mode_t mode)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/.aws/%s", home, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void clean_env(void)
{
	const char *vars[] = { "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
			       "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", NULL };
	for (const char **v = vars; *v; v++)
		unsetenv(*v);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	setenv("HOME", home, 1);
}

int main(void)
{
	struct dg_aws_creds c;
	struct dg_error err = { 0 };
	char path[256];

	if (!mkdtemp(home))
		return 1;
	snprintf(path, sizeof(path), "%s/.aws", home);
	mkdir(path, 0700);
	clean_env();

	CHECK(dg_aws_creds_resolve(NULL, NULL, &c, &err) == -DG_DENIED, "nothing configured: DG_DENIED");
	CHECK(strstr(err.message, "AWS_ACCESS_KEY_ID") && strstr(err.message, "AWS_EC2_METADATA_DISABLED"),
	      "message lists the sources: %s", err.message);

	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	CHECK(dg_aws_creds_resolve(NULL, NULL, &c, &err) == -DG_USAGE && strstr(err.message, "AWS_SECRET_ACCESS_KEY"),
	      "half a key pair: usage error naming the other half");
	setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
	setenv("AWS_SESSION_TOKEN", "tokenenv", 1);
	CHECK(dg_aws_creds_resolve(NULL, NULL, &c, &err) == 0, "environment keys");
	CHECK_STR(c.access_key_id, "AKIDENV", "key id from the environment");
	CHECK_STR(c.session_token, "tokenenv", "session token from the environment");
	CHECK(strstr(c.source, "environment") && !strstr(c.source, "secretenv"), "source named, secret not: %s", c.source);
	dg_aws_creds_clear(&c);
	clean_env();

	put("credentials", "[default]\naws_access_key_id = AKIDDEF\naws_secret_access_key = s1\n\n[lab]\n"
			   "aws_access_key_id=AKIDLAB\naws_secret_access_key=s2\naws_session_token=t2\n", 0600);
	/* Keys in the config file make it a secret: readable by others, it is refused like credentials. */
	put("config", "[default]\nregion = us-east-1\n[profile cfg]\naws_access_key_id = AKIDCFG\n"
		      "aws_secret_access_key = s3\nca_bundle = /etc/ca.pem\n[profile sso]\nsso_session = corp\n", 0644);
	CHECK(dg_aws_creds_resolve(NULL, NULL, &c, &err) == -DG_USAGE && strstr(err.message, "accessible by others") &&
		      strstr(err.message, "chmod 600"), "a 0644 config holding a secret key: refused (%s)", err.message);
	put("config", "[default]\nregion = us-east-1\n[profile cfg]\naws_access_key_id = AKIDCFG\n"
		      "aws_secret_access_key = s3\nca_bundle = /etc/ca.pem\n[profile sso]\nsso_session = corp\n", 0600);
	CHECK(dg_aws_creds_resolve(NULL, NULL, &c, &err) == 0, "default profile from the credentials file");
	CHECK_STR(c.access_key_id, "AKIDDEF", "[default]");
	CHECK(c.session_token == NULL, "no token for long-term keys");
	dg_aws_creds_clear(&c);

	setenv("AWS_PROFILE", "lab", 1);
	CHECK(dg_aws_creds_resolve(NULL, NULL, &c, &err) == 0, "AWS_PROFILE=lab");
	CHECK_STR(c.access_key_id, "AKIDLAB", "[lab]");
	CHECK_STR(c.session_token, "t2", "its session token");
	CHECK(strstr(c.source, "profile 'lab'") != NULL, "source names the profile: %s", c.source);
	dg_aws_creds_clear(&c);

	setenv("AWS_PROFILE", "cfg", 1);
	CHECK(dg_aws_creds_resolve(NULL, NULL, &c, &err) == 0, "profile from the config file ([profile cfg])");
	CHECK_STR(c.access_key_id, "AKIDCFG", "[profile cfg]");
	CHECK_STR(c.ca_bundle, "/etc/ca.pem", "ca_bundle from the profile");
	dg_aws_creds_clear(&c);

	setenv("AWS_PROFILE", "sso", 1);
	CHECK(dg_aws_creds_resolve(NULL, NULL, &c, &err) == -DG_USAGE && strstr(err.message, "export-credentials"),
	      "SSO profile: unsupported, with the workaround: %s", err.message);
	setenv("AWS_PROFILE", "nope", 1);
	CHECK(dg_aws_creds_resolve(NULL, NULL, &c, &err) == -DG_USAGE && strstr(err.message, "'nope'"),
	      "unknown AWS_PROFILE is a usage error");

	unsetenv("AWS_PROFILE");
	put("credentials", "[default]\naws_access_key_id = AKIDDEF\naws_secret_access_key = s1\n", 0640);
	CHECK(dg_aws_creds_resolve(NULL, NULL, &c, &err) == -DG_USAGE && strstr(err.message, "chmod 600"),
	      "credentials file readable by the group is refused: %s", err.message);

	c.access_key_id = (char *)"x";
	c.expiration = 0;
	CHECK(dg_aws_creds_fresh(&c, 1000), "no expiry: fresh");
	c.expiration = 1000 + 600;
	CHECK(dg_aws_creds_fresh(&c, 1000), "10 minutes left: fresh");
	c.expiration = 1000 + 200;
	CHECK(!dg_aws_creds_fresh(&c, 1000), "under 5 minutes left: refresh");
	CHECK(dg_parse_iso8601("2015-08-30T12:36:00Z") == 1440938160, "ISO 8601");
	CHECK(dg_parse_iso8601("2015-08-30T12:36:00.123Z") == 1440938160, "ISO 8601 with fraction");
	CHECK(dg_parse_iso8601("yesterday") == -1, "garbage");

	snprintf(path, sizeof(path), "rm -rf %s", home);
	if (system(path) != 0)
		return 1;
	return tap_done();
}
