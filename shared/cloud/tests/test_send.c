/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The send engine: backoff, de-duplication, JSON results, and a whole run against a closed loopback port
 * (retried, because nothing was ever sent) and with broken credentials (nothing sent at all). */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "diagint/send.h"
#include "tap.h"

static int closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &len);
	close(fd);
	return ntohs(a.sin_port);
}

int main(void)
{
	struct dg_target t[4];
	struct dg_send_result res[4];
	struct dg_sender *s = NULL;
	struct dg_error err = { 0 };
	char url[64];
	json_object *j;
	int r;

	CHECK(dg_send_endpoint_check("aws", "https://127.0.0.1:8443/", &err) == 0 &&
	      dg_send_endpoint_check("openstack", "HTTPS://keystone/v3", &err) == 0, "endpoint: https is taken");
	CHECK(dg_send_endpoint_check("aws", "http://127.0.0.1:8080/", &err) == -DG_USAGE &&
	      strstr(err.message, "https only") && strstr(err.message, "https://127.0.0.1:8080/"),
	      "endpoint: http is refused, the fix names the https URL: %s", err.message);
	CHECK(dg_send_endpoint_check("aws", "ec2.example", &err) == -DG_USAGE && strstr(err.message, "https://ec2.example"),
	      "endpoint: no scheme is refused: %s", err.message);
	CHECK(dg_send_endpoint_check("azure", "https://x/", &err) == -DG_USAGE && strstr(err.message, "no such provider"),
	      "endpoint: an unknown provider is refused: %s", err.message);
	CHECK(dg_send_backoff(0.5, 1, -1, 0) == 0.25 && dg_send_backoff(0.5, 1, -1, 0.999) < 0.5,
	      "first retry: 0.25-0.5 s");
	CHECK(dg_send_backoff(0.5, 3, -1, 0) == 1.0, "doubles per retry (jitter floor d/2)");
	CHECK(dg_send_backoff(0.5, 30, -1, 1) <= 20, "capped at 20 s");
	CHECK(dg_send_backoff(0.5, 1, 7, 0.5) == 7, "Retry-After wins");

	dg_target_parse("aws:us-east-1/i-0123456789abcdef0", &t[0], NULL);
	dg_target_parse("libvirt:a", &t[1], NULL);
	t[2] = t[0];
	dg_target_parse("libvirt:b", &t[3], NULL);
	CHECK(dg_send_dedupe(t, 4) == 3 && !strcmp(t[2].text, "libvirt:b"), "repeated target dropped, order kept");

	/* Connection refused: never sent, so retried, then unavailable. */
	setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/", closed_port());
	{
		struct dg_send_opts o = { .retries = 2, .retry_base = 0.01, .endpoints = { { "aws", url } },
					  .n_endpoints = 1 };
		CHECK(dg_sender_new(&o, &s, &err) == 0, "sender");
		r = dg_sender_run(s, t, 1, res);
		CHECK(r == -DG_UNAVAILABLE && res[0].status == DG_UNAVAILABLE, "refused: unavailable");
		CHECK(res[0].attempts == 3 && !res[0].sent, "3 attempts (1 + 2 retries), none sent");
		CHECK(strstr(res[0].message, "cannot reach") && strstr(res[0].message, "gave up after 3 attempts"),
		      "message: %s", res[0].message);
		j = dg_send_result_to_json(&res[0], "why");
		CHECK(!strcmp(json_object_get_string(json_object_object_get(j, "status")), "unavailable") &&
			      json_object_get_int(json_object_object_get(j, "exit")) == 5 &&
			      json_object_get_int(json_object_object_get(j, "attempts")) == 3 &&
			      !strcmp(json_object_get_string(json_object_object_get(j, "reason")), "why") &&
			      json_object_object_get(j, "request_id") == NULL,
		      "JSON: %s", json_object_to_json_string(j));
		json_object_put(j);
		dg_sender_free(s);
	}

	/* Broken credentials: every target of the provider fails, nothing goes out. */
	unsetenv("AWS_SECRET_ACCESS_KEY");
	{
		struct dg_send_opts o = { .retries = -1, .endpoints = { { "aws", url } }, .n_endpoints = 1 };
		dg_target_parse("aws:us-east-1/i-0123456789abcdef1", &t[1], NULL);
		dg_sender_new(&o, &s, &err);
		r = dg_sender_run(s, t, 2, res);
		CHECK(r == -DG_USAGE && res[0].status == DG_USAGE && res[1].status == DG_USAGE, "both targets: usage");
		CHECK(res[0].attempts == 0 && !res[0].sent && strstr(res[0].message, "AWS_SECRET_ACCESS_KEY"),
		      "nothing attempted: %s", res[0].message);
		{
			unsigned long conns, reqs;
			dg_sender_stats(s, &conns, &reqs);
			CHECK(reqs == 0, "no request made");
		}
		dg_sender_free(s);
	}
	dg_sender_free(NULL);
	return tap_done();
}
