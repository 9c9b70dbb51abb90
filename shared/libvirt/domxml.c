/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one reader of a domain's XML definition (libxml2 XPath): the facts the doctor checks, the watcher needs to
 * start its probes and the hook needs to tell the watcher and check the dump room. Pure: the caller fetches
 * the XML (virDomainGetXMLDesc, the hook's stdin) and owns it. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "diagint/domxml.h"

static void xpath_text(xmlXPathContext *ctx, const char *expr, char *out, size_t len)
{
	xmlXPathObject *o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);

	out[0] = '\0';
	if (o && o->type == XPATH_STRING) {
		snprintf(out, len, "%s", o->stringval ? (const char *)o->stringval : "");
	} else if (o && o->nodesetval && o->nodesetval->nodeNr > 0) {
		xmlChar *c = xmlNodeGetContent(o->nodesetval->nodeTab[0]);
		snprintf(out, len, "%s", c ? (const char *)c : "");
		xmlFree(c);
	}
	{
		/* trim the whitespace around element text */
		size_t n = strlen(out), s = strspn(out, " \t\r\n");
		while (n > s && strchr(" \t\r\n", out[n - 1]))
			n--;
		memmove(out, out + s, n - s);
		out[n - s] = '\0';
	}
	xmlXPathFreeObject(o);
}

/* A string value as written (not trimmed), cut to len. */
static void xpath_raw(xmlXPathContext *ctx, const char *expr, char *out, size_t len)
{
	xmlXPathObject *o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);

	snprintf(out, len, "%s", o && o->type == XPATH_STRING && o->stringval ? (const char *)o->stringval : "");
	xmlXPathFreeObject(o);
}

/* <memory unit='KiB'>: libvirt writes KiB, but any of its units is honoured (formatdomain "Memory Allocation":
 * decimal KB/MB/GB/TB/PB/EB, binary k/KiB/M/MiB/...). An unknown unit, or more bytes than exist, is 0: nothing
 * known (better than reading TiB as KiB). */
static uint64_t memory_bytes(xmlXPathContext *ctx)
{
	static const struct {
		const char *a, *b, *c;
		uint64_t mult;
	} units[] = {
		{ "b", "bytes", NULL, 1 },
		{ "KB", NULL, NULL, 1000ull },
		{ "k", "KiB", "K", 1ull << 10 },
		{ "MB", NULL, NULL, 1000000ull },
		{ "M", "MiB", NULL, 1ull << 20 },
		{ "GB", NULL, NULL, 1000000000ull },
		{ "G", "GiB", NULL, 1ull << 30 },
		{ "TB", NULL, NULL, 1000000000000ull },
		{ "T", "TiB", NULL, 1ull << 40 },
		{ "PB", NULL, NULL, 1000000000000000ull },
		{ "P", "PiB", NULL, 1ull << 50 },
		{ "EB", NULL, NULL, 1000000000000000000ull },
		{ "E", "EiB", NULL, 1ull << 60 },
	};
	char v[64], u[32], *end;
	uint64_t n = 0, mult = 1024;

	xpath_raw(ctx, "string(/domain/memory)", v, sizeof(v));
	xpath_raw(ctx, "string(/domain/memory/@unit)", u, sizeof(u));
	if (v[0]) {
		n = strtoull(v, &end, 10);
		if (*end)
			n = 0;
	}
	if (u[0]) {
		mult = 0;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (!strcmp(u, units[i].a) || (units[i].b && !strcmp(u, units[i].b)) ||
			    (units[i].c && !strcmp(u, units[i].c)))
				mult = units[i].mult;
	}
	if (!mult || (n && n > UINT64_MAX / mult))
		return 0;
	return n * mult;
}

static bool xpath_exists(xmlXPathContext *ctx, const char *expr)
{
	xmlXPathObject *o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
	bool found = o && o->nodesetval && o->nodesetval->nodeNr > 0;

	xmlXPathFreeObject(o);
	return found;
}

int dg_domxml_parse(const char *xml, struct dg_domxml *ret, struct dg_error *err)
{
	return dg_domxml_parse_len(xml, strlen(xml), ret, err);
}

int dg_domxml_parse_len(const char *xml, size_t len, struct dg_domxml *ret, struct dg_error *err)
{
	struct dg_domxml d = { 0 };
	xmlDoc *doc;
	xmlXPathContext *ctx;

	doc = len <= INT32_MAX ? xmlReadMemory(xml, (int)len, "domain.xml", NULL,
						XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING) : NULL;
	if (!doc)
		return dg_error_set(err, DG_FAILED, "cannot parse the domain XML libvirt returned");
	ctx = xmlXPathNewContext(doc);
	if (!ctx) {
		xmlFreeDoc(doc);
		return dg_error_set(err, DG_FAILED, "out of memory");
	}
	if (!xpath_exists(ctx, "/domain")) {
		xmlXPathFreeContext(ctx);
		xmlFreeDoc(doc);
		return dg_error_set(err, DG_FAILED, "the domain XML has no <domain> root");
	}
	xpath_raw(ctx, "string(/domain/name)", d.name, sizeof(d.name));
	xpath_raw(ctx, "string(/domain/uuid)", d.uuid, sizeof(d.uuid));
	d.memory_bytes = memory_bytes(ctx);
	d.panic = xpath_exists(ctx, "/domain/devices/panic");
	d.vmcoreinfo = xpath_exists(ctx, "/domain/features/vmcoreinfo[not(@state='off')]");
	xpath_text(ctx, "string(/domain/devices/panic[1]/@model)", d.panic_model, sizeof(d.panic_model));
	xpath_text(ctx, "/domain/on_crash", d.on_crash, sizeof(d.on_crash));
	d.agent_channel = xpath_exists(ctx, "/domain/devices/channel/target[@type='virtio' and "
					    "@name='org.qemu.guest_agent.0']");
	xpath_text(ctx, "string(/domain/devices/channel/target[@type='virtio' and @name='org.qemu.guest_agent.0']"
			"/@state)", d.agent_state, sizeof(d.agent_state));
	xpath_text(ctx, "/domain/os/cmdline", d.os_cmdline, sizeof(d.os_cmdline));
	xpath_text(ctx, "string((/domain/devices/serial[@type='file']/source/@path | "
			"/domain/devices/console[@type='file']/source/@path)[1])", d.serial_log, sizeof(d.serial_log));
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	*ret = d;
	return 0;
}
