/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one reader of a domain's XML definition (libxml2 XPath): the facts the doctor checks and the watcher
 * needs to start its probes. Pure: the caller fetches the XML (virDomainGetXMLDesc) and owns it. */
#include <stdbool.h>
#include <stdio.h>
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

static bool xpath_exists(xmlXPathContext *ctx, const char *expr)
{
	xmlXPathObject *o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
	bool found = o && o->nodesetval && o->nodesetval->nodeNr > 0;

	xmlXPathFreeObject(o);
	return found;
}

int dg_domxml_parse(const char *xml, struct dg_domxml *ret, struct dg_error *err)
{
	struct dg_domxml d = { 0 };
	xmlDoc *doc;
	xmlXPathContext *ctx;

	doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
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
	d.panic = xpath_exists(ctx, "/domain/devices/panic");
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
