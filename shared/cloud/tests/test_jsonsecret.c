/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Secrets in json-c's memory are overwritten before it is freed: the helper on its own (a reference kept on
 * the parts, so they can be read after the tree is released), then every parser and builder of secret JSON
 * end to end (no block handed back to free() still holds the secret). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cloud/creds_aws.h"
#include "cloud/creds_gcp.h"
#include "cloud/creds_openstack.h"
#include "base/ini.h"
#include "cloud/jsonsecret.h"
#include "fake_resp.h"
#include "freescan.h"
#include "tap.h"

#define MARK "SeCrEt-7f3a9c-do-not-keep"

static bool zeroed(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void helper(void)
{
	json_object *root = dg_json_parse_secret("{\"a\":{\"b\":[1,\"" MARK "\"]},\"private_key\":\"" MARK "\"}");
	json_object *deep, *top;
	const char *text;
	size_t len;
	char *printed;

	CHECK(root != NULL, "parses like json_tokener_parse");
	CHECK(dg_json_parse_secret("{\"a\":") == NULL && dg_json_parse_secret(NULL) == NULL, "not JSON: NULL");
	deep = json_object_get(json_object_array_get_idx(json_object_object_get(json_object_object_get(root, "a"), "b"),
							 1));
	top = json_object_get(json_object_object_get(root, "private_key"));
	dg_json_put_secret(root);
	CHECK(zeroed(json_object_get_string(deep), strlen(MARK)) && zeroed(json_object_get_string(top), strlen(MARK)),
	      "every string of the tree is wiped, at any depth, before the tree is released");
	json_object_put(deep);
	json_object_put(top);

	root = json_object_new_object();
	json_object_object_add(root, "password", json_object_new_string(MARK));
	json_object_get(root); /* kept, to read json-c's copy of the printed text afterwards */
	text = json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN, &len);
	printed = dg_json_print_secret(root, JSON_C_TO_STRING_PLAIN);
	CHECK_STR(printed, "{\"password\":\"" MARK "\"}", "printed as json-c prints it");
	CHECK(zeroed(text, len), "json-c's copy of the printed text is wiped");
	CHECK(zeroed(json_object_get_string(json_object_object_get(root, "password")), strlen(MARK)),
	      "and the tree's strings");
	json_object_put(root);
	free(printed);
}

static void end_to_end(void)
{
	struct dg_http_resp resp = { 0 };
	struct dg_aws_creds c = { 0 };
	struct dg_gcp_auth g = { 0 };
	struct dg_os_auth os = { 0 };
	struct dg_error err = { 0 };
	char why[200] = "";

	if (!freescan_active()) {
		printf("# under ASan free() is the sanitizer's: the end-to-end checks run in the plain build\n");
		return;
	}
	freescan_watch(MARK);
	CHECK(dg_aws_imds_document("{\"Code\":\"Success\",\"AccessKeyId\":\"AKIDEXAMPLE\",\"SecretAccessKey\":\"" MARK
				   "\",\"Token\":\"tok-" MARK "\",\"Expiration\":\"2030-01-01T00:00:00Z\"}",
				   &c, why, sizeof(why)) == 1,
	      "IMDS document read (%s)", why);
	dg_aws_creds_clear(&c);
	CHECK(freescan_hits == 0, "AWS IMDS SecretAccessKey and Token: no freed block holds them (%u did)",
	      freescan_hits);

	freescan_watch(MARK);
	g.kind = DG_GCP_SERVICE_ACCOUNT;
	snprintf(g.source, sizeof(g.source), "test");
	fake_resp(&resp, 200, "{\"access_token\":\"ya29." MARK "\",\"expires_in\":3599,\"token_type\":\"Bearer\"}", NULL);
	CHECK(dg_gcp_token_answer(&g, &resp, 1000, &err) == 0, "Google token answer read (%s)", err.message);
	dg_http_resp_clear(&resp);
	dg_gcp_auth_clear(&g);
	CHECK(freescan_hits == 0, "Google access_token: no freed block holds it (%u did)", freescan_hits);

	freescan_watch(MARK);
	setenv("OS_AUTH_URL", "https://127.0.0.1:5000/v3", 1);
	setenv("OS_USERNAME", "demo", 1);
	setenv("OS_PASSWORD", MARK, 1);
	setenv("OS_PROJECT_NAME", "demo", 1);
	setenv("OS_USER_DOMAIN_NAME", "Default", 1);
	setenv("OS_PROJECT_DOMAIN_NAME", "Default", 1);
	CHECK(dg_os_auth_init(&os, &err) == 0 && os.body && strstr(os.body, MARK), "Keystone request built (%s)",
	      err.message);
	dg_os_auth_clear(&os);
	CHECK(freescan_hits == 0, "OpenStack password: no freed block holds it (%u did)", freescan_hits);

	{
		struct dg_ini ini;
		freescan_watch(MARK);
		CHECK(dg_ini_load("[default]\naws_secret_access_key = " MARK "\nkey_file =\n  " MARK "\n", "creds", &ini,
				  &err) == 0, "credentials file read (%s)", err.message);
		dg_ini_free(&ini);
		CHECK(freescan_hits == 0, "INI values (AWS keys, OCI pass phrases): inih's line buffer and ours wiped "
		      "(%u blocks held one)", freescan_hits);
	}
	freescan_watch(NULL);
}

int main(void)
{
	helper();
	end_to_end();
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
