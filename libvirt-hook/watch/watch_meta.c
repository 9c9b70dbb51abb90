/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "diagint/config.h"
#include "diagint/probe_kinds.h"
#include "watch/watch_meta.h"

void dg_watch_meta_default(struct dg_watch_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->enabled = true;
	m->cooldown = -1;
}

static int bad(struct dg_watch_meta *m, struct dg_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad(struct dg_watch_meta *m, struct dg_error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dg_error_setv(err, DG_USAGE, fmt, ap);
	va_end(ap);
	dg_watch_meta_default(m);
	return -DG_USAGE;
}

int dg_watch_meta_parse(const char *xml, struct dg_watch_meta *m, struct dg_error *err)
{
	xmlDocPtr doc;
	xmlNodePtr root;
	int r = 0;

	dg_watch_meta_default(m);
	if (!xml || !*xml)
		return 0;
	doc = xmlReadMemory(xml, (int)strlen(xml), "metadata.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc)
		return bad(m, err, "not well-formed XML");
	root = xmlDocGetRootElement(doc);
	/* virDomainGetMetadata hands the element back without its namespace (it was asked for by namespace);
	 * one that carries a namespace must carry ours. */
	if (!root || strcmp((const char *)root->name, "watch") ||
	    (root->ns && strcmp((const char *)root->ns->href, DG_WATCH_META_NS))) {
		xmlFreeDoc(doc);
		return bad(m, err, "the element must be <watch> in namespace %s", DG_WATCH_META_NS);
	}
	m->present = true;
	for (xmlAttrPtr a = root->properties; a && r == 0; a = a->next) {
		const char *k = (const char *)a->name;
		xmlChar *vx = xmlNodeGetContent((xmlNodePtr)a);
		const char *v = vx ? (const char *)vx : "";
		double d;

		if (!strcmp(k, "enabled")) {
			if (dg_config_parse_bool(v, &m->enabled) < 0)
				r = bad(m, err, "enabled='%s' is not yes or no", v);
		} else if (!strcmp(k, "probes")) {
			struct dg_error e = { 0 };
			if (dg_probe_kinds_parse(v, &m->probes, &e) < 0)
				r = bad(m, err, "probes='%s': %s", v, e.message);
			else
				m->probes_set = true;
		} else if (!strcmp(k, "heartbeat")) {
			if (strlen(v) >= sizeof(m->heartbeat))
				r = bad(m, err, "heartbeat is too long (at most 255 bytes)");
			else {
				m->heartbeat_set = true;
				snprintf(m->heartbeat, sizeof(m->heartbeat), "%s", v);
			}
		} else if (!strcmp(k, "probe-interval") || !strcmp(k, "heartbeat-interval")) {
			if (dg_config_parse_seconds(v, &d) < 0 || d < 0.1 || d > 86400)
				r = bad(m, err, "%s='%s' is not a duration (0.1 s to 1 d)", k, v);
			else
				m->probe_interval = d;
		} else if (!strcmp(k, "probe-misses") || !strcmp(k, "heartbeat-misses")) {
			char *end;
			unsigned long n = strtoul(v, &end, 10);
			if (!*v || *end || v[0] == '-' || n < 1 || n > 1000)
				r = bad(m, err, "%s='%s' is not a count (1-1000)", k, v);
			else
				m->probe_misses = (unsigned)n;
		} else if (!strcmp(k, "cooldown")) {
			if (dg_config_parse_seconds(v, &m->cooldown) < 0)
				r = bad(m, err, "cooldown='%s' is not a duration (e.g. 30m)", v);
		} else if (!strcmp(k, "destination")) {
			if ((v[0] != '/' && v[0] != '|') || strlen(v) >= sizeof(m->destination))
				r = bad(m, err, "destination='%s' must be an absolute directory or |COMMAND", v);
			else
				snprintf(m->destination, sizeof(m->destination), "%s", v);
		} else {
			r = bad(m, err,
				"unknown attribute '%s' (known: enabled, probes, heartbeat, probe-interval, "
				"probe-misses, cooldown, destination)",
				k);
		}
		xmlFree(vx);
	}
	xmlFreeDoc(doc);
	return r;
}
