/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What EC2's DryRun does not show: the instance's state and whether its type takes diagnostic interrupts at all
 * ("all Nitro-based instance types, except A1"). Two reads, DescribeInstances and DescribeInstanceTypes, signed
 * like the interrupt (SigV4, same credentials and endpoint); neither changes anything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "doctor/doctor-internal.h"
#include "diagint/buf.h"
#include "cloud/creds_aws.h"
#include "base/encode.h"
#include "cloud/sigv4.h"

#define READ_FIX "allow ec2:DescribeInstances and ec2:DescribeInstanceTypes to the identity diagint uses, or check " \
	"by hand with 'aws ec2 describe-instances'"

enum dg_doctor_level dg_doctor_aws_type_level(const char *type, const char *hypervisor, bool bare_metal, char *why,
					      size_t len)
{
	if (!strncmp(type, "a1.", 3)) {
		snprintf(why, len, "instance type %s is A1, the one Nitro family without diagnostic interrupts", type);
		return DG_DOCTOR_FAIL;
	}
	if (!strcmp(hypervisor, "nitro")) {
		snprintf(why, len, "instance type %s is Nitro-based: it takes diagnostic interrupts", type);
		return DG_DOCTOR_OK;
	}
	if (bare_metal) {
		snprintf(why, len, "instance type %s is bare metal on the Nitro System: it takes diagnostic interrupts",
			 type);
		return DG_DOCTOR_OK;
	}
	if (hypervisor[0]) {
		snprintf(why, len, "instance type %s runs on the %s hypervisor: diagnostic interrupts need a Nitro-based "
			 "type", type, hypervisor);
		return DG_DOCTOR_FAIL;
	}
	snprintf(why, len, "EC2 did not say which hypervisor instance type %s uses", type);
	return DG_DOCTOR_WARN;
}

struct ec2 {
	struct dg_http *http;
	struct dg_aws_creds creds;
	const char *endpoint;
	const char *cacert;
	const char *region;
};

/* The first element named `name` under n (depth first), or NULL. */
static xmlNode *find(xmlNode *n, const char *name)
{
	for (; n; n = n->next) {
		xmlNode *c;
		if (n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name))
			return n;
		if ((c = find(n->children, name)))
			return c;
	}
	return NULL;
}

static void text_of(xmlNode *n, const char *name, char *out, size_t len)
{
	xmlNode *e = n ? find(n->children, name) : NULL;
	xmlChar *c = e ? xmlNodeGetContent(e) : NULL;

	snprintf(out, len, "%s", c ? (const char *)c : "");
	xmlFree(c);
}

/* POST one Query API action; *ret_doc is the parsed answer on HTTP 200. Other answers: err says what EC2 said. */
static int ec2_call(struct ec2 *e, const char *params, xmlDoc **ret_doc, struct dg_error *err)
{
	struct dg_buf host = DG_BUF_INIT, path = DG_BUF_INIT, query = DG_BUF_INIT, body = DG_BUF_INIT;
	const char *ctype = "application/x-www-form-urlencoded; charset=utf-8";
	struct dg_sigv4 sig = { 0 };
	struct dg_http_req req = { 0 };
	struct dg_http_resp resp = { 0 };
	xmlDoc *doc = NULL;
	int r;

	*ret_doc = NULL;
	r = dg_http_url_parts(e->endpoint, &host, &path, &query, err);
	if (r < 0)
		goto out;
	dg_buf_printf(&body, "%s&Version=2016-11-15", params);
	{
		const struct dg_sigv4_header hs[] = { { "content-type", ctype }, { "host", dg_buf_str(&host) } };
		const struct dg_sigv4_request sr = { .method = "POST", .path = dg_buf_str(&path),
						     .query = dg_buf_str(&query), .headers = hs, .n_headers = 2,
						     .body = body.data, .body_len = body.len };
		const struct dg_sigv4_key key = { e->creds.access_key_id, e->creds.secret_access_key,
						  e->creds.session_token };
		const struct dg_sigv4_opts o = { .region = e->region, .service = "ec2", .when = time(NULL),
						 .normalize_path = true };
		r = dg_sigv4_sign(&sr, &key, &o, &sig, err);
		if (r < 0)
			goto out;
	}
	if (!dg_buf_ok(&body) || !dg_http_req_init(&req, "POST", e->endpoint) ||
	    !dg_http_req_header(&req, "Host: %s", dg_buf_str(&host)) || !dg_http_req_header(&req, "Content-Type: %s", ctype) ||
	    !dg_http_req_header(&req, "X-Amz-Date: %s", sig.amz_date) ||
	    (e->creds.session_token && !dg_http_req_header(&req, "X-Amz-Security-Token: %s", e->creds.session_token)) ||
	    !dg_http_req_header(&req, "Authorization: %s", sig.authorization) ||
	    !dg_http_req_body(&req, body.data, body.len)) {
		dg_http_req_clear(&req);
		r = dg_error_set(err, DG_FAILED, "out of memory");
		goto out;
	}
	req.idempotent = true; /* a read */
	req.cacert = e->cacert;
	r = dg_http_do(e->http, &req, &resp, err);
	if (r < 0)
		goto out;
	if (!resp.status) {
		bool retry;
		r = dg_http_transport_error(&resp, true, "the EC2 API", "AWS_CA_BUNDLE", err, &retry);
		goto out;
	}
	if (resp.body && resp.body_len)
		doc = xmlReadMemory(resp.body, (int)resp.body_len, "ec2.xml", NULL,
				    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (resp.status != 200) {
		char code[128] = "", msg[512] = "";
		xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
		if (root) {
			xmlNode *c = find(root, "Code"), *m = find(root, "Message");
			xmlChar *cc = c ? xmlNodeGetContent(c) : NULL, *mm = m ? xmlNodeGetContent(m) : NULL;
			snprintf(code, sizeof(code), "%s", cc ? (const char *)cc : "");
			snprintf(msg, sizeof(msg), "%s", mm ? (const char *)mm : "");
			xmlFree(cc);
			xmlFree(mm);
		}
		r = dg_error_set(err, !strcmp(code, "UnauthorizedOperation") || resp.status == 403 ? DG_DENIED
				 : !strcmp(code, "InvalidInstanceID.NotFound") ? DG_NOTFOUND : DG_FAILED,
				 "EC2 answered HTTP %ld %s%s%s", resp.status, code[0] ? code : "", msg[0] ? ": " : "", msg);
		xmlFreeDoc(doc);
		goto out;
	}
	if (!doc) {
		r = dg_error_set(err, DG_FAILED, "EC2 answered something that is not XML");
		goto out;
	}
	*ret_doc = doc;
	r = 0;
out:
	dg_http_resp_clear(&resp);
	dg_sigv4_clear(&sig);
	dg_buf_free(&host);
	dg_buf_free(&path);
	dg_buf_free(&query);
	dg_buf_free(&body);
	return r;
}

void dg_doctor_aws_facts(struct dg_doctor_run *run, const struct dg_target *t, const struct dg_doctor_opts *o)
{
	struct dg_http_opts ho = { .timeout = o->send ? o->send->timeout : 0,
				   .connect_timeout = o->send ? o->send->connect_timeout : 0 };
	struct ec2 e = { .region = t->part[0] };
	struct dg_error err = { 0 };
	struct dg_buf url = DG_BUF_INIT, params = DG_BUF_INIT;
	xmlDoc *doc = NULL;
	char type[64] = "", state[32] = "", hyper[32] = "", metal[8] = "", why[512];

	e.endpoint = dg_doctor_endpoint(o, "aws");
	if (!e.endpoint)
		e.endpoint = dg_provider_getenv((const char *const[]){ "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL", NULL });
	if (!e.endpoint) {
		dg_buf_printf(&url, "https://ec2.%s.amazonaws.com/", t->part[0]);
		e.endpoint = dg_buf_str(&url);
	}
	e.cacert = o->send && o->send->cacert ? o->send->cacert
					      : dg_provider_getenv((const char *const[]){ "AWS_CA_BUNDLE", NULL });
	if (dg_http_new(&ho, &e.http, &err) < 0 || dg_aws_creds_resolve(e.http, e.cacert, &e.creds, &err) < 0)
		goto unread;
	if (!e.cacert && e.creds.ca_bundle)
		e.cacert = e.creds.ca_bundle;

	dg_buf_puts(&params, "Action=DescribeInstances&InstanceId.1=");
	dg_uri_encode(&params, t->part[1], strlen(t->part[1]), false);
	if (ec2_call(&e, dg_buf_str(&params), &doc, &err) < 0)
		goto unread;
	{
		xmlNode *inst = find(xmlDocGetRootElement(doc), "instancesSet");
		xmlNode *st = inst ? find(inst->children, "instanceState") : NULL;
		text_of(inst, "instanceType", type, sizeof(type));
		text_of(st, "name", state, sizeof(state));
	}
	xmlFreeDoc(doc);
	doc = NULL;
	if (!state[0]) {
		dg_doctor_emit(run, "instance-state", DG_DOCTOR_FAIL, "check the instance ID and the region",
			       "DescribeInstances returned no instance %s in %s", t->part[1], t->part[0]);
		goto out;
	}
	if (!strcmp(state, "running"))
		dg_doctor_emit(run, "instance-state", DG_DOCTOR_OK, NULL, "instance %s is running", t->part[1]);
	else
		dg_doctor_emit(run, "instance-state", DG_DOCTOR_FAIL, "start the instance (aws ec2 start-instances)",
			       "instance %s is %s: a diagnostic interrupt needs it running", t->part[1], state);

	dg_buf_reset(&params);
	dg_buf_puts(&params, "Action=DescribeInstanceTypes&InstanceType.1=");
	dg_uri_encode(&params, type, strlen(type), false);
	if (ec2_call(&e, dg_buf_str(&params), &doc, &err) < 0) {
		dg_doctor_emit(run, "instance-type", strncmp(type, "a1.", 3) ? DG_DOCTOR_WARN : DG_DOCTOR_FAIL,
			       strncmp(type, "a1.", 3) ? READ_FIX : "move to a Nitro-based type other than A1 (e.g. m6g)",
			       "instance type %s: its hypervisor could not be read (%s)", type, err.message);
		goto out;
	}
	{
		xmlNode *set = find(xmlDocGetRootElement(doc), "instanceTypeSet");
		text_of(set, "hypervisor", hyper, sizeof(hyper));
		text_of(set, "bareMetal", metal, sizeof(metal));
	}
	{
		enum dg_doctor_level l = dg_doctor_aws_type_level(type, hyper, !strcmp(metal, "true"), why, sizeof(why));
		dg_doctor_emit(run, "instance-type", l,
			       l == DG_DOCTOR_WARN ? "check the type's hypervisor with 'aws ec2 describe-instance-types'"
						   : "move the instance to a Nitro-based type other than A1 (stop, "
						     "modify-instance-attribute --instance-type, start)",
			       "%s", why);
	}
	goto out;

unread:
	dg_doctor_emit(run, "instance-state", DG_DOCTOR_WARN, READ_FIX, "instance state could not be read: %s",
		       err.message);
	dg_doctor_emit(run, "instance-type", DG_DOCTOR_WARN, READ_FIX,
		       "instance type not checked (needs DescribeInstances): diagnostic interrupts need a Nitro-based "
		       "type other than A1");
out:
	xmlFreeDoc(doc);
	dg_aws_creds_clear(&e.creds);
	dg_http_free(e.http);
	dg_buf_free(&url);
	dg_buf_free(&params);
}
