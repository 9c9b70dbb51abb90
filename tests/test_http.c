/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The HTTP layer without a server: URL parts as signers see them, Retry-After, how transport failures are
 * classified (what may be retried), and a real connection refused on loopback. The HTTPS paths run against
 * the lab (tests/integration/test_send.py). */
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "diagint/http.h"
#include "fake_resp.h"
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
	struct dg_buf host = DG_BUF_INIT, path = DG_BUF_INIT, query = DG_BUF_INIT;
	struct dg_http_resp r = { 0 };
	struct dg_error err = { 0 };
	struct dg_http *h = NULL;
	struct dg_http_req req;
	char url[64];
	bool retry;

	CHECK(dg_http_url_parts("https://ec2.us-east-1.amazonaws.com/", &host, &path, &query, &err) == 0, "parts");
	CHECK(!strcmp(dg_buf_str(&host), "ec2.us-east-1.amazonaws.com") && !strcmp(dg_buf_str(&path), "/") &&
		      query.len == 0, "default port left out of Host");
	dg_http_url_parts("https://127.0.0.1:8443/a/b?x=1&y", &host, &path, &query, &err);
	CHECK(!strcmp(dg_buf_str(&host), "127.0.0.1:8443") && !strcmp(dg_buf_str(&path), "/a/b") &&
		      !strcmp(dg_buf_str(&query), "x=1&y"), "explicit port kept; path and query split");
	dg_http_url_parts("https://h:443", &host, &path, NULL, &err);
	CHECK(!strcmp(dg_buf_str(&host), "h") && !strcmp(dg_buf_str(&path), "/"), "explicit :443 dropped; empty path is /");
	CHECK(dg_http_url_parts("ftp://x/", &host, NULL, NULL, &err) == -DG_USAGE, "not http(s): usage error");
	dg_buf_free(&host);
	dg_buf_free(&path);
	dg_buf_free(&query);

	fake_resp(&r, 429, NULL, "Retry-After", "7", NULL);
	CHECK(dg_http_retry_after(&r, 0) == 7, "Retry-After seconds");
	fake_resp(&r, 429, NULL, "retry-after", "Wed, 21 Oct 2015 07:28:10 GMT", NULL);
	CHECK(dg_http_retry_after(&r, 1445412480) == 10, "Retry-After HTTP date");
	fake_resp(&r, 429, NULL, "Retry-After", "soon", NULL);
	CHECK(dg_http_retry_after(&r, 0) == -1, "unreadable Retry-After ignored");
	CHECK_STR(dg_http_resp_header(&r, "RETRY-after"), "soon", "header lookup ignores case");

	fake_resp(&r, 0, NULL, NULL);
	r.sent = false;
	r.curl_code = CURLE_COULDNT_CONNECT;
	CHECK(dg_http_transport_error(&r, false, "the API", NULL, &err, &retry) == -DG_UNAVAILABLE && retry,
	      "not connected: retry is safe");
	r.sent = true;
	r.curl_code = CURLE_OPERATION_TIMEDOUT;
	CHECK(dg_http_transport_error(&r, false, "the API", NULL, &err, &retry) == -DG_UNAVAILABLE && !retry &&
		      strstr(err.message, "may have been delivered"), "timeout after sending: never resent");
	CHECK(dg_http_transport_error(&r, true, "the API", NULL, &err, &retry) == -DG_UNAVAILABLE && retry,
	      "an idempotent request may be repeated");
	r.resend_stopped = true;
	r.curl_code = CURLE_ABORTED_BY_CALLBACK;
	CHECK(dg_http_transport_error(&r, false, "the API", NULL, &err, &retry) < 0 && !retry &&
		      strstr(err.message, "wanted to resend"), "libcurl's own resend stopped and said so");
	r.sent = false;
	r.curl_code = CURLE_PEER_FAILED_VERIFICATION;
	CHECK(dg_http_transport_error(&r, false, "the API", "AWS_CA_BUNDLE", &err, &retry) == -DG_USAGE && !retry &&
		      strstr(err.message, "--cacert") && strstr(err.message, "AWS_CA_BUNDLE"),
	      "untrusted certificate: configuration, with the fix: %s", err.message);
	dg_http_resp_clear(&r);

	CHECK(dg_http_new(NULL, &h, &err) == 0, "client");
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/", closed_port());
	dg_http_req_init(&req, "POST", url);
	dg_http_req_body(&req, "x=1", 3);
	CHECK(dg_http_do(h, &req, &r, &err) == 0, "request to a closed port runs");
	CHECK(r.status == 0 && !r.sent && r.curl_code == CURLE_COULDNT_CONNECT, "refused: no status, not sent (%s)",
	      r.error);
	CHECK(req.url == NULL, "the request was moved into the client");
	dg_http_resp_clear(&r);
	{
		unsigned long conns, reqs;
		dg_http_stats(h, &conns, &reqs);
		CHECK(reqs == 1, "one request counted");
	}

	/* https only, wherever the URL came from; plain http only for the metadata services that use nothing else. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", closed_port());
	dg_http_req_init(&req, "POST", url);
	CHECK(dg_http_do(h, &req, &r, &err) == -DG_USAGE && strstr(err.message, "https only") &&
		      strstr(err.message, url), "http:// refused before anything is sent: %s", err.message);
	dg_http_resp_clear(&r);
	dg_http_req_init(&req, "GET", url);
	req.plain_http_ok = true;
	CHECK(dg_http_do(h, &req, &r, &err) == 0 && !r.sent && r.curl_code == CURLE_COULDNT_CONNECT,
	      "http:// allowed for a metadata request (closed port: refused, not sent)");
	dg_http_resp_clear(&r);
	dg_http_req_init(&req, "POST", "ftp://127.0.0.1/");
	CHECK(dg_http_do(h, &req, &r, &err) == -DG_USAGE, "ftp:// refused");
	dg_http_resp_clear(&r);

	/* A value from a remote server must not add headers. */
	dg_http_req_init(&req, "GET", "https://127.0.0.1/");
	CHECK(!dg_http_req_header(&req, "Authorization: Bearer %s", "tok\r\nX-Evil: 1"), "CR LF in a header refused");
	CHECK(!dg_http_req_header(&req, "X-A: %s", "a\nb"), "bare LF refused");
	CHECK(dg_http_req_header(&req, "X-A: %s", "ya29.a0-_~+/="), "a token's characters accepted");
	dg_http_req_clear(&req);
	CHECK(dg_http_token_valid("ya29.a0AfH6SMB-token_value~+/="), "a bearer token is valid");
	CHECK(!dg_http_token_valid("tok\r\nX-Evil: 1") && !dg_http_token_valid("a b") && !dg_http_token_valid("") &&
		      !dg_http_token_valid(NULL) && !dg_http_token_valid("t\x7f"), "CR/LF, spaces, empty, DEL: not tokens");

	dg_http_free(h);
	dg_http_free(NULL);
	return tap_done();
}
