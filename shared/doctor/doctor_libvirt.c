/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Readiness of a libvirt guest: what the domain XML says (<panic>, <on_crash>, the agent channel), what the guest
 * says through its agent (unknown_nmi_panic, crashkernel=, the kdump service, room for its vmcore), and whether
 * this host can keep the capture (destination, room under the retention rules).
 *
 * Only reads: virDomainGetXMLDesc, virDomainGetState/GetInfo, and agent commands that read (guest-ping,
 * guest-file-open in mode "r", guest-file-read/close, guest-get-fsinfo, guest-exec of `systemctl is-active` and
 * `df -Pk /var/crash`). libvirt marks a domain that got custom agent commands as tainted (a log line only). No
 * NMI, no pause, no dump, no reboot; the dump directory is opened, never written. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libvirt/libvirt-qemu.h>
#include <openssl/evp.h>

#include "dg_config.h"
#include "doctor/doctor-internal.h"
#include "diagint/clock.h"
#include "diagint/config.h"
#include "diagint/dumpdir.h"
#include "diagint/dumpname.h"
#include "diagint/inject.h"
#include "diagint/retention.h"
#include "diagint/units.h"

#define AGENT_FIX "install qemu-guest-agent in the guest, start it, and give the domain the channel " \
	"<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
#define NO_AGENT_WHY "cannot check without the guest agent"

struct agent {
	virDomainPtr dom;
	int timeout;     /* seconds, as virDomainQemuAgentCommand takes them */
	bool up;
	char why[DG_ERROR_MSG_MAX]; /* why it is not up */
};

/* One agent command; the parsed "return" member (owned by *ret_doc) or NULL with err filled. */
static json_object *agent_call(struct agent *a, json_object *cmd, json_object **ret_doc, struct dg_error *err)
{
	const char *text = json_object_to_json_string_ext(cmd, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	char *out = virDomainQemuAgentCommand(a->dom, text, a->timeout, 0);
	json_object *doc, *v;

	*ret_doc = NULL;
	if (!out) {
		dg_lv_error(err, DG_UNAVAILABLE, "guest agent");
		return NULL;
	}
	doc = json_tokener_parse(out);
	free(out);
	if (!doc || !json_object_object_get_ex(doc, "return", &v)) {
		json_object_put(doc);
		dg_error_set(err, DG_FAILED, "guest agent: an answer without \"return\"");
		return NULL;
	}
	*ret_doc = doc;
	return v;
}

static json_object *command(const char *name, json_object *args)
{
	json_object *c = json_object_new_object();

	json_object_object_add(c, "execute", json_object_new_string(name));
	if (args)
		json_object_object_add(c, "arguments", args);
	return c;
}

/* Standard base64 into a new NUL-terminated buffer. */
static char *unbase64(const char *b64, size_t *ret_len)
{
	size_t n = strlen(b64), pad = 0;
	unsigned char *out;
	int r;

	if (n % 4)
		return NULL;
	out = malloc(n / 4 * 3 + 1);
	if (!out)
		return NULL;
	r = n ? EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n) : 0;
	if (r < 0) {
		free(out);
		return NULL;
	}
	while (pad < 2 && n > pad && b64[n - 1 - pad] == '=')
		pad++;
	*ret_len = (size_t)r - pad;
	out[*ret_len] = '\0';
	return (char *)out;
}

/* Read a small file inside the guest: guest-file-open (read only), guest-file-read, guest-file-close. */
static int agent_read_file(struct agent *a, const char *path, char *buf, size_t len, struct dg_error *err)
{
	json_object *doc = NULL, *ret, *args, *v;
	int64_t handle;
	int r = 0;

	args = json_object_new_object();
	json_object_object_add(args, "path", json_object_new_string(path));
	json_object_object_add(args, "mode", json_object_new_string("r"));
	{
		json_object *c = command("guest-file-open", args);
		ret = agent_call(a, c, &doc, err);
		json_object_put(c);
	}
	if (!ret)
		return -(int)err->status;
	handle = json_object_get_int64(ret);
	json_object_put(doc);

	args = json_object_new_object();
	json_object_object_add(args, "handle", json_object_new_int64(handle));
	json_object_object_add(args, "count", json_object_new_int64((int64_t)len - 1));
	{
		json_object *c = command("guest-file-read", args);
		ret = agent_call(a, c, &doc, err);
		json_object_put(c);
	}
	if (!ret) {
		r = -(int)err->status;
	} else if (!json_object_object_get_ex(ret, "buf-b64", &v)) {
		r = dg_error_set(err, DG_FAILED, "guest agent: guest-file-read answered without buf-b64");
	} else {
		size_t n = 0;
		char *data = unbase64(json_object_get_string(v), &n);
		if (!data)
			r = dg_error_set(err, DG_FAILED, "guest agent: guest-file-read answered bad base64");
		else
			snprintf(buf, len, "%.*s", (int)n, data);
		free(data);
	}
	json_object_put(doc);

	args = json_object_new_object();
	json_object_object_add(args, "handle", json_object_new_int64(handle));
	{
		struct dg_error ignored = { 0 };
		json_object *c = command("guest-file-close", args);
		agent_call(a, c, &doc, &ignored);
		json_object_put(c);
		json_object_put(doc);
	}
	return r;
}

/* Run a read-only command inside the guest (guest-exec), wait for it within the agent timeout. */
static int agent_exec(struct agent *a, const char *path, const char *const *argv, int *ret_exit, char *out,
		      size_t out_len, struct dg_error *err)
{
	json_object *doc = NULL, *ret, *args, *arr, *v;
	int64_t pid;
	double deadline;

	args = json_object_new_object();
	arr = json_object_new_array();
	json_object_object_add(args, "path", json_object_new_string(path));
	for (; *argv; argv++)
		json_object_array_add(arr, json_object_new_string(*argv));
	json_object_object_add(args, "arg", arr);
	json_object_object_add(args, "capture-output", json_object_new_boolean(1));
	{
		json_object *c = command("guest-exec", args);
		ret = agent_call(a, c, &doc, err);
		json_object_put(c);
	}
	if (!ret)
		return -(int)err->status;
	if (!json_object_object_get_ex(ret, "pid", &v)) {
		json_object_put(doc);
		return dg_error_set(err, DG_FAILED, "guest agent: guest-exec answered without a pid");
	}
	pid = json_object_get_int64(v);
	json_object_put(doc);
	deadline = dg_clock_mono() + a->timeout;
	for (;;) {
		json_object *c;
		args = json_object_new_object();
		json_object_object_add(args, "pid", json_object_new_int64(pid));
		c = command("guest-exec-status", args);
		ret = agent_call(a, c, &doc, err);
		json_object_put(c);
		if (!ret)
			return -(int)err->status;
		if (json_object_object_get_ex(ret, "exited", &v) && json_object_get_boolean(v)) {
			*ret_exit = json_object_object_get_ex(ret, "exitcode", &v) ? json_object_get_int(v) : -1;
			out[0] = '\0';
			if (json_object_object_get_ex(ret, "out-data", &v)) {
				size_t n = 0;
				char *data = unbase64(json_object_get_string(v), &n);
				if (data)
					snprintf(out, out_len, "%s", data);
				free(data);
			}
			json_object_put(doc);
			return 0;
		}
		json_object_put(doc);
		if (dg_clock_left(deadline) == 0)
			return dg_error_set(err, DG_UNAVAILABLE, "guest agent: %s did not finish within %d s", path,
					    a->timeout);
		nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL);
	}
}

static void check_agent(struct dg_doctor_run *run, struct agent *a, const struct dg_domxml *x, bool running)
{
	struct dg_error e = { 0 };
	json_object *doc = NULL, *c;

	if (!running) {
		snprintf(a->why, sizeof(a->why), "the guest is not running");
		dg_doctor_emit(run, "guest-agent", DG_DOCTOR_WARN, "start the guest and run doctor again",
			       "guest agent not asked: the guest is not running");
		return;
	}
	if (!x->agent_channel) {
		snprintf(a->why, sizeof(a->why), "the domain has no guest agent channel");
		dg_doctor_emit(run, "guest-agent", DG_DOCTOR_WARN, AGENT_FIX,
			       "no guest agent channel (org.qemu.guest_agent.0) in the domain: the checks inside the guest "
			       "cannot be made");
		return;
	}
	if (!strcmp(x->agent_state, "disconnected")) {
		snprintf(a->why, sizeof(a->why), "the guest agent is not connected");
		dg_doctor_emit(run, "guest-agent", DG_DOCTOR_WARN,
			       "install qemu-guest-agent in the guest and start it (systemctl enable --now qemu-guest-agent)",
			       "guest agent channel present but no agent connected to it");
		return;
	}
	c = command("guest-ping", NULL);
	if (agent_call(a, c, &doc, &e)) {
		a->up = true;
		dg_doctor_emit(run, "guest-agent", DG_DOCTOR_OK, NULL, "guest agent answers guest-ping");
	} else {
		snprintf(a->why, sizeof(a->why), "the guest agent does not answer");
		dg_doctor_emit(run, "guest-agent", DG_DOCTOR_WARN,
			       "make sure qemu-guest-agent runs in the guest (systemctl enable --now qemu-guest-agent)",
			       "guest agent unreachable: %s", e.message);
	}
	json_object_put(c);
	json_object_put(doc);
}

static void not_checked(struct dg_doctor_run *run, const char *name, const struct agent *a, const char *what)
{
	dg_doctor_emit(run, name, DG_DOCTOR_WARN, "make the guest agent reachable (see guest-agent) or check this in the "
		       "guest by hand", "%s: %s (%s)", what, NO_AGENT_WHY, a->why);
}

static void check_nmi_panic(struct dg_doctor_run *run, struct agent *a)
{
	struct dg_error e = { 0 };
	char buf[64];
	int v;

	if (!a->up) {
		not_checked(run, "unknown-nmi-panic", a, "kernel.unknown_nmi_panic");
		return;
	}
	if (agent_read_file(a, "/proc/sys/kernel/unknown_nmi_panic", buf, sizeof(buf), &e) < 0) {
		dg_doctor_emit(run, "unknown-nmi-panic", DG_DOCTOR_WARN,
			       "allow guest-file-open/guest-file-read in the guest agent, or check the sysctl by hand",
			       "kernel.unknown_nmi_panic could not be read through the agent: %s", e.message);
		return;
	}
	v = dg_doctor_parse_sysctl_bool(buf);
	if (v == 1)
		dg_doctor_emit(run, "unknown-nmi-panic", DG_DOCTOR_OK, NULL,
			       "kernel.unknown_nmi_panic=1: the guest kernel panics on the NMI");
	else if (v == 0)
		dg_doctor_emit(run, "unknown-nmi-panic", DG_DOCTOR_FAIL,
			       "set kernel.unknown_nmi_panic=1 in the guest (sysctl -w, and in /etc/sysctl.d/ to keep it)",
			       "kernel.unknown_nmi_panic=0: the guest logs the NMI and carries on, no panic and no dump");
	else
		dg_doctor_emit(run, "unknown-nmi-panic", DG_DOCTOR_WARN, "check kernel.unknown_nmi_panic in the guest by hand",
			       "kernel.unknown_nmi_panic reads '%.20s', not 0 or 1", buf);
}

/* VMCOREINFO in the dump: what lets diagint explain it without a debug vmlinux (diagint/vmcore.h). The domain
 * must ask QEMU for it and the guest kernel must hand it over through fw_cfg (the qemu_fw_cfg module). */
static void check_vmcoreinfo(struct dg_doctor_run *run, struct agent *a, const struct dg_domxml *x)
{
	struct dg_error e = { 0 };
	char buf[64];

	if (!x->vmcoreinfo) {
		dg_doctor_emit(run, "vmcoreinfo", DG_DOCTOR_WARN,
			       "add <vmcoreinfo state='on'/> to the domain's <features> (applies at the next start)",
			       "no <vmcoreinfo/> feature: dumps carry no VMCOREINFO, so no kernel log, panic line or "
			       "symbols beside them without the guest's debug vmlinux");
		return;
	}
	if (!a->up) {
		not_checked(run, "vmcoreinfo", a, "the guest's qemu_fw_cfg module (VMCOREINFO)");
		return;
	}
	if (agent_read_file(a, "/sys/firmware/qemu_fw_cfg/rev", buf, sizeof(buf), &e) < 0)
		dg_doctor_emit(run, "vmcoreinfo", DG_DOCTOR_WARN,
			       "load qemu_fw_cfg in the guest (modprobe qemu_fw_cfg; list it in /etc/modules-load.d/)",
			       "<vmcoreinfo/> is on but the guest shows no /sys/firmware/qemu_fw_cfg: the kernel does "
			       "not hand its VMCOREINFO to QEMU, dumps will not explain themselves");
	else
		dg_doctor_emit(run, "vmcoreinfo", DG_DOCTOR_OK, NULL,
			       "<vmcoreinfo/> on and qemu_fw_cfg loaded: dumps carry VMCOREINFO (kernel log, panic "
			       "line and symbols beside each capture)");
}

static void check_crashkernel(struct dg_doctor_run *run, struct agent *a, const struct dg_domxml *x)
{
	static const char fix[] = "reserve memory for the kdump kernel: add crashkernel=256M (or the size your "
				  "distribution's kdump documentation gives) to the guest kernel's command line";
	struct dg_error e = { 0 };
	char cmdline[4096], val[128];

	if (!a->up) {
		/* Direct kernel boot puts the command line in the XML: readable without the agent. */
		if (x->os_cmdline[0]) {
			if (dg_doctor_cmdline_crashkernel(x->os_cmdline, val, sizeof(val)))
				dg_doctor_emit(run, "crashkernel", DG_DOCTOR_OK, NULL,
					       "crashkernel=%s on the domain's <cmdline> (direct kernel boot)", val);
			else
				dg_doctor_emit(run, "crashkernel", DG_DOCTOR_WARN, fix,
					       "no crashkernel= on the domain's <cmdline>: the guest cannot write its own "
					       "vmcore (diagint's host capture still works)");
			return;
		}
		not_checked(run, "crashkernel", a, "crashkernel= in /proc/cmdline");
		return;
	}
	if (agent_read_file(a, "/proc/cmdline", cmdline, sizeof(cmdline), &e) < 0) {
		dg_doctor_emit(run, "crashkernel", DG_DOCTOR_WARN,
			       "allow guest-file-open/guest-file-read in the guest agent, or check /proc/cmdline by hand",
			       "/proc/cmdline could not be read through the agent: %s", e.message);
		return;
	}
	if (dg_doctor_cmdline_crashkernel(cmdline, val, sizeof(val)))
		dg_doctor_emit(run, "crashkernel", DG_DOCTOR_OK, NULL, "crashkernel=%s in the guest's /proc/cmdline", val);
	else
		dg_doctor_emit(run, "crashkernel", DG_DOCTOR_WARN, fix,
			       "no crashkernel= in the guest's /proc/cmdline: the guest cannot write its own vmcore "
			       "(diagint's host capture still works)");
}

/* kdump is armed when a crash kernel is loaded (/sys/kernel/kexec_crash_loaded); the service tells why not. */
static void check_kdump(struct dg_doctor_run *run, struct agent *a)
{
	static const char *const argv[] = { "is-active", "kdump", "kdump-tools", NULL };
	static const char fix[] = "install and enable the kdump service in the guest (kdump-tools on Debian/Ubuntu, "
				  "kexec-tools' kdump on RHEL/Oracle Linux/SUSE) with crashkernel= reserved";
	struct dg_error e = { 0 };
	char out[256], loaded[16];
	const char *active = NULL;
	int code = -1, r;

	if (!a->up) {
		not_checked(run, "kdump-service", a, "the kdump service");
		return;
	}
	if (agent_read_file(a, "/sys/kernel/kexec_crash_loaded", loaded, sizeof(loaded), &e) == 0 &&
	    dg_doctor_parse_sysctl_bool(loaded) == 1) {
		dg_doctor_emit(run, "kdump-service", DG_DOCTOR_OK, NULL,
			       "a crash kernel is loaded in the guest (kexec_crash_loaded=1): kdump is armed");
		return;
	}
	r = agent_exec(a, "systemctl", argv, &code, out, sizeof(out), &e);
	if (r == 0) {
		/* One line per unit asked, in order. */
		char *save = NULL, *line = strtok_r(out, "\n", &save);
		for (int i = 0; line && i < 2; i++, line = strtok_r(NULL, "\n", &save))
			if (!strcmp(line, "active"))
				active = argv[1 + i];
	}
	if (active)
		dg_doctor_emit(run, "kdump-service", DG_DOCTOR_WARN,
			       "check the service's log in the guest (journalctl -u kdump) and that crashkernel= is reserved",
			       "the guest's %s service is active but no crash kernel is loaded", active);
	else if (r == 0)
		dg_doctor_emit(run, "kdump-service", DG_DOCTOR_WARN, fix,
			       "no crash kernel loaded and neither kdump nor kdump-tools is active in the guest: it will "
			       "not write its own vmcore (diagint's host capture still works)");
	else if (strstr(e.message, "No such file"))
		dg_doctor_emit(run, "kdump-service", DG_DOCTOR_WARN, fix,
			       "no crash kernel loaded in the guest, and no systemctl there to ask about a kdump service");
	else
		dg_doctor_emit(run, "kdump-service", DG_DOCTOR_WARN,
			       "allow guest-exec in the guest agent (or check 'systemctl is-active kdump' by hand)",
			       "no crash kernel loaded in the guest; the kdump service could not be checked: %s", e.message);
}

/* Room where kdump writes the vmcore (/var/crash), from guest-get-fsinfo's used/total bytes. */
static void check_vmcore_space(struct dg_doctor_run *run, struct agent *a, uint64_t ram)
{
	struct dg_error e = { 0 };
	json_object *doc = NULL, *ret, *c, *v;
	const char *best = NULL;
	size_t best_len = 0;
	int64_t used = -1, total = -1;
	char f[32], need[32], mnt[256] = "";

	if (!a->up) {
		not_checked(run, "vmcore-space", a, "room for the guest's vmcore in /var/crash");
		return;
	}
	c = command("guest-get-fsinfo", NULL);
	ret = agent_call(a, c, &doc, &e);
	json_object_put(c);
	if (!ret || !json_object_is_type(ret, json_type_array)) {
		dg_doctor_emit(run, "vmcore-space", DG_DOCTOR_WARN,
			       "allow guest-get-fsinfo in the guest agent, or check the room in /var/crash by hand",
			       "room for the vmcore could not be checked through the agent: %s",
			       ret ? "guest-get-fsinfo answered no list" : e.message);
		json_object_put(doc);
		return;
	}
	for (size_t i = 0; i < json_object_array_length(ret); i++) {
		json_object *fs = json_object_array_get_idx(ret, i);
		const char *mp;
		size_t n;
		if (!json_object_object_get_ex(fs, "mountpoint", &v))
			continue;
		mp = json_object_get_string(v);
		n = strlen(mp);
		if (strncmp("/var/crash", mp, n) || (n > 1 && "/var/crash"[n] && "/var/crash"[n] != '/') || n < best_len)
			continue;
		if (!json_object_object_get_ex(fs, "used-bytes", &v))
			continue;
		best = mp;
		best_len = n;
		used = json_object_get_int64(v);
		total = json_object_object_get_ex(fs, "total-bytes", &v) ? json_object_get_int64(v) : -1;
	}
	if (!best || used < 0 || total < used) {
		/* guest-get-fsinfo lists block-device filesystems only: ask df (POSIX output) for the rest. */
		static const char *const argv[] = { "-Pk", "/var/crash", NULL };
		char out[1024];
		unsigned long long blocks, used_k, avail_k;
		int code = -1;
		const char *line2;
		struct dg_error e2 = { 0 };
		if (agent_exec(a, "df", argv, &code, out, sizeof(out), &e2) == 0 && code == 0 &&
		    (line2 = strchr(out, '\n')) && sscanf(line2 + 1, "%*s %llu %llu %llu %*s %255s", &blocks, &used_k, &avail_k, mnt) == 4) {
			total = (int64_t)avail_k * 1024 + (int64_t)used_k * 1024;
			used = (int64_t)used_k * 1024;
			best = mnt;
		} else {
			dg_doctor_emit(run, "vmcore-space", DG_DOCTOR_WARN,
				       "check the room in /var/crash inside the guest by hand (it must exist)",
				       "the guest agent reports no filesystem for /var/crash and 'df -Pk /var/crash' did not "
				       "answer%s%s", e2.message[0] ? ": " : "", e2.message);
			json_object_put(doc);
			return;
		}
	}
	{
		uint64_t free_b = (uint64_t)(total - used);
		dg_format_bytes(free_b, false, f, sizeof(f));
		dg_format_bytes(ram, false, need, sizeof(need));
		if (free_b >= ram)
			dg_doctor_emit(run, "vmcore-space", DG_DOCTOR_OK, NULL,
				       "%s free for /var/crash (filesystem at %s), at least the guest's RAM (%s)", f, best,
				       need);
		else
			dg_doctor_emit(run, "vmcore-space", DG_DOCTOR_WARN,
				       "free space on the guest's /var/crash filesystem or have makedumpfile filter "
				       "more (-d 31)",
				       "%s free for /var/crash (filesystem at %s), less than the guest's RAM (%s): a large "
				       "vmcore may not fit", f, best, need);
	}
	json_object_put(doc);
}

static bool uri_is_local(const char *uri)
{
	const char *p = uri ? strstr(uri, "://") : NULL, *end;

	if (!p)
		return true;
	p += 3;
	end = p + strcspn(p, "/?");
	return end == p || (end - p == 9 && !strncmp(p, "localhost", 9));
}

/* The host side: where the capture goes, whether it can be written and has room for the RAM under the
 * retention rules (MaxUse, KeepFree), exactly as `diagint inject` will decide, but without evicting anything. */
static void check_destination(struct dg_doctor_run *run, const struct dg_doctor_opts *o, const char *name,
			      uint64_t ram, const char *uri)
{
	struct dg_capture_policy pol;
	struct dg_dumpdir *dir = NULL;
	struct dg_retention_result res = { 0 };
	struct dg_error e = { 0 };
	const char *dest;
	bool missing = false;
	struct stat st;
	uint64_t need = dg_inject_dump_bytes_needed(ram);
	char needs[32], frees[32];
	int r;

	dg_config_capture_policy(o->config, name, &pol);
	dest = o->dest ? o->dest : pol.dest[0] ? pol.dest : DG_DEFAULT_DUMP_DIR;
	dg_format_bytes(need, false, needs, sizeof(needs));
	if (dest[0] == '|') {
		if (!uri_is_local(uri))
			dg_doctor_emit(run, "dump-destination", DG_DOCTOR_FAIL,
				       "use a directory both hosts see (e.g. NFS) as Destination",
				       "destination %s is a command, and a command needs libvirt on this host; %s is remote",
				       dest, uri);
		else
			dg_doctor_emit(run, "dump-room", DG_DOCTOR_WARN,
				       "make sure the command's own destination has room for the guest's RAM",
				       "destination is the command %s: room for %s is the command's to find", dest, needs);
		return;
	}
	if (dest[0] != '/') {
		dg_doctor_emit(run, "dump-destination", DG_DOCTOR_FAIL, "give an absolute directory (or |COMMAND)",
			       "destination '%s' is relative", dest);
		return;
	}
	if (stat(dest, &st) < 0 && errno == ENOENT && dg_dumpdir_is_default(dest)) {
		/* The answer inject and the hook give too: the default is made by the first capture. Its room is the
		 * room of the filesystem it will be made on. */
		r = dg_dumpdir_open_dry(dest, true, &dir, &missing, &e);
		if (r < 0) {
			dg_doctor_emit(run, "dump-destination", DG_DOCTOR_FAIL, "create it (mkdir -p -m 0700 " DG_DEFAULT_DUMP_DIR
				       ") or choose another Destination in diagint.conf", "%s", e.message);
			return;
		}
		dg_doctor_emit(run, "dump-destination", DG_DOCTOR_OK, NULL,
			       "default destination %s does not exist yet: the first capture creates it (mode 0700)", dest);
		goto room;
	}
	if (stat(dest, &st) < 0) {
		dg_doctor_emit(run, "dump-destination", DG_DOCTOR_FAIL, "create the directory or choose another "
			       "Destination in diagint.conf", "destination %s: %s", dest, strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		dg_doctor_emit(run, "dump-destination", DG_DOCTOR_FAIL, "choose a directory as Destination in diagint.conf",
			       "destination %s is not a directory", dest);
		return;
	}
	if (access(dest, W_OK | X_OK) < 0) {
		dg_doctor_emit(run, "dump-destination", DG_DOCTOR_FAIL,
			       "make the directory writable for the user diagint runs as, or choose another Destination",
			       "destination %s is not writable: %s", dest, strerror(errno));
		return;
	}
	dg_doctor_emit(run, "dump-destination", DG_DOCTOR_OK, NULL, "destination %s exists and is writable%s", dest,
		       uri_is_local(uri) ? "" : " here (libvirt is remote: it must be the same directory there)");

	r = dg_dumpdir_open(dest, false, &dir, &e);
	if (r < 0) {
		dg_doctor_emit(run, "dump-room", DG_DOCTOR_FAIL, "fix the destination directory", "%s", e.message);
		return;
	}
room:
	{
		/* FloodLimit: a domain that has had its share of dumps lately is refused until the window passes. */
		char prefix[DG_DUMPNAME_PREFIX_MAX + 1];
		dg_dumpname_prefix(name, prefix, sizeof(prefix));
		if (pol.flood_limit && dg_retention_flood_check(dir, &pol, prefix, time(NULL), &e) < 0)
			dg_doctor_emit(run, "flood-limit", DG_DOCTOR_WARN,
				       "wait for the window to pass, or raise FloodLimit for this domain in diagint.conf",
				       "%s", e.message);
		else if (pol.flood_limit)
			dg_doctor_emit(run, "flood-limit", DG_DOCTOR_OK, NULL,
				       "under the flood limit (%u dumps per %u s)", pol.flood_limit, pol.flood_window);
		dg_error_clear(&e);
	}
	r = dg_retention_apply(dir, &pol, need, false, NULL, NULL, &res, &e);
	dg_format_bytes(res.fs_free, false, frees, sizeof(frees));
	if (r == 0)
		dg_doctor_emit(run, "dump-room", DG_DOCTOR_OK, NULL,
			       "room for a capture of the guest's RAM: %s needed, %s free in %s within the retention rules",
			       needs, frees, dest);
	else if (r == -DG_REFUSED && res.usage > 0)
		dg_doctor_emit(run, "dump-room", DG_DOCTOR_WARN,
			       "remove old dumps (diagint dumps gc / rm), free space or raise MaxUse/KeepFree",
			       "a capture would first remove older dumps to make room: %s", e.message);
	else
		dg_doctor_emit(run, "dump-room", DG_DOCTOR_FAIL,
			       "free space there, raise MaxUse/KeepFree in diagint.conf or choose another Destination",
			       "%s", e.message);
	dg_dumpdir_free(dir);
}

static const char *state_name(int state)
{
	switch (state) {
	case VIR_DOMAIN_RUNNING:
		return "running";
	case VIR_DOMAIN_BLOCKED:
		return "blocked";
	case VIR_DOMAIN_PAUSED:
		return "paused";
	case VIR_DOMAIN_SHUTDOWN:
		return "shutting down";
	case VIR_DOMAIN_SHUTOFF:
		return "shut off";
	case VIR_DOMAIN_CRASHED:
		return "crashed";
	case VIR_DOMAIN_PMSUSPENDED:
		return "suspended by guest power management";
	default:
		return "in an unknown state";
	}
}

int dg_doctor_check_libvirt(struct dg_lv *lv, const char *domain, const char *target_text,
			    const struct dg_doctor_opts *o, dg_doctor_fn fn, void *userdata,
			    struct dg_doctor_summary *ret, struct dg_error *err)
{
	static const struct dg_doctor_opts none = { 0 };
	char text[DG_TARGET_MAX], why[512];
	struct dg_doctor_run run = { .fn = fn, .userdata = userdata };
	struct dg_domxml x;
	struct agent a = { 0 };
	virDomainPtr dom = NULL;
	virDomainInfo info;
	char *xml = NULL;
	const char *name;
	int state = 0, reason = 0, r;
	bool running;
	enum dg_doctor_level lvl;

	if (!o)
		o = &none;
	snprintf(text, sizeof(text), "%s%s", target_text ? "" : "libvirt:", target_text ? target_text : domain);
	run.target = text;

	r = dg_lv_lookup(lv, domain, &dom, err);
	if (r < 0) {
		dg_doctor_emit(&run, "domain", DG_DOCTOR_FAIL, "check the name and the --connect URI", "%s", err->message);
		return dg_doctor_finish(&run, r, ret, err);
	}
	name = virDomainGetName(dom);
	if (virDomainGetState(dom, &state, &reason, 0) < 0 || virDomainGetInfo(dom, &info) < 0 ||
	    !(xml = virDomainGetXMLDesc(dom, 0))) {
		r = dg_lv_error(err, DG_UNAVAILABLE, "cannot read domain %s", name);
		dg_doctor_emit(&run, "domain", DG_DOCTOR_FAIL, "check that libvirtd answers", "%s", err->message);
		goto out;
	}
	running = state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_BLOCKED;
	if (running)
		dg_doctor_emit(&run, "domain", DG_DOCTOR_OK, NULL, "domain %s is running at %s", name, dg_lv_uri(lv));
	else if (state == VIR_DOMAIN_PAUSED)
		dg_doctor_emit(&run, "domain", DG_DOCTOR_WARN, "resume it when it should run (virsh resume)",
			       "domain %s is paused: an NMI waits until it runs", name);
	else
		dg_doctor_emit(&run, "domain", DG_DOCTOR_FAIL, "start it (virsh start) and run doctor again",
			       "domain %s is %s: an NMI needs a running guest", name, state_name(state));

	r = dg_domxml_parse(xml, &x, err);
	if (r < 0) {
		dg_doctor_emit(&run, "domain-xml", DG_DOCTOR_FAIL, "check the domain with virsh dumpxml", "%s", err->message);
		goto out;
	}
	if (x.panic)
		dg_doctor_emit(&run, "panic-device", DG_DOCTOR_OK, NULL,
			       "<panic%s%s%s> device present: libvirt learns of the guest's panic at once",
			       x.panic_model[0] ? " model='" : "", x.panic_model, x.panic_model[0] ? "'" : "");
	else
		dg_doctor_emit(&run, "panic-device", DG_DOCTOR_FAIL,
			       "add <panic model='isa'><address type='isa' iobase='0x505'/></panic> (pvpanic; the guest "
			       "needs <acpi/>) to the domain's <devices> and restart it when convenient",
			       "no <panic> device: libvirt never learns that the guest panicked, so a capture cannot wait "
			       "for the panic and on_crash never applies");
	lvl = dg_doctor_on_crash_level(x.on_crash, why, sizeof(why));
	dg_doctor_emit(&run, "on-crash", lvl,
		       lvl == DG_DOCTOR_WARN && !strncmp(x.on_crash, "coredump-", 9)
			       ? "set <on_crash>preserve</on_crash> and let diagint capture (or keep libvirt's dump and "
				 "expect two)"
			       : "set <on_crash>preserve</on_crash> in the domain XML (virsh edit; applies at the next "
				 "start)",
		       "%s", why);

	a.dom = dom;
	{
		/* libvirt takes whole seconds: round up, at least 1 */
		double t = o->agent_timeout > 0 ? o->agent_timeout : DG_DOCTOR_AGENT_TIMEOUT;
		a.timeout = (int)t + ((double)(int)t < t);
		if (a.timeout < 1)
			a.timeout = 1;
	}
	check_agent(&run, &a, &x, running);
	check_nmi_panic(&run, &a);
	check_vmcoreinfo(&run, &a, &x);
	check_crashkernel(&run, &a, &x);
	check_kdump(&run, &a);
	check_vmcore_space(&run, &a, (uint64_t)info.maxMem * 1024);
	check_destination(&run, o, name, (uint64_t)info.maxMem * 1024, dg_lv_uri(lv));
	r = 0;
out:
	free(xml);
	virDomainFree(dom);
	return dg_doctor_finish(&run, r, ret, err);
}

int dg_doctor_libvirt_target(const struct dg_target *t, const struct dg_doctor_opts *o, dg_doctor_fn fn,
			     void *userdata, struct dg_doctor_summary *ret, struct dg_error *err)
{
	struct dg_doctor_run run = { .target = t->text, .fn = fn, .userdata = userdata };
	struct dg_lv *lv = NULL;
	int r;

	r = dg_lv_open(o->libvirt_uri, &lv, err);
	if (r < 0) {
		dg_doctor_emit(&run, "libvirt", DG_DOCTOR_FAIL, "check --connect and that libvirtd runs", "%s", err->message);
		return dg_doctor_finish(&run, r, ret, err);
	}
	r = dg_doctor_check_libvirt(lv, t->part[0], t->text, o, fn, userdata, ret, err);
	dg_lv_free(lv);
	return r;
}
