/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dg_inject against real QEMU guests run by libvirt's embedded driver inside this process (no daemon). The dump
 * is checked with readelf, an independent reader, not with anything of ours. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "diagint/inject.h"
#include "tap.h"

static char root[] = "/tmp/dg-embed-XXXXXX";

static bool required(void)
{
	const char *r = getenv("DIAGINT_REQUIRE_GUEST");
	return r && *r == '1';
}

/* Skip visibly where a real guest cannot run; in CI (DIAGINT_REQUIRE_GUEST=1) that is a failure instead. */
static void need(bool ok, const char *why)
{
	if (ok)
		return;
	if (required()) {
		printf("not ok 1 - real guest required but %s\n1..1\n", why);
		exit(1);
	}
	SKIP_ALL("%s", why);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static char *replace(const char *text, const char *key, const char *val)
{
	const char *p = strstr(text, key);
	char *out;

	if (!p)
		return strdup(text);
	out = malloc(strlen(text) + strlen(val) + 1);
	memcpy(out, text, (size_t)(p - text));
	strcpy(out + (p - text), val);
	strcat(out, p + strlen(key));
	return out;
}

static char *domain_xml(const char *tmpl, const char *name, int vcpus, int mib, const char *console)
{
	char v[16], m[16];
	char *a, *b, *c, *d;

	snprintf(v, sizeof(v), "%d", vcpus);
	snprintf(m, sizeof(m), "%d", mib);
	a = replace(tmpl, "@NAME@", name);
	b = replace(a, "@VCPUS@", v);
	c = replace(b, "@MEMORY_MIB@", m);
	/* The console path appears twice (serial and console). */
	d = replace(c, "@CONSOLE@", console);
	free(a);
	free(b);
	a = replace(d, "@CONSOLE@", console);
	free(c);
	free(d);
	return a;
}

static bool wait_console(const char *path, const char *needle, int secs)
{
	for (int i = 0; i < secs * 10; i++) {
		char *t = slurp(path);
		bool found = t && strstr(t, needle);
		free(t);
		if (found)
			return true;
		usleep(100000);
	}
	return false;
}

struct elf_facts {
	bool is_core;
	int prstatus;
	bool ram_load;
};

/* Ask readelf (binutils), not our code, what the dump is. */
static struct elf_facts readelf(const char *path, unsigned long long ram)
{
	struct elf_facts f = { 0 };
	char cmd[4200], line[512];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "readelf -h -l -n --wide '%s' 2>&1", path);
	p = popen(cmd, "r");
	if (!p)
		return f;
	while (fgets(line, sizeof(line), p)) {
		unsigned long long off, vaddr, paddr, filesz, memsz;

		if (strstr(line, "Type:") && strstr(line, "CORE (Core file)"))
			f.is_core = true;
		if (strstr(line, "NT_PRSTATUS"))
			f.prstatus++;
		if (sscanf(line, " LOAD 0x%llx 0x%llx 0x%llx 0x%llx 0x%llx", &off, &vaddr, &paddr, &filesz, &memsz) ==
			    5 &&
		    paddr == 0 && memsz >= ram && filesz == memsz)
			f.ram_load = true;
	}
	pclose(p);
	return f;
}

static bool file_contains(const char *path, const char *needle)
{
	struct stat st;
	bool found = false;
	void *m;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return false;
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m != MAP_FAILED) {
			found = memmem(m, (size_t)st.st_size, needle, strlen(needle)) != NULL;
			munmap(m, (size_t)st.st_size);
		}
	}
	close(fd);
	return found;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void kill_leftovers(void)
{
	char dir[256], path[600], buf[32];
	DIR *d;
	struct dirent *de;

	snprintf(dir, sizeof(dir), "%s/run/qemu", root);
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		FILE *f;
		/* Domain pid files only: the embedded driver also records its own pid (ours) here. */
		if (!strstr(de->d_name, ".pid") || !strncmp(de->d_name, "driver", 6))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		f = fopen(path, "r");
		if (f && fgets(buf, sizeof(buf), f) && atoi(buf) > 1 && atoi(buf) != getpid())
			kill(atoi(buf), SIGKILL);
		if (f)
			fclose(f);
	}
	closedir(d);
}

/* Entries other than . and .. */
static int dir_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

int main(void)
{
	const char *gdir = getenv("DG_GUEST_DIR");
	static const struct {
		const char *name;
		int vcpus;
	} guests[] = { { "embed-1cpu", 1 }, { "embed-2cpu", 2 } };
	const int mib = 128;
	char path[512], uri[300], dumps[300];
	char *tmpl = NULL;
	struct dg_lv *lv = NULL;
	struct dg_error err = { 0 };
	virDomainPtr doms[2] = { 0 };
	int r;

	need(geteuid() == 0, "not root: libvirt's embedded QEMU driver needs root here");
	need(access("/usr/bin/qemu-system-x86_64", X_OK) == 0, "qemu-system-x86_64 missing (scripts/deps installs it)");
	need(gdir != NULL, "DG_GUEST_DIR not set: run through meson test");
	snprintf(path, sizeof(path), "%s/domain.xml.in", gdir);
	tmpl = slurp(path);
	need(tmpl != NULL, "guest not built (domain.xml.in missing)");
	need(mkdtemp(root) != NULL, "cannot create a scratch directory");

	snprintf(path, sizeof(path), "%s/etc", root);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/etc/qemu.conf", root);
	write_file(path, "user = \"root\"\ngroup = \"root\"\nstdio_handler = \"file\"\ncgroup_controllers = [ ]\n"
			 "namespaces = [ ]\nremember_owner = 0\nsecurity_driver = \"none\"\n");
	snprintf(dumps, sizeof(dumps), "%s/dumps", root);
	mkdir(dumps, 0700);
	snprintf(uri, sizeof(uri), "qemu:///embed?root=%s", root);

	r = dg_lv_open(uri, &lv, &err);
	CHECK(r == 0, "embedded libvirt opens (%s)", err.message);
	if (r < 0)
		goto out;

	for (int i = 0; i < 2; i++) {
		char console[400], *xml;
		snprintf(console, sizeof(console), "%s/%s.console", root, guests[i].name);
		xml = domain_xml(tmpl, guests[i].name, guests[i].vcpus, mib, console);
		doms[i] = virDomainCreateXML(dg_lv_conn(lv), xml, 0);
		free(xml);
		CHECK(doms[i] != NULL, "guest %s starts", guests[i].name);
	}
	for (int i = 0; i < 2; i++) {
		char console[400];
		struct dg_dump_record rec;
		struct dg_inject_opts o = { .nmi = true, .capture = true, .timeout = 20, .trigger = "test",
					    .dump_dir = dumps };
		struct elf_facts f;
		struct stat st;
		char sidecar[PATH_MAX + 8], *js;
		int state = -1;

		if (!doms[i])
			continue;
		snprintf(console, sizeof(console), "%s/%s.console", root, guests[i].name);
		CHECK(wait_console(console, "diagint-heartbeat 1", 90), "guest %s boots to its heartbeat",
		      guests[i].name);

		/* A dry run first: every check, no NMI, nothing in the directory, the guest still running. */
		int entries = dir_entries(dumps);

		o.dry_run = true;
		dg_record_init(&rec, o.trigger);
		r = dg_inject(lv, guests[i].name, &o, &rec, &err);
		CHECK(r == 0 && !rec.nmi_sent && !rec.captured, "dry run of %s: checked, nothing done (%s)",
		      guests[i].name, r ? err.message : "");
		CHECK(!strncmp(rec.path, dumps, strlen(dumps)) && strstr(rec.name, ".gcore") && stat(rec.path, &st) < 0,
		      "dry run names the dump it would write, and writes none (%s)", rec.path);
		CHECK(dir_entries(dumps) == entries, "dry run: no dump, temporary or sidecar in the directory");
		CHECK(virDomainGetState(doms[i], &state, NULL, 0) == 0 && state == VIR_DOMAIN_RUNNING,
		      "dry run: guest still running");
		o.dry_run = false;

		dg_record_init(&rec, o.trigger);
		r = dg_inject(lv, guests[i].name, &o, &rec, &err);
		CHECK(r == 0, "inject %s succeeds (%s)", guests[i].name, r ? err.message : "");
		if (r < 0)
			continue;
		CHECK(rec.nmi_sent && rec.panic_seen, "NMI sent and panic seen (%s)", rec.panic_event);
		CHECK_STR(rec.panic_event, "crashed/panicked", "panic came as CRASHED/PANICKED");
		CHECK(rec.captured, "dump captured");
		CHECK(rec.vcpus == (unsigned)guests[i].vcpus, "record has %u vCPUs", rec.vcpus);
		CHECK(rec.ram_bytes == (uint64_t)mib << 20, "record has guest RAM %llu", (unsigned long long)rec.ram_bytes);
		CHECK(strncmp(rec.name, guests[i].name, strlen(guests[i].name)) == 0 && strstr(rec.name, ".gcore"),
		      "dump named after the domain: %s", rec.name);
		CHECK(stat(rec.path, &st) == 0 && (uint64_t)st.st_size == rec.size, "dump on disk, size %llu",
		      (unsigned long long)rec.size);
		CHECK(rec.size > rec.ram_bytes, "dump (%llu) holds all RAM (%llu)", (unsigned long long)rec.size,
		      (unsigned long long)rec.ram_bytes);
		f = readelf(rec.path, rec.ram_bytes);
		CHECK(f.is_core, "readelf: ET_CORE");
		CHECK(f.prstatus == guests[i].vcpus, "readelf: %d NT_PRSTATUS notes for %d vCPUs", f.prstatus,
		      guests[i].vcpus);
		CHECK(f.ram_load, "readelf: a PT_LOAD covers guest RAM from 0");
		CHECK(file_contains(rec.path, "Kernel panic - not syncing: NMI: Not continuing"),
		      "the NMI panic message (not just panic()'s format string) is in the dump");
		snprintf(sidecar, sizeof(sidecar), "%s.json", rec.path);
		js = slurp(sidecar);
		CHECK(js && strstr(js, guests[i].name) && strstr(js, rec.sha256), "sidecar names the domain and hash");
		free(js);
		CHECK(virDomainGetState(doms[i], &state, NULL, 0) == 0 && state == VIR_DOMAIN_CRASHED,
		      "guest stays crashed (preserved) after the dump");
		printf("# %s: nmi %.1f ms, panic event %.1f ms, dump %.0f ms, %llu bytes for %llu RAM\n", guests[i].name,
		       rec.steps[2].ms, rec.steps[3].ms, rec.steps[4].ms, (unsigned long long)rec.size,
		       (unsigned long long)rec.ram_bytes);
	}

	{
		struct dg_dump_record rec;
		struct dg_inject_opts o = { .nmi = true, .capture = true, .timeout = 1, .dump_dir = dumps };
		dg_record_init(&rec, "test");
		r = dg_inject(lv, "no-such-domain", &o, &rec, &err);
		CHECK(r == -DG_NOTFOUND && strstr(err.message, "not found"), "unknown domain: not found (%s)",
		      err.message);
	}
out:
	for (int i = 0; i < 2; i++)
		if (doms[i]) {
			virDomainDestroy(doms[i]);
			virDomainFree(doms[i]);
		}
	dg_lv_free(lv);
	kill_leftovers();
	free(tmpl);
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", root);
	}
	return tap_done();
}
