/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Readiness checks: the parts every target kind shares (levels, JSON, dispatch) and the pure readers of libvirt
 * facts (domain XML, kernel command line), kept apart from I/O so the unit tests exercise them directly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "doctor-internal.h"
#include "diagint/doctor.h"

const char *dg_doctor_level_name(enum dg_doctor_level level)
{
	switch (level) {
	case DG_DOCTOR_OK:
		return "ok";
	case DG_DOCTOR_WARN:
		return "warn";
	case DG_DOCTOR_FAIL:
		return "fail";
	}
	return "fail";
}

json_object *dg_doctor_check_to_json(const struct dg_doctor_check *c)
{
	json_object *j = json_object_new_object();

	if (!j)
		return NULL;
	json_object_object_add(j, "check", json_object_new_string(c->name));
	json_object_object_add(j, "level", json_object_new_string(dg_doctor_level_name(c->level)));
	json_object_object_add(j, "message", json_object_new_string(c->message));
	if (c->level != DG_DOCTOR_OK && c->fix[0])
		json_object_object_add(j, "fix", json_object_new_string(c->fix));
	return j;
}

void dg_doctor_emit(struct dg_doctor_run *run, const char *name, enum dg_doctor_level level, const char *fix,
		    const char *fmt, ...)
{
	struct dg_doctor_check c = { .target = run->target, .name = name, .level = level };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c.message, sizeof(c.message), fmt, ap);
	va_end(ap);
	/* One line each, whatever remote text was quoted. */
	for (char *p = c.message; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	if (level != DG_DOCTOR_OK && fix)
		snprintf(c.fix, sizeof(c.fix), "%s", fix);
	switch (level) {
	case DG_DOCTOR_OK:
		run->sum.n_ok++;
		break;
	case DG_DOCTOR_WARN:
		run->sum.n_warn++;
		break;
	case DG_DOCTOR_FAIL:
		run->sum.n_fail++;
		break;
	}
	if (run->fn)
		run->fn(run->userdata, &c);
}

int dg_doctor_finish(struct dg_doctor_run *run, int r, struct dg_doctor_summary *ret, struct dg_error *err)
{
	if (ret)
		*ret = run->sum;
	if (r < 0)
		return r;
	if (run->sum.n_fail)
		return dg_error_set(err, DG_FAILED, "%s is not ready: %u check%s failed", run->target, run->sum.n_fail,
				    run->sum.n_fail == 1 ? "" : "s");
	return 0;
}

int dg_doctor_check(const struct dg_target *t, const struct dg_doctor_opts *opts, dg_doctor_fn fn, void *userdata,
		    struct dg_doctor_summary *ret, struct dg_error *err)
{
	static const struct dg_doctor_opts none = { 0 };

	if (!opts)
		opts = &none;
	if (!strcmp(t->provider->name, "libvirt"))
		return dg_doctor_libvirt_target(t, opts, fn, userdata, ret, err);
	return dg_doctor_cloud(t, opts, fn, userdata, ret, err);
}

enum dg_doctor_level dg_doctor_on_crash_level(const char *v, char *why, size_t len)
{
	if (!v || !*v || !strcmp(v, "destroy")) {
		snprintf(why, len, "on_crash=%s: libvirt kills the guest when it panics and its memory is lost before "
			 "a capture", v && *v ? v : "destroy (libvirt's default)");
		return DG_DOCTOR_FAIL;
	}
	if (!strcmp(v, "restart") || !strcmp(v, "rename-restart")) {
		snprintf(why, len, "on_crash=%s: libvirt reboots the guest when it panics and its memory is lost "
			 "before a capture", v);
		return DG_DOCTOR_FAIL;
	}
	if (!strncmp(v, "coredump-", 9)) {
		snprintf(why, len, "on_crash=%s: libvirt writes a dump of its own (to its auto_dump_path) and then %s "
			 "the guest, racing diagint's capture", v, !strcmp(v + 9, "restart") ? "restarts" : "destroys");
		return DG_DOCTOR_WARN;
	}
	if (!strcmp(v, "preserve")) {
		snprintf(why, len, "on_crash=preserve: a panicked guest stays as it is until its memory is captured");
		return DG_DOCTOR_OK;
	}
	snprintf(why, len, "on_crash=%s is not a value this check knows", v);
	return DG_DOCTOR_WARN;
}

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

int dg_doctor_parse_domxml(const char *xml, struct dg_doctor_domxml *ret, struct dg_error *err)
{
	struct dg_doctor_domxml d = { 0 };
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

bool dg_doctor_cmdline_crashkernel(const char *cmdline, char *ret, size_t len)
{
	const char *p = cmdline;

	if (ret && len)
		ret[0] = '\0';
	while (p && *p) {
		size_t n;
		p += strspn(p, " \t\n");
		n = strcspn(p, " \t\n");
		if (n > 12 && !strncmp(p, "crashkernel=", 12)) {
			if (ret && len)
				snprintf(ret, len, "%.*s", (int)(n - 12), p + 12);
			return true;
		}
		p += n;
	}
	return false;
}

int dg_doctor_parse_sysctl_bool(const char *text)
{
	char *end;
	long v;

	if (!text)
		return -1;
	text += strspn(text, " \t\n");
	if (!*text)
		return -1;
	v = strtol(text, &end, 10);
	if (end == text || *(end + strspn(end, " \t\n")))
		return -1;
	return v != 0;
}
