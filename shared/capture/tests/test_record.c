/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The capture record: its JSON field names are a stable interface (the sidecar), so they are read back here from
 * the serialized text, as a consumer would. */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "dg_config.h"
#include "diagint/record.h"
#include "tap.h"

/* Serialize, parse the text back: what a reader of NAME.gcore.json sees. */
static json_object *roundtrip(const struct dg_dump_record *rec)
{
	json_object *o = dg_record_to_json(rec), *back;

	if (!o)
		return NULL;
	back = json_tokener_parse(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return back;
}

/* Path lookup "a.b.c"; *found says whether the key exists (its value may be JSON null). */
static json_object *get(json_object *root, const char *path, int *found)
{
	char buf[128], *save = NULL, *tok;
	json_object *cur = root;

	*found = 0;
	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
		if (!cur || !json_object_is_type(cur, json_type_object) || !json_object_object_get_ex(cur, tok, &cur))
			return NULL;
	}
	*found = 1;
	return cur;
}

static const char *get_str(json_object *root, const char *path)
{
	int found;
	json_object *v = get(root, path, &found);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static int is_type(json_object *root, const char *path, json_type type)
{
	int found;
	json_object *v = get(root, path, &found);

	return found && json_object_is_type(v, type);
}

static int64_t get_int(json_object *root, const char *path)
{
	int found;
	json_object *v = get(root, path, &found);

	return v && json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : INT64_MIN;
}

static void test_init(void)
{
	struct dg_dump_record rec;
	struct timespec before, after;

	memset(&rec, 0x5a, sizeof(rec));
	clock_gettime(CLOCK_REALTIME, &before);
	dg_record_init(&rec, "inject");
	clock_gettime(CLOCK_REALTIME, &after);
	CHECK_STR(rec.trigger, "inject", "trigger set");
	CHECK(rec.domain_id == -1, "domain_id -1 (got %d)", rec.domain_id);
	CHECK_STR(rec.format, "elf", "format elf");
	CHECK(rec.nsteps == 0 && rec.nnotes == 0, "no steps, no notes");
	CHECK(!rec.nmi_sent && !rec.panic_seen && !rec.captured, "flags false");
	CHECK(rec.domain[0] == '\0' && rec.uuid[0] == '\0' && rec.sha256[0] == '\0' && rec.size == 0,
	      "strings and sizes cleared");
	CHECK(rec.requested.tv_sec >= before.tv_sec && rec.requested.tv_sec <= after.tv_sec,
	      "requested is the current wall clock");

	dg_record_init(&rec, NULL);
	CHECK_STR(rec.trigger, "unknown", "NULL trigger becomes 'unknown'");
	dg_record_init(&rec, "a-trigger-name-much-longer-than-thirty-one-bytes");
	CHECK(strlen(rec.trigger) == sizeof(rec.trigger) - 1, "long trigger cut to %zu bytes",
	      sizeof(rec.trigger) - 1);
}

static void test_caps(void)
{
	static const char *names[] = { "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7",
				       "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15" };
	struct dg_dump_record rec;
	char longnote[1000];
	unsigned i;

	dg_record_init(&rec, "capture");
	for (i = 0; i < 16; i++)
		dg_record_step(&rec, names[i], i * 1.5);
	CHECK(rec.nsteps == DG_RECORD_STEPS_MAX, "steps capped at %d (got %u)", DG_RECORD_STEPS_MAX, rec.nsteps);
	CHECK_STR(rec.steps[DG_RECORD_STEPS_MAX - 1].name, names[DG_RECORD_STEPS_MAX - 1], "last kept step is the %dth",
		  DG_RECORD_STEPS_MAX);
	CHECK(rec.steps[DG_RECORD_STEPS_MAX - 1].ms == (DG_RECORD_STEPS_MAX - 1) * 1.5, "its time kept");
	CHECK_STR(rec.steps[0].name, "s0", "first step kept");

	for (i = 0; i < 10; i++)
		dg_record_note(&rec, "note %u", i);
	CHECK(rec.nnotes == DG_RECORD_NOTES_MAX, "notes capped at %d (got %u)", DG_RECORD_NOTES_MAX, rec.nnotes);
	CHECK_STR(rec.notes[DG_RECORD_NOTES_MAX - 1], "note 5", "last kept note is the 6th");
	CHECK_STR(rec.notes[0], "note 0", "first note kept");

	dg_record_init(&rec, "capture");
	memset(longnote, 'n', sizeof(longnote) - 1);
	longnote[sizeof(longnote) - 1] = '\0';
	dg_record_note(&rec, "%s", longnote);
	CHECK(rec.nnotes == 1 && strlen(rec.notes[0]) == sizeof(rec.notes[0]) - 1, "a long note is cut to %zu bytes",
	      sizeof(rec.notes[0]) - 1);
	CHECK(rec.notes[1][0] == '\0', "the next note slot is untouched");
}

static void test_json_minimal(void)
{
	struct dg_dump_record rec;
	json_object *j;
	const char *t;
	int found;
	json_object *v;

	setenv("TZ", "UTC", 1);
	tzset();
	dg_record_init(&rec, "watch");
	j = roundtrip(&rec);
	CHECK(j && json_object_is_type(j, json_type_object), "record serializes to a JSON object that parses back");
	if (!j)
		return;
	CHECK(get_int(j, "record_version") == 1, "record_version 1");
	CHECK(is_type(j, "domain", json_type_object), "domain is an object");
	CHECK(is_type(j, "domain.id", json_type_null), "domain.id null when -1");
	CHECK(is_type(j, "domain.name", json_type_null), "domain.name null when empty");
	CHECK(is_type(j, "domain.uuid", json_type_null), "domain.uuid null when empty");
	CHECK(is_type(j, "host", json_type_null) && is_type(j, "uri", json_type_null), "host and uri null when empty");
	CHECK_STR(get_str(j, "trigger"), "watch", "trigger");
	CHECK(is_type(j, "nmi.sent", json_type_boolean) && !json_object_get_boolean(get(j, "nmi.sent", &found)),
	      "nmi.sent false");
	CHECK(is_type(j, "nmi.panic_seen", json_type_boolean) &&
		      !json_object_get_boolean(get(j, "nmi.panic_seen", &found)),
	      "nmi.panic_seen false");
	CHECK(is_type(j, "nmi.panic_event", json_type_null), "nmi.panic_event null when empty");
	CHECK(is_type(j, "dump", json_type_null), "dump is null when nothing was captured");
	CHECK(get_int(j, "guest.vcpus") == 0 && get_int(j, "guest.memory_bytes") == 0, "guest fields 0");
	CHECK_STR(get_str(j, "versions.diagint"), DG_VERSION, "versions.diagint is the build's version");
	CHECK(get_str(j, "versions.diagint") && *get_str(j, "versions.diagint"), "versions.diagint non-empty");
	CHECK(is_type(j, "versions.libvirt", json_type_null) && is_type(j, "versions.qemu", json_type_null),
	      "unknown versions are null");
	CHECK(is_type(j, "steps_ms", json_type_object) && json_object_object_length(get(j, "steps_ms", &found)) == 0,
	      "steps_ms empty object");
	v = get(j, "notes", &found);
	CHECK(v && json_object_is_type(v, json_type_array) && json_object_array_length(v) == 0, "notes empty array");

	t = get_str(j, "time");
	CHECK(t != NULL, "time present: %s", t ? t : "(null)");
	if (t) {
		size_t n = strlen(t);
		const char *dot = strrchr(t, '.');
		int digits = 0;

		CHECK(n > 0 && t[n - 1] == 'Z', "time ends with 'Z'");
		for (const char *p = dot ? dot + 1 : ""; isdigit((unsigned char)*p); p++)
			digits++;
		CHECK(dot && digits == 9 && dot + 1 + 9 == t + n - 1, "time has 9 fractional digits then Z (%d)",
		      digits);
		CHECK(n == strlen("2023-11-14T22:13:20.000000000Z"), "time is RFC 3339 length (%zu)", n);
	}
	json_object_put(j);
}

static void test_json_full(void)
{
	struct dg_dump_record rec;
	json_object *j, *v, *e;
	int found;

	dg_record_init(&rec, "inject");
	snprintf(rec.domain, sizeof(rec.domain), "web \"01\"/prod");
	snprintf(rec.uuid, sizeof(rec.uuid), "6b1e4a4c-1f3a-4a8e-9a55-0c6e3bd6b2a1");
	rec.domain_id = 7;
	snprintf(rec.host, sizeof(rec.host), "hv1.example");
	snprintf(rec.uri, sizeof(rec.uri), "qemu:///system");
	rec.requested.tv_sec = 1700000000;
	rec.requested.tv_nsec = 5;
	rec.nmi_sent = true;
	rec.panic_seen = true;
	snprintf(rec.panic_event, sizeof(rec.panic_event), "crashed/panicked");
	rec.captured = true;
	snprintf(rec.name, sizeof(rec.name), "web_01-20231114-221320.gcore");
	snprintf(rec.path, sizeof(rec.path), "/var/lib/diagint/dumps/web_01-20231114-221320.gcore");
	rec.size = 5ull << 30; /* beyond 32 bits */
	rec.allocated = 123456789;
	snprintf(rec.sha256, sizeof(rec.sha256), "%s",
		 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	rec.vcpus = 4;
	rec.ram_bytes = 8ull << 30;
	snprintf(rec.libvirt_version, sizeof(rec.libvirt_version), "9.0.0");
	snprintf(rec.qemu_version, sizeof(rec.qemu_version), "7.2.0");
	dg_record_step(&rec, "connect", 1.25);
	dg_record_step(&rec, "nmi", 0.5);
	dg_record_step(&rec, "dump", 1234.5678);
	dg_record_note(&rec, "no panic within %d s", 10);
	dg_record_note(&rec, "second");

	setenv("TZ", "IST-5:30", 1);
	tzset();
	j = roundtrip(&rec);
	CHECK(j != NULL, "full record parses back");
	if (!j)
		return;
	CHECK(get_int(j, "record_version") == 1, "record_version 1");
	CHECK_STR(get_str(j, "domain.name"), "web \"01\"/prod", "domain.name is the true name, quotes and all");
	CHECK_STR(get_str(j, "domain.uuid"), "6b1e4a4c-1f3a-4a8e-9a55-0c6e3bd6b2a1", "domain.uuid");
	CHECK(get_int(j, "domain.id") == 7, "domain.id 7");
	CHECK_STR(get_str(j, "host"), "hv1.example", "host");
	CHECK_STR(get_str(j, "uri"), "qemu:///system", "uri");
	CHECK_STR(get_str(j, "time"), "2023-11-14T22:13:20.000000005Z", "time in UTC with nanoseconds");
	CHECK_STR(get_str(j, "local_time"), "2023-11-15T03:43:20+0530", "local_time in the host zone with offset");
	CHECK_STR(get_str(j, "trigger"), "inject", "trigger");
	CHECK(json_object_get_boolean(get(j, "nmi.sent", &found)) && found, "nmi.sent true");
	CHECK(json_object_get_boolean(get(j, "nmi.panic_seen", &found)) && found, "nmi.panic_seen true");
	CHECK_STR(get_str(j, "nmi.panic_event"), "crashed/panicked", "nmi.panic_event");
	CHECK(is_type(j, "dump", json_type_object), "dump is an object when captured");
	CHECK_STR(get_str(j, "dump.name"), "web_01-20231114-221320.gcore", "dump.name");
	CHECK_STR(get_str(j, "dump.path"), "/var/lib/diagint/dumps/web_01-20231114-221320.gcore", "dump.path");
	CHECK_STR(get_str(j, "dump.format"), "elf", "dump.format");
	CHECK(get_int(j, "dump.size") == (int64_t)(5ull << 30), "dump.size beyond 32 bits (%lld)",
	      (long long)get_int(j, "dump.size"));
	CHECK(get_int(j, "dump.allocated") == 123456789, "dump.allocated");
	CHECK_STR(get_str(j, "dump.sha256"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		  "dump.sha256");
	CHECK(get_int(j, "guest.vcpus") == 4, "guest.vcpus");
	CHECK(get_int(j, "guest.memory_bytes") == (int64_t)(8ull << 30), "guest.memory_bytes");
	CHECK_STR(get_str(j, "versions.diagint"), DG_VERSION, "versions.diagint");
	CHECK_STR(get_str(j, "versions.libvirt"), "9.0.0", "versions.libvirt");
	CHECK_STR(get_str(j, "versions.qemu"), "7.2.0", "versions.qemu");

	v = get(j, "steps_ms", &found);
	CHECK(v && json_object_is_type(v, json_type_object) && json_object_object_length(v) == 3, "three steps");
	e = get(j, "steps_ms.connect", &found);
	CHECK(e && json_object_is_type(e, json_type_double) && json_object_get_double(e) == 1.25,
	      "steps_ms.connect 1.25");
	e = get(j, "steps_ms.nmi", &found);
	CHECK(e && json_object_get_double(e) == 0.5, "steps_ms.nmi 0.5");
	e = get(j, "steps_ms.dump", &found);
	CHECK(e && json_object_get_double(e) == 1234.568, "steps_ms.dump rounded to microseconds (%.6f)",
	      e ? json_object_get_double(e) : -1.0);

	v = get(j, "notes", &found);
	CHECK(v && json_object_is_type(v, json_type_array) && json_object_array_length(v) == 2, "two notes");
	if (v && json_object_is_type(v, json_type_array) && json_object_array_length(v) == 2) {
		CHECK_STR(json_object_get_string(json_object_array_get_idx(v, 0)), "no panic within 10 s", "notes[0]");
		CHECK_STR(json_object_get_string(json_object_array_get_idx(v, 1)), "second", "notes[1]");
	}
	json_object_put(j);

	/* Field order is part of what people diff: record_version leads. */
	{
		json_object *o = dg_record_to_json(&rec);
		const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		CHECK(strncmp(s, "{\"record_version\":1,", 20) == 0, "record_version is the first field: %.40s", s);
		CHECK(strstr(s, "\"dump\":1234.568") != NULL, "step times printed with 3 decimals");
		json_object_put(o);
	}

	/* A captured record without a checksum: the field is null, not "". */
	rec.sha256[0] = '\0';
	j = roundtrip(&rec);
	CHECK(j && is_type(j, "dump.sha256", json_type_null), "empty sha256 is null");
	json_object_put(j);

	/* Not captured: no stale dump fields leak through. */
	rec.captured = false;
	j = roundtrip(&rec);
	CHECK(j && is_type(j, "dump", json_type_null), "dump null once captured is false");
	json_object_put(j);

	/* domain id 0 is a real id (not null). */
	rec.domain_id = 0;
	j = roundtrip(&rec);
	CHECK(j && is_type(j, "domain.id", json_type_int) && get_int(j, "domain.id") == 0, "domain.id 0 is kept");
	json_object_put(j);

	setenv("TZ", "UTC", 1);
	tzset();
}

int main(void)
{
	test_init();
	test_caps();
	test_json_minimal();
	test_json_full();
	return tap_done();
}
