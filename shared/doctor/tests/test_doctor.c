/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Readiness checks: the pure readers (on_crash, domain XML, kernel command line, sysctl text, JSON), then the
 * libvirt checks end to end on libvirt's in-process test driver (test:///default), ready and unready domains,
 * every destination case, a missing domain; the domains keep running throughout. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dg_config.h"
#include "diagint/config.h"
#include "diagint/doctor.h"
#include "diagint/inject.h"
#include "tap.h"

#define MAX_CHECKS 32

struct seen {
	unsigned n;
	struct dg_doctor_check c[MAX_CHECKS];
};

static void collect(void *userdata, const struct dg_doctor_check *c)
{
	struct seen *s = userdata;

	if (s->n < MAX_CHECKS)
		s->c[s->n++] = *c;
}

static const struct dg_doctor_check *find(const struct seen *s, const char *name)
{
	for (unsigned i = 0; i < s->n; i++)
		if (!strcmp(s->c[i].name, name))
			return &s->c[i];
	return NULL;
}

static int level_of(const struct seen *s, const char *name)
{
	const struct dg_doctor_check *c = find(s, name);
	return c ? (int)c->level : -1;
}

static void pure(void)
{
	char why[512], val[64];
	struct dg_domxml x;
	struct dg_error err = { 0 };

	CHECK(dg_doctor_on_crash_level("preserve", why, sizeof(why)) == DG_DOCTOR_OK, "preserve: ok (%s)", why);
	CHECK(dg_doctor_on_crash_level("destroy", why, sizeof(why)) == DG_DOCTOR_FAIL, "destroy: fail");
	CHECK(dg_doctor_on_crash_level(NULL, why, sizeof(why)) == DG_DOCTOR_FAIL && strstr(why, "default"),
	      "absent is libvirt's default, destroy: fail (%s)", why);
	CHECK(dg_doctor_on_crash_level("restart", why, sizeof(why)) == DG_DOCTOR_FAIL, "restart: fail");
	CHECK(dg_doctor_on_crash_level("rename-restart", why, sizeof(why)) == DG_DOCTOR_FAIL, "rename-restart: fail");
	CHECK(dg_doctor_on_crash_level("coredump-destroy", why, sizeof(why)) == DG_DOCTOR_WARN && strstr(why, "its own"),
	      "coredump-destroy: warn, libvirt dumps by itself (%s)", why);
	CHECK(dg_doctor_on_crash_level("coredump-restart", why, sizeof(why)) == DG_DOCTOR_WARN && strstr(why, "restarts"),
	      "coredump-restart: warn");
	CHECK(dg_doctor_on_crash_level("bogus", why, sizeof(why)) == DG_DOCTOR_WARN, "unknown value: warn");

	CHECK(dg_domxml_parse("<domain type='qemu'><name>a</name><on_crash> preserve </on_crash>"
				     "<os><cmdline>console=ttyS0 crashkernel=256M quiet</cmdline></os><devices>"
				     "<serial type='file'><source path='/var/log/a.log'/></serial>"
				     "<panic model='isa'><address type='isa' iobase='0x505'/></panic>"
				     "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0' "
				     "state='connected'/></channel></devices></domain>", &x, &err) == 0,
	      "a ready domain's XML parses");
	CHECK(x.panic && !strcmp(x.panic_model, "isa"), "panic device and its model");
	CHECK_STR(x.on_crash, "preserve", "on_crash, trimmed");
	CHECK(x.agent_channel && !strcmp(x.agent_state, "connected"), "agent channel, connected");
	CHECK(strstr(x.os_cmdline, "crashkernel=256M") != NULL, "direct-boot cmdline");
	CHECK_STR(x.serial_log, "/var/log/a.log", "the serial port's log file");
	CHECK(dg_domxml_parse("<domain><devices><serial type='pty'/><console type='file'><source "
				     "path='/c.log'/></console></devices></domain>", &x, &err) == 0 &&
		      !strcmp(x.serial_log, "/c.log"),
	      "a pty serial port, a file console: the console's file");
	CHECK(dg_domxml_parse("<domain><devices><channel type='unix'><target type='virtio' "
				     "name='org.qemu.spice.0'/></channel></devices></domain>", &x, &err) == 0 &&
		      !x.panic && !x.on_crash[0] && !x.agent_channel && !x.agent_state[0] && !x.os_cmdline[0] &&
		      !x.serial_log[0],
	      "no panic, no on_crash, another channel only");
	CHECK(!x.vmcoreinfo, "no <vmcoreinfo/> feature");
	CHECK(dg_domxml_parse("<domain><features><acpi/><vmcoreinfo state='on'/></features></domain>", &x,
				     &err) == 0 && x.vmcoreinfo, "<vmcoreinfo state='on'/>");
	CHECK(dg_domxml_parse("<domain><features><vmcoreinfo/></features></domain>", &x, &err) == 0 &&
		      x.vmcoreinfo, "<vmcoreinfo/> without a state is on");
	CHECK(dg_domxml_parse("<domain><features><vmcoreinfo state='off'/></features></domain>", &x, &err) == 0 &&
		      !x.vmcoreinfo, "<vmcoreinfo state='off'/>");
	CHECK(dg_domxml_parse("<domain><name>web-1</name><uuid>3f2a6c1e-5b7d-4e21-9a0b-3c8d2e1f0a9b</uuid>"
			      "<memory unit='KiB'>131072</memory></domain>", &x, &err) == 0 &&
		      !strcmp(x.name, "web-1") && !strcmp(x.uuid, "3f2a6c1e-5b7d-4e21-9a0b-3c8d2e1f0a9b") &&
		      x.memory_bytes == 128ull << 20,
	      "name, uuid, memory in KiB (the hook's facts)");
	CHECK(dg_domxml_parse("<domain><name>a</name><memory unit='TiB'>1</memory></domain>", &x, &err) == 0 &&
		      x.memory_bytes == 1ull << 40, "memory in TiB");
	CHECK(dg_domxml_parse("<domain><name>a</name><memory unit='GB'>2</memory></domain>", &x, &err) == 0 &&
		      x.memory_bytes == 2000000000ull, "memory in decimal GB");
	CHECK(dg_domxml_parse("<domain><name>a</name><memory>4</memory></domain>", &x, &err) == 0 &&
		      x.memory_bytes == 4096, "no unit: KiB");
	CHECK(dg_domxml_parse("<domain><name>a</name><memory unit='furlongs'>4</memory></domain>", &x, &err) == 0 &&
		      x.memory_bytes == 0, "an unknown unit: nothing known");
	CHECK(dg_domxml_parse("<domain><name>a</name><memory unit='EiB'>99</memory></domain>", &x, &err) == 0 &&
		      x.memory_bytes == 0, "more bytes than exist: nothing known");
	CHECK(dg_domxml_parse_len("<domain><name>a</name></domain>trailing", 31, &x, &err) == 0 &&
		      !strcmp(x.name, "a") && !x.uuid[0] && !x.memory_bytes, "a length-bounded document");
	CHECK(dg_domxml_parse("not xml <", &x, &err) == -DG_FAILED, "bad XML: error (%s)", err.message);
	CHECK(dg_domxml_parse("<other/>", &x, &err) == -DG_FAILED, "not a domain: error");

	CHECK(dg_doctor_cmdline_crashkernel("BOOT_IMAGE=/vmlinuz root=/dev/sda1 crashkernel=1G-4G:192M,4G-:256M ro\n",
					    val, sizeof(val)) && !strcmp(val, "1G-4G:192M,4G-:256M"),
	      "crashkernel= with ranges: %s", val);
	CHECK(!dg_doctor_cmdline_crashkernel("root=/dev/sda1 nocrashkernel=1 crashkernel= ro", val, sizeof(val)) &&
		      !val[0], "no crashkernel (empty value, other words containing it)");
	CHECK(!dg_doctor_cmdline_crashkernel("", NULL, 0), "empty command line");

	CHECK(dg_doctor_parse_sysctl_bool("1\n") == 1, "sysctl 1");
	CHECK(dg_doctor_parse_sysctl_bool("0\n") == 0, "sysctl 0");
	CHECK(dg_doctor_parse_sysctl_bool("") == -1 && dg_doctor_parse_sysctl_bool("x") == -1 &&
		      dg_doctor_parse_sysctl_bool("1 2") == -1 && dg_doctor_parse_sysctl_bool(NULL) == -1,
	      "unreadable sysctl text");

	{
		struct dg_doctor_check c = { .target = "libvirt:a", .name = "on-crash", .level = DG_DOCTOR_FAIL };
		json_object *j, *v;
		snprintf(c.message, sizeof(c.message), "on_crash=destroy");
		snprintf(c.fix, sizeof(c.fix), "set preserve");
		j = dg_doctor_check_to_json(&c);
		CHECK(json_object_object_get_ex(j, "level", &v) && !strcmp(json_object_get_string(v), "fail") &&
			      json_object_object_get_ex(j, "fix", &v) && !strcmp(json_object_get_string(v), "set preserve") &&
			      json_object_object_get_ex(j, "check", &v) && !strcmp(json_object_get_string(v), "on-crash"),
		      "check as JSON: %s", json_object_to_json_string(j));
		json_object_put(j);
		c.level = DG_DOCTOR_OK;
		j = dg_doctor_check_to_json(&c);
		CHECK(!json_object_object_get_ex(j, "fix", &v), "an ok check carries no fix");
		json_object_put(j);
	}
	CHECK(!strcmp(dg_doctor_level_name(DG_DOCTOR_WARN), "warn"), "level names");

	CHECK(dg_doctor_aws_type_level("m5.large", "nitro", false, why, sizeof(why)) == DG_DOCTOR_OK, "m5: Nitro, ok");
	CHECK(dg_doctor_aws_type_level("a1.large", "nitro", false, why, sizeof(why)) == DG_DOCTOR_FAIL &&
		      strstr(why, "A1"), "a1: Nitro but excluded (%s)", why);
	CHECK(dg_doctor_aws_type_level("t2.micro", "xen", false, why, sizeof(why)) == DG_DOCTOR_FAIL, "xen: fail");
	CHECK(dg_doctor_aws_type_level("m5.metal", "", true, why, sizeof(why)) == DG_DOCTOR_OK, "metal: ok");
	CHECK(dg_doctor_aws_type_level("x9.huge", "", false, why, sizeof(why)) == DG_DOCTOR_WARN, "unknown: warn");
}

static const char READY_XML[] =
	"<domain type='test'><name>ready</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>"
	"<os><type>hvm</type></os><on_crash>preserve</on_crash><devices>"
	"<panic model='isa'><address type='isa' iobase='0x505'/></panic></devices></domain>";

static int state_of(struct dg_lv *lv, const char *name)
{
	virDomainPtr d = virDomainLookupByName(dg_lv_conn(lv), name);
	int st = -1, reason;

	if (d) {
		virDomainGetState(d, &st, &reason, 0);
		virDomainFree(d);
	}
	return st;
}

static void libvirt_checks(void)
{
	struct dg_lv *lv = NULL;
	struct dg_error err = { 0 };
	struct dg_doctor_summary sum;
	struct seen s;
	char dir[] = "/tmp/dg-doctor-XXXXXX", path[600], conf[800];
	struct dg_config *cfg = NULL;
	struct dg_doctor_opts o = { .agent_timeout = 1 };
	virDomainPtr d;
	int r;

	if (dg_lv_open("test:///default", &lv, &err) < 0) {
		CHECK(0, "test driver: %s", err.message);
		return;
	}
	CHECK(mkdtemp(dir) != NULL, "scratch directory");
	o.dest = dir;

	/* The test driver's "test" domain: no <panic>, on_crash destroy. */
	memset(&s, 0, sizeof(s));
	r = dg_doctor_check_libvirt(lv, "test", NULL, &o, collect, &s, &sum, &err);
	CHECK(r == -DG_FAILED && err.status == DG_FAILED, "no <panic>, on_crash=destroy: not ready (%d: %s)", r,
	      err.message);
	CHECK(level_of(&s, "domain") == DG_DOCTOR_OK, "domain running");
	CHECK(level_of(&s, "panic-device") == DG_DOCTOR_FAIL && find(&s, "panic-device")->fix[0], "panic: fail with a fix");
	CHECK(level_of(&s, "on-crash") == DG_DOCTOR_FAIL && strstr(find(&s, "on-crash")->fix, "preserve"),
	      "on_crash: fail, fix says preserve");
	CHECK(level_of(&s, "guest-agent") == DG_DOCTOR_WARN, "no agent channel: warn (%s)",
	      find(&s, "guest-agent") ? find(&s, "guest-agent")->message : "-");
	CHECK(level_of(&s, "unknown-nmi-panic") == DG_DOCTOR_WARN &&
		      strstr(find(&s, "unknown-nmi-panic")->message, "cannot check without the guest agent"),
	      "unknown_nmi_panic: cannot check without the agent");
	CHECK(level_of(&s, "kdump-service") == DG_DOCTOR_WARN && level_of(&s, "crashkernel") == DG_DOCTOR_WARN &&
		      level_of(&s, "vmcore-space") == DG_DOCTOR_WARN, "the other in-guest checks: warn");
	CHECK(level_of(&s, "dump-destination") == DG_DOCTOR_OK && level_of(&s, "dump-room") == DG_DOCTOR_OK,
	      "destination and room: ok (%s)", find(&s, "dump-room") ? find(&s, "dump-room")->message : "-");
	CHECK(sum.n_fail == 2 && sum.n_ok + sum.n_warn + sum.n_fail == s.n, "summary counts every check");
	CHECK(!strcmp(s.c[0].target, "libvirt:test"), "target text defaults to libvirt:DOMAIN");
	CHECK(state_of(lv, "test") == VIR_DOMAIN_RUNNING, "the domain still runs");

	/* A ready domain: no failure, only the warnings that say what the missing agent hides. */
	d = virDomainDefineXML(dg_lv_conn(lv), READY_XML);
	CHECK(d && virDomainCreate(d) == 0, "ready domain started");
	memset(&s, 0, sizeof(s));
	r = dg_doctor_check_libvirt(lv, "ready", "libvirt:ready", &o, collect, &s, &sum, &err);
	CHECK(r == 0 && sum.n_fail == 0, "ready (%d, %u failed)", r, sum.n_fail);
	CHECK(level_of(&s, "panic-device") == DG_DOCTOR_OK && level_of(&s, "on-crash") == DG_DOCTOR_OK,
	      "panic and on_crash: ok");
	CHECK(state_of(lv, "ready") == VIR_DOMAIN_RUNNING, "the ready domain still runs");

	/* Destinations. */
	snprintf(path, sizeof(path), "%s/missing", dir);
	o.dest = path;
	memset(&s, 0, sizeof(s));
	r = dg_doctor_check_libvirt(lv, "ready", NULL, &o, collect, &s, &sum, &err);
	CHECK(r == -DG_FAILED && level_of(&s, "dump-destination") == DG_DOCTOR_FAIL && !find(&s, "dump-room"),
	      "missing destination: fail (%s)", find(&s, "dump-destination") ? find(&s, "dump-destination")->message : "-");
	snprintf(path, sizeof(path), "%s/file", dir);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	memset(&s, 0, sizeof(s));
	r = dg_doctor_check_libvirt(lv, "ready", NULL, &o, collect, &s, &sum, &err);
	CHECK(r == -DG_FAILED && level_of(&s, "dump-destination") == DG_DOCTOR_FAIL, "a file as destination: fail");
	/* The default, named explicitly and missing (a fresh host): one answer with inject and the hook, the first
	 * capture creates it; ok, and its room is checked where it will be made. Only where it is missing here. */
	if (access(DG_DEFAULT_DUMP_DIR, F_OK) < 0 && errno == ENOENT) {
		static char def[PATH_MAX];

		snprintf(def, sizeof(def), "%s/", DG_DEFAULT_DUMP_DIR);
		o.dest = def;
		memset(&s, 0, sizeof(s));
		r = dg_doctor_check_libvirt(lv, "ready", NULL, &o, collect, &s, &sum, &err);
		CHECK(level_of(&s, "dump-destination") == DG_DOCTOR_OK &&
			      strstr(find(&s, "dump-destination")->message, "the first capture creates it"),
		      "missing default destination: ok, created by the first capture (%s)",
		      find(&s, "dump-destination") ? find(&s, "dump-destination")->message : "-");
		CHECK(find(&s, "dump-room") != NULL, "and its room is checked");
		CHECK(access(DG_DEFAULT_DUMP_DIR, F_OK) < 0, "doctor created nothing");
	} else {
		SKIP_ONE("%s exists here: the answer about a missing default cannot be checked", DG_DEFAULT_DUMP_DIR);
	}
	o.dest = "relative/dir";
	memset(&s, 0, sizeof(s));
	r = dg_doctor_check_libvirt(lv, "ready", NULL, &o, collect, &s, &sum, &err);
	CHECK(r == -DG_FAILED && level_of(&s, "dump-destination") == DG_DOCTOR_FAIL, "a relative destination: fail");
	o.dest = "|cat >/dev/null";
	memset(&s, 0, sizeof(s));
	r = dg_doctor_check_libvirt(lv, "ready", NULL, &o, collect, &s, &sum, &err);
	CHECK(r == 0 && level_of(&s, "dump-room") == DG_DOCTOR_WARN, "a |COMMAND: room is the command's (warn)");

	/* Retention: MaxUse below the guest's RAM refuses; with an old dump there, the capture would evict it. */
	snprintf(conf, sizeof(conf), "[capture]\nDestination = %s\nMaxUse = 64M\n", dir);
	CHECK(dg_config_parse_string(conf, "test.conf", &cfg, &err) == 0, "config with MaxUse=64M: %s", err.message);
	o.dest = NULL;
	o.config = cfg;
	memset(&s, 0, sizeof(s));
	r = dg_doctor_check_libvirt(lv, "ready", NULL, &o, collect, &s, &sum, &err);
	CHECK(r == -DG_FAILED && level_of(&s, "dump-room") == DG_DOCTOR_FAIL,
	      "MaxUse below the RAM: fail (%s)", find(&s, "dump-room") ? find(&s, "dump-room")->message : "-");
	CHECK(access(path, F_OK) == 0, "nothing in the directory was removed");
	{
		/* An older dump there: a capture would evict it first (warn); doctor itself removes nothing. */
		char old[700];
		static char mib[1 << 20];
		int fd;
		snprintf(old, sizeof(old), "%s/ready-20200101-000000.gcore", dir);
		fd = open(old, O_CREAT | O_WRONLY, 0600);
		memset(mib, 1, sizeof(mib));
		CHECK(fd >= 0 && write(fd, mib, sizeof(mib)) == (ssize_t)sizeof(mib), "an old dump of 1 MiB");
		close(fd);
		memset(&s, 0, sizeof(s));
		dg_config_free(cfg);
		/* room for the capture alone, not for the capture and the old dump */
		snprintf(conf, sizeof(conf), "[capture]\nDestination = %s\nMaxUse = %llu\n", dir,
			 (unsigned long long)(dg_inject_dump_bytes_needed(128 << 20) + (512 << 10)));
		CHECK(dg_config_parse_string(conf, "test.conf", &cfg, &err) == 0, "config with MaxUse = need + 512K");
		o.config = cfg;
		r = dg_doctor_check_libvirt(lv, "ready", NULL, &o, collect, &s, &sum, &err);
		CHECK(r == 0 && level_of(&s, "dump-room") == DG_DOCTOR_WARN,
		      "room only after evicting the old dump: warn (%s)",
		      find(&s, "dump-room") ? find(&s, "dump-room")->message : "-");
		CHECK(access(old, F_OK) == 0, "the old dump is still there");
		unlink(old);
	}
	{
		/* FloodLimit reached by a dump stamped now: a warning (it passes with the window). */
		char recent[700], stamp[32];
		time_t now = time(NULL);
		strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", localtime(&now));
		snprintf(recent, sizeof(recent), "%s/ready-%s.gcore", dir, stamp);
		close(open(recent, O_CREAT | O_WRONLY, 0600));
		dg_config_free(cfg);
		snprintf(conf, sizeof(conf), "[capture]\nDestination = %s\nFloodLimit = 1\nFloodWindow = 1h\n", dir);
		CHECK(dg_config_parse_string(conf, "test.conf", &cfg, &err) == 0, "config with FloodLimit = 1: %s",
		      err.message);
		o.config = cfg;
		memset(&s, 0, sizeof(s));
		r = dg_doctor_check_libvirt(lv, "ready", NULL, &o, collect, &s, &sum, &err);
		CHECK(r == 0 && level_of(&s, "flood-limit") == DG_DOCTOR_WARN, "flood limit reached: warn (%s)",
		      find(&s, "flood-limit") ? find(&s, "flood-limit")->message : "-");
		unlink(recent);
		memset(&s, 0, sizeof(s));
		r = dg_doctor_check_libvirt(lv, "ready", NULL, &o, collect, &s, &sum, &err);
		CHECK(r == 0 && level_of(&s, "flood-limit") == DG_DOCTOR_OK, "under the flood limit: ok");
	}
	dg_config_free(cfg);
	cfg = NULL;
	o.config = NULL;

	/* Not there. */
	memset(&s, 0, sizeof(s));
	r = dg_doctor_check_libvirt(lv, "nope", NULL, &o, collect, &s, &sum, &err);
	CHECK(r == -DG_NOTFOUND && s.n == 1 && level_of(&s, "domain") == DG_DOCTOR_FAIL,
	      "missing domain: not found, one failed check (%s)", err.message);

	/* Shut off: not ready. */
	CHECK(virDomainDestroy(d) == 0, "ready domain stopped");
	memset(&s, 0, sizeof(s));
	r = dg_doctor_check_libvirt(lv, "ready", NULL, &o, collect, &s, &sum, &err);
	CHECK(r == -DG_FAILED && level_of(&s, "domain") == DG_DOCTOR_FAIL && level_of(&s, "guest-agent") == DG_DOCTOR_WARN,
	      "shut-off domain: fail (%s)", find(&s, "domain") ? find(&s, "domain")->message : "-");
	CHECK(state_of(lv, "ready") == VIR_DOMAIN_SHUTOFF, "doctor did not start it");
	virDomainUndefine(d);
	virDomainFree(d);

	unlink(path);
	rmdir(dir);
	dg_lv_free(lv);
}

static void through_target(void)
{
	struct dg_target t;
	struct dg_error err = { 0 };
	struct dg_doctor_opts o = { .libvirt_uri = "test:///default", .dest = "/" };
	struct seen s = { 0 };
	int r;

	CHECK(dg_target_parse("libvirt:nope", &t, &err) == 0, "target");
	r = dg_doctor_check(&t, &o, collect, &s, NULL, &err);
	CHECK(r == -DG_NOTFOUND && s.n == 1 && !strcmp(s.c[0].target, "libvirt:nope"), "dg_doctor_check: not found");
	o.libvirt_uri = "test:///nonexistent-file.xml";
	memset(&s, 0, sizeof(s));
	r = dg_doctor_check(&t, &o, collect, &s, NULL, &err);
	CHECK(r < 0 && r != -DG_FAILED && s.n == 1 && level_of(&s, "libvirt") == DG_DOCTOR_FAIL,
	      "unopenable connection: its own status (%d: %s)", r, err.message);
}

int main(void)
{
	pure();
	libvirt_checks();
	through_target();
	return tap_done();
}
