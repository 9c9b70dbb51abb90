/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dg_config.h"
#include "diagint/record.h"

void dg_record_init(struct dg_dump_record *rec, const char *trigger)
{
	memset(rec, 0, sizeof(*rec));
	rec->domain_id = -1;
	clock_gettime(CLOCK_REALTIME, &rec->requested);
	snprintf(rec->trigger, sizeof(rec->trigger), "%s", trigger ? trigger : "unknown");
	snprintf(rec->format, sizeof(rec->format), "elf");
}

const char *dg_record_dump_path(const struct dg_dump_record *rec)
{
	if (!rec || !rec->captured)
		return NULL;
	return rec->path[0] ? rec->path : rec->dest;
}

void dg_record_step(struct dg_dump_record *rec, const char *name, double ms)
{
	if (rec->nsteps < DG_RECORD_STEPS_MAX) {
		rec->steps[rec->nsteps].name = name;
		rec->steps[rec->nsteps].ms = ms;
		rec->nsteps++;
	}
}

void dg_record_note(struct dg_dump_record *rec, const char *fmt, ...)
{
	va_list ap;

	if (rec->nnotes >= DG_RECORD_NOTES_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(rec->notes[rec->nnotes++], sizeof(rec->notes[0]), fmt, ap);
	va_end(ap);
}

static void format_times(const struct timespec *ts, char *utc, size_t ulen, char *local, size_t llen)
{
	struct tm tm;
	char buf[32], zone[8];

	gmtime_r(&ts->tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(utc, ulen, "%s.%09ldZ", buf, ts->tv_nsec);
	localtime_r(&ts->tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	strftime(zone, sizeof(zone), "%z", &tm);
	snprintf(local, llen, "%s%s", buf, zone);
}

static void add_str(json_object *o, const char *key, const char *val)
{
	json_object_object_add(o, key, val && *val ? json_object_new_string(val) : NULL);
}

json_object *dg_record_to_json(const struct dg_dump_record *rec)
{
	json_object *o = json_object_new_object(), *dom, *nmi, *dump, *guest, *ver, *steps, *notes;
	char utc[64], local[64];

	format_times(&rec->requested, utc, sizeof(utc), local, sizeof(local));
	json_object_object_add(o, "record_version", json_object_new_int(1));

	dom = json_object_new_object();
	add_str(dom, "name", rec->domain);
	add_str(dom, "uuid", rec->uuid);
	json_object_object_add(dom, "id", rec->domain_id >= 0 ? json_object_new_int(rec->domain_id) : NULL);
	json_object_object_add(o, "domain", dom);

	add_str(o, "host", rec->host);
	add_str(o, "uri", rec->uri);
	add_str(o, "time", utc);
	add_str(o, "local_time", local);
	add_str(o, "trigger", rec->trigger);

	nmi = json_object_new_object();
	json_object_object_add(nmi, "sent", json_object_new_boolean(rec->nmi_sent));
	json_object_object_add(nmi, "panic_seen", json_object_new_boolean(rec->panic_seen));
	add_str(nmi, "panic_event", rec->panic_event);
	json_object_object_add(o, "nmi", nmi);

	if (rec->captured) {
		dump = json_object_new_object();
		add_str(dump, "name", rec->name);
		add_str(dump, "path", rec->path);
		add_str(dump, "format", rec->format);
		add_str(dump, "destination", rec->dest);
		json_object_object_add(dump, "sparse", json_object_new_boolean(rec->sparse));
		if (strncmp(rec->format, "kdump", 5) == 0)
			json_object_object_add(dump, "flattened", json_object_new_boolean(!rec->converted));
		json_object_object_add(dump, "size", json_object_new_int64((int64_t)rec->size));
		json_object_object_add(dump, "allocated", json_object_new_int64((int64_t)rec->allocated));
		add_str(dump, "sha256", rec->sha256);
		json_object_object_add(o, "dump", dump);
	} else {
		json_object_object_add(o, "dump", NULL);
	}

	guest = json_object_new_object();
	json_object_object_add(guest, "vcpus", json_object_new_int((int)rec->vcpus));
	json_object_object_add(guest, "memory_bytes", json_object_new_int64((int64_t)rec->ram_bytes));
	json_object_object_add(o, "guest", guest);

	ver = json_object_new_object();
	add_str(ver, "diagint", DG_VERSION);
	add_str(ver, "libvirt", rec->libvirt_version);
	add_str(ver, "qemu", rec->qemu_version);
	json_object_object_add(o, "versions", ver);

	steps = json_object_new_object();
	for (unsigned i = 0; i < rec->nsteps; i++) {
		char ms[32];
		/* Microsecond precision is plenty, and keeps the output free of binary-float noise. */
		snprintf(ms, sizeof(ms), "%.3f", rec->steps[i].ms);
		json_object_object_add(steps, rec->steps[i].name, json_object_new_double_s(rec->steps[i].ms, ms));
	}
	json_object_object_add(o, "steps_ms", steps);

	if (rec->kernel.analyzed)
		json_object_object_add(o, "kernel", dg_vmcore_kernel_to_json(&rec->kernel));

	notes = json_object_new_array();
	for (unsigned i = 0; i < rec->nnotes; i++)
		json_object_array_add(notes, json_object_new_string(rec->notes[i]));
	json_object_object_add(o, "notes", notes);
	return o;
}
