/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/virterror.h>

#include "dg_config.h"
#include "diagint/clock.h"
#include "diagint/config.h"
#include "diagint/dumpdir.h"
#include "diagint/inject.h"
#include "diagint/retention.h"
#include "capture/stream.h"
#include "diagint/vmcore.h"

static void logf_(const struct dg_inject_opts *o, enum dg_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void logf_(const struct dg_inject_opts *o, enum dg_log_level level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (!o->log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	o->log(o->log_userdata, level, buf);
}

uint64_t dg_inject_dump_bytes_needed(uint64_t ram)
{
	/* Measured: a 128 MiB guest gives 134,485,163 bytes (RAM + 256 KiB BIOS + ~11 KiB notes). The margin covers
	 * larger option ROMs and per-vCPU notes on big guests. */
	return ram + ram / 64 + (8u << 20);
}

/* Lifecycle events for one domain, handed from libvirt's event thread to the waiting caller. */
struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool crashed;
	bool stopped;
	int crash_detail;
	int stop_detail;
};

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	struct waiter *w = opaque;

	(void)conn;
	(void)dom;
	pthread_mutex_lock(&w->lock);
	/* SUSPENDED/RESUMED pairs come from dumps and migrations: they say nothing about a panic. */
	if (event == VIR_DOMAIN_EVENT_CRASHED) {
		w->crashed = true;
		w->crash_detail = detail;
	} else if (event == VIR_DOMAIN_EVENT_STOPPED) {
		w->stopped = true;
		w->stop_detail = detail;
	}
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

static const char *crash_detail_name(int d)
{
	switch (d) {
	case VIR_DOMAIN_EVENT_CRASHED_PANICKED:
		return "crashed/panicked";
	case VIR_DOMAIN_EVENT_CRASHED_CRASHLOADED:
		return "crashed/crashloaded";
	default:
		return "crashed";
	}
}

/* The dump runs on its own thread so the caller can report progress of a long one. */
struct dump_job {
	virDomainPtr dom;
	const char *path;
	unsigned format;
	int result;
	virErrorPtr error;
	bool done;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static void *dump_main(void *arg)
{
	struct dump_job *j = arg;
	int r = virDomainCoreDumpWithFormat(j->dom, j->path, j->format, VIR_DUMP_MEMORY_ONLY);

	pthread_mutex_lock(&j->lock);
	j->result = r;
	if (r < 0)
		j->error = virSaveLastError();
	j->done = true;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

static int run_dump(virDomainPtr dom, const char *path, unsigned format, const struct dg_inject_opts *o,
		    uint64_t ram, struct dg_error *err)
{
	struct dump_job j = { .dom = dom, .path = path, .format = format };
	pthread_t th;
	pthread_condattr_t ca;
	double start = dg_clock_mono() * 1e3;
	int r = 0;

	pthread_mutex_init(&j.lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j.cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&th, NULL, dump_main, &j) != 0) {
		r = dg_error_set(err, DG_FAILED, "cannot start the dump thread");
		goto out;
	}
	pthread_mutex_lock(&j.lock);
	while (!j.done) {
		struct timespec ts = dg_clock_deadline(CLOCK_MONOTONIC, 1);

		if (pthread_cond_timedwait(&j.cond, &j.lock, &ts) == ETIMEDOUT && !j.done) {
			virDomainJobInfo info;
			double secs = ((dg_clock_mono() * 1e3) - start) / 1e3;

			pthread_mutex_unlock(&j.lock);
			if (virDomainGetJobInfo(dom, &info) == 0 && info.memTotal > 0)
				logf_(o, DG_LOG_PROGRESS, "dumping: %llu of %llu MiB (%.0f%%), %.0f s",
				      info.memProcessed >> 20, info.memTotal >> 20,
				      100.0 * (double)info.memProcessed / (double)info.memTotal, secs);
			else
				logf_(o, DG_LOG_PROGRESS, "dumping %llu MiB of guest memory: %.0f s",
				      (unsigned long long)(ram >> 20), secs);
			pthread_mutex_lock(&j.lock);
		}
	}
	pthread_mutex_unlock(&j.lock);
	pthread_join(th, NULL);
	if (j.result < 0) {
		r = dg_lv_error_from(err, j.error, DG_FAILED, "memory dump of the guest failed");
		virFreeError(j.error);
	}
out:
	pthread_cond_destroy(&j.cond);
	pthread_mutex_destroy(&j.lock);
	return r;
}

static int fill_identity(struct dg_lv *lv, virDomainPtr dom, struct dg_dump_record *rec, int *state,
			 struct dg_error *err)
{
	virConnectPtr c = dg_lv_conn(lv);
	virDomainInfo info;
	unsigned long ver = 0;
	char *host;
	int reason;

	snprintf(rec->domain, sizeof(rec->domain), "%s", virDomainGetName(dom));
	virDomainGetUUIDString(dom, rec->uuid);
	rec->domain_id = (int)virDomainGetID(dom);
	snprintf(rec->uri, sizeof(rec->uri), "%s", dg_lv_uri(lv));
	host = virConnectGetHostname(c);
	snprintf(rec->host, sizeof(rec->host), "%s", host ? host : "");
	free(host);
	if (virConnectGetLibVersion(c, &ver) == 0)
		dg_lv_version_string(ver, rec->libvirt_version, sizeof(rec->libvirt_version));
	if (virConnectGetVersion(c, &ver) == 0)
		dg_lv_version_string(ver, rec->qemu_version, sizeof(rec->qemu_version));
	if (virDomainGetInfo(dom, &info) < 0 || virDomainGetState(dom, state, &reason, 0) < 0)
		return dg_lv_error(err, DG_UNAVAILABLE, "cannot read the state of domain %s", rec->domain);
	rec->vcpus = info.nrVirtCpu;
	rec->ram_bytes = (uint64_t)info.maxMem * 1024;
	return 0;
}

/* libvirt reports success for a dump written where we cannot see it (a remote URI, a daemon in another mount
 * namespace such as systemd's PrivateTmp): what we would commit is then our empty placeholder. Check what is
 * really there before calling it a dump. */
static int verify_dump(const char *path, uint64_t ram, struct dg_error *err)
{
	unsigned char magic[4] = { 0 };
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return dg_error_set_errno(err, DG_FAILED, errno, "dump %s cannot be read back", path);
	n = pread(fd, magic, sizeof(magic), 0);
	if (fstat(fd, &st) < 0)
		st.st_size = 0;
	close(fd);
	if (n != (ssize_t)sizeof(magic) || memcmp(magic, "\177ELF", 4) != 0 || (uint64_t)st.st_size < ram)
		return dg_error_set(err, DG_FAILED,
				    "libvirt reported the dump written, but %s holds %lld bytes%s for %llu bytes of RAM: "
				    "the daemon wrote it somewhere this host does not see (a remote URI, or libvirtd in "
				    "another mount namespace); choose a --dump-dir that both see at the same path",
				    path, (long long)st.st_size, n == 4 && !memcmp(magic, "\177ELF", 4) ? "" : " and no ELF header",
				    (unsigned long long)ram);
	return 0;
}

/* The stream path repairs QEMU's ELF header on the way (diagint/vmcore.h); a file libvirt wrote itself is
 * repaired in place, before it is hashed. A failure leaves a dump crash and gdb still read: a warning. */
static void repair_written_header(const struct dg_inject_opts *o, const char *path)
{
	struct dg_error e = { 0 };
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0 || dg_elfhdr_repair_fd(fd, path, &e) < 0)
		logf_(o, DG_LOG_WARNING, "cannot rewrite the ELF header of %s for makedumpfile: %s", path,
		      fd < 0 ? strerror(errno) : e.message);
	if (fd >= 0)
		close(fd);
}

static double secs_or_default(double timeout)
{
	return timeout > 0 ? timeout : DG_INJECT_DEFAULT_TIMEOUT;
}

static void log_discard(void *ud, enum dg_log_level level, const char *msg)
{
	(void)ud;
	(void)level;
	(void)msg;
}


static int parse_format(const char *name, unsigned *ret)
{
	static const struct {
		const char *name;
		unsigned code;
	} f[] = {
		{ "elf", VIR_DOMAIN_CORE_DUMP_FORMAT_RAW },
		{ "kdump-zlib", VIR_DOMAIN_CORE_DUMP_FORMAT_KDUMP_ZLIB },
		{ "kdump-lzo", VIR_DOMAIN_CORE_DUMP_FORMAT_KDUMP_LZO },
		{ "kdump-snappy", VIR_DOMAIN_CORE_DUMP_FORMAT_KDUMP_SNAPPY },
		{ "win-dmp", VIR_DOMAIN_CORE_DUMP_FORMAT_WIN_DMP },
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (!strcmp(f[i].name, name)) {
			*ret = f[i].code;
			return 0;
		}
	return -1;
}

/* The FIFO lives on this host: it only works when libvirtd does too. */
static bool uri_is_local(const char *uri)
{
	const char *p = strstr(uri, "://"), *end;

	if (!p)
		return true;
	p += 3;
	end = p + strcspn(p, "/?");
	return end == p || (end - p == 9 && !strncmp(p, "localhost", 9));
}

/* Everything the capture needs, settled before the NMI. */
struct plan {
	struct dg_capture_policy policy;
	const char *dest;
	bool pipe;
	bool stream;
	unsigned vir_format;
	const char *ext;
	struct dg_dumpdir *dir;
	struct dg_dump_slot slot;
};

static int plan_capture(const struct dg_inject_opts *o, struct dg_dump_record *rec, struct plan *pl,
			const char *uri, struct dg_error *err)
{
	char prefix[DG_DUMPNAME_PREFIX_MAX + 1];
	bool missing = false;
	int r;

	dg_config_capture_policy(o->config, rec->domain, &pl->policy);
	pl->dest = o->dest ? o->dest : o->dump_dir ? o->dump_dir : pl->policy.dest[0] ? pl->policy.dest : NULL;
	if (!pl->dest)
		pl->dest = DG_DEFAULT_DUMP_DIR;
	if (o->format)
		snprintf(pl->policy.format, sizeof(pl->policy.format), "%s", o->format);
	if (parse_format(pl->policy.format, &pl->vir_format) < 0)
		return dg_error_set(err, DG_USAGE, "unknown dump format '%s': use elf, kdump-zlib, kdump-lzo, "
				    "kdump-snappy or win-dmp", pl->policy.format);
	pl->ext = dg_dumpname_ext(pl->policy.format);
	snprintf(rec->format, sizeof(rec->format), "%s", pl->policy.format);
	snprintf(rec->dest, sizeof(rec->dest), "%s", pl->dest);
	pl->pipe = pl->dest[0] == '|';
	pl->stream = uri_is_local(uri);
	dg_dumpname_prefix(rec->domain, prefix, sizeof(prefix));
	if (pl->pipe) {
		if (!pl->stream)
			return dg_error_set(err, DG_USAGE, "a |COMMAND destination needs libvirt on this host, and %s is "
					    "remote: use a directory both hosts see (e.g. NFS)", uri);
		if (dg_inject_destination_check(pl->dest, err) < 0)
			return -DG_USAGE;
		/* The name it would have had, for DIAGINT_DUMP_NAME */
		dg_dumpname_format(prefix, rec->requested.tv_sec, 0, pl->ext, rec->name, sizeof(rec->name));
		return 0;
	}
	if (pl->dest[0] != '/')
		return dg_inject_destination_check(pl->dest, err);
	/* The default is created when missing however it was given (built in, Destination=, --dump-dir): a fresh
	 * host captures. Any other directory must exist, so that a mistyped one is an error, not a new directory. */
	if (o->dry_run) {
		r = dg_dumpdir_open_dry(pl->dest, dg_dumpdir_is_default(pl->dest), &pl->dir, &missing, err);
		if (r < 0)
			return r;
		if (missing)
			logf_(o, DG_LOG_INFO, "dry run: %s does not exist yet: the capture would create it (mode 0700)",
			      pl->dest);
		r = dg_retention_flood_check(pl->dir, &pl->policy, prefix, rec->requested.tv_sec, err);
		if (r < 0)
			return r;
		if (missing)
			r = dg_dumpname_format(prefix, rec->requested.tv_sec, 0, pl->ext, pl->slot.name,
					       sizeof(pl->slot.name)) < 0 ?
				    dg_error_set(err, DG_USAGE, "dump name for '%s' is too long", rec->domain) : 0;
		else
			r = dg_dumpdir_peek_ext(pl->dir, prefix, pl->ext, rec->requested.tv_sec, &pl->slot, err);
		if (r < 0)
			return r;
		r = dg_retention_plan(pl->dir, &pl->policy, dg_inject_dump_bytes_needed(rec->ram_bytes), o->log,
				      o->log_userdata, NULL, err);
		if (r < 0)
			return r;
		snprintf(rec->name, sizeof(rec->name), "%s", pl->slot.name);
		snprintf(rec->path, sizeof(rec->path), "%s/%s", dg_dumpdir_path(pl->dir), pl->slot.name);
		return 0;
	}
	r = dg_dumpdir_open(pl->dest, dg_dumpdir_is_default(pl->dest), &pl->dir, err);
	if (r < 0)
		return r;
	r = dg_dumpdir_clean_stale(pl->dir);
	if (r > 0 && o->log) {
		char msg[PATH_MAX + 64];
		snprintf(msg, sizeof(msg), "removed %d stale partial dump(s) from %s", r, pl->dest);
		o->log(o->log_userdata, DG_LOG_INFO, msg);
	}
	r = dg_retention_flood_check(pl->dir, &pl->policy, prefix, rec->requested.tv_sec, err);
	if (r < 0)
		return r;
	r = dg_dumpdir_reserve_ext(pl->dir, prefix, pl->ext, rec->requested.tv_sec, &pl->slot, err);
	if (r < 0)
		return r;
	r = dg_retention_apply(pl->dir, &pl->policy, dg_inject_dump_bytes_needed(rec->ram_bytes), true, o->log,
			       o->log_userdata, NULL, err);
	if (r < 0)
		return r;
	snprintf(rec->name, sizeof(rec->name), "%s", pl->slot.name);
	snprintf(rec->path, sizeof(rec->path), "%s", pl->slot.path);
	return 0;
}

/* Shrink= in the configuration: the ELF, explained and recorded, becomes makedumpfile's filtered kdump file
 * (diagint/vmcore.h: it moves the sidecar and the kernel log along). rec then describes the new file. A failure
 * keeps the ELF and its record: a warning. */
static void shrink_after(const struct dg_inject_opts *o, struct plan *pl, struct dg_dump_record *rec)
{
	struct dg_shrink_opts so = { .compression = pl->policy.shrink };
	struct dg_shrink_result res;
	struct dg_error e = { 0 };
	double t = dg_clock_mono() * 1e3;

	if (dg_vmcore_shrink(pl->dir, rec->name, &so, &res, &e) < 0) {
		logf_(o, DG_LOG_WARNING, "Shrink=%s: %s; the ELF dump is kept at %s", pl->policy.shrink, e.message,
		      rec->path);
		return;
	}
	snprintf(rec->name, sizeof(rec->name), "%s", res.name);
	snprintf(rec->path, sizeof(rec->path), "%s", res.path);
	snprintf(rec->sha256, sizeof(rec->sha256), "%s", res.sha256);
	snprintf(rec->format, sizeof(rec->format), "kdump-%s", pl->policy.shrink);
	rec->size = res.size_after;
	rec->allocated = res.allocated_after;
	rec->sparse = false;
	rec->converted = true;
	if (rec->kernel.log_file[0])
		snprintf(rec->kernel.log_file, sizeof(rec->kernel.log_file), "%s.dmesg", res.name);
	dg_record_step(rec, "shrink", (dg_clock_mono() * 1e3) - t);
	logf_(o, DG_LOG_INFO, "shrunk to %s (makedumpfile -d 31, %s): %llu bytes", res.path, pl->policy.shrink,
	      (unsigned long long)res.size_after);
}

static int capture_stream(virDomainPtr dom, const struct dg_inject_opts *o, struct plan *pl,
			  struct dg_dump_record *rec, struct dg_error *err)
{
	struct dg_stream_opts so = {
		.format = pl->vir_format,
		.convert_flattened = !pl->pipe && pl->vir_format != VIR_DOMAIN_CORE_DUMP_FORMAT_RAW &&
				     pl->vir_format != VIR_DOMAIN_CORE_DUMP_FORMAT_WIN_DMP,
		.expected_bytes = pl->vir_format == VIR_DOMAIN_CORE_DUMP_FORMAT_RAW ? rec->ram_bytes : 0,
		.cancel = o->cancel,
		.keep_notes = pl->pipe && pl->vir_format == VIR_DOMAIN_CORE_DUMP_FORMAT_RAW,
		.log = o->log,
		.log_userdata = o->log_userdata,
	};
	struct dg_stream_result res;
	struct dg_sink *sink = NULL;
	int r;

	if (pl->pipe) {
		char e_dom[300], e_uuid[64], e_name[DG_DUMPNAME_MAX + 32], e_trig[64], e_fmt[48];
		char *env[] = { e_dom, e_uuid, e_name, e_trig, e_fmt, NULL };

		snprintf(e_dom, sizeof(e_dom), "DIAGINT_DOMAIN=%s", rec->domain);
		snprintf(e_uuid, sizeof(e_uuid), "DIAGINT_UUID=%s", rec->uuid);
		snprintf(e_name, sizeof(e_name), "DIAGINT_DUMP_NAME=%s", rec->name);
		snprintf(e_trig, sizeof(e_trig), "DIAGINT_TRIGGER=%s", rec->trigger);
		snprintf(e_fmt, sizeof(e_fmt), "DIAGINT_FORMAT=%s", rec->format);
		r = dg_sink_command_new(pl->dest + 1, env, pl->policy.stall_timeout, o->log, o->log_userdata, &sink,
					err);
	} else {
		r = dg_sink_file_new(pl->slot.lock_fd, pl->policy.sparse, pl->slot.tmp_path, &sink, err);
	}
	if (r < 0)
		return r;
	r = dg_stream_dump(dom, sink, &so, &res, err);
	dg_sink_free(sink);
	if (r == 0 && so.keep_notes)
		dg_vmcore_explain_notes(res.notes, res.notes_len, rec);
	free(res.notes);
	if (r < 0)
		return r;
	rec->size = res.bytes;
	rec->converted = so.convert_flattened;
	rec->sparse = !pl->pipe && pl->policy.sparse;
	snprintf(rec->sha256, sizeof(rec->sha256), "%s", res.sha256);
	return 0;
}

int dg_inject(struct dg_lv *lv, const char *domain, const struct dg_inject_opts *opts, struct dg_dump_record *rec,
	      struct dg_error *err)
{
	struct dg_inject_opts o = *opts;
	struct waiter w = { .crash_detail = -1 };
	struct plan pl = { .slot = { .lock_fd = -1 } };
	virDomainPtr dom = NULL;
	pthread_condattr_t ca;
	int state = 0, cb = -1, r;
	bool written = false;
	double t, t_total = dg_clock_mono() * 1e3;

	if (!o.log)
		o.log = log_discard;
	pthread_mutex_init(&w.lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w.cond, &ca);
	pthread_condattr_destroy(&ca);

	t = dg_clock_mono() * 1e3;
	r = dg_lv_lookup(lv, domain, &dom, err);
	if (r < 0)
		goto out;
	r = fill_identity(lv, dom, rec, &state, err);
	if (r < 0)
		goto out;
	dg_record_step(rec, "lookup", (dg_clock_mono() * 1e3) - t);

	switch (state) {
	case VIR_DOMAIN_SHUTOFF:
	case VIR_DOMAIN_SHUTDOWN:
	case VIR_DOMAIN_NOSTATE:
		r = dg_error_set(err, DG_NOTFOUND,
				 "domain %s is not running (%s): start it first (virsh start %s); a stopped guest has "
				 "no memory to interrupt or capture",
				 rec->domain, state == VIR_DOMAIN_SHUTDOWN ? "shutting down" : "shut off", rec->domain);
		goto out;
	case VIR_DOMAIN_PMSUSPENDED:
		r = dg_error_set(err, DG_NOTFOUND,
				 "domain %s is suspended to RAM (pmsuspended) and cannot take an NMI: wake it first "
				 "(virsh dompmwakeup %s)", rec->domain, rec->domain);
		goto out;
	default:
		break;
	}

	/* Preconditions first: after the NMI there is no way back. */
	if (o.capture) {
		t = dg_clock_mono() * 1e3;
		r = plan_capture(&o, rec, &pl, dg_lv_uri(lv), err);
		if (r < 0)
			goto out;
		dg_record_step(rec, "precheck", (dg_clock_mono() * 1e3) - t);
	}

	if (o.dry_run) {
		/* Everything a real run checks before acting has passed: say so, and act on nothing. */
		if (state == VIR_DOMAIN_CRASHED) {
			rec->panic_seen = true;
			snprintf(rec->panic_event, sizeof(rec->panic_event), "%s",
				 o.nmi ? "already crashed" : "crashed (state)");
		}
		if (o.nmi && state == VIR_DOMAIN_CRASHED)
			dg_record_note(rec, "dry run: domain has already crashed; no NMI would be sent");
		else if (o.nmi && state == VIR_DOMAIN_PAUSED)
			dg_record_note(rec, "dry run: domain is paused; the NMI would be delivered when it resumes");
		dg_record_note(rec, "dry run: nothing was sent or written");
		dg_record_step(rec, "total", (dg_clock_mono() * 1e3) - t_total);
		r = 0;
		goto out;
	}
	if (!o.nmi && state == VIR_DOMAIN_CRASHED) {
		/* A capture of a guest that panicked by itself (the watcher's): the record says so, as `dumps list`
		 * shows it. */
		rec->panic_seen = true;
		snprintf(rec->panic_event, sizeof(rec->panic_event), "crashed (state)");
	} else if (o.nmi && state == VIR_DOMAIN_CRASHED) {
		rec->panic_seen = true;
		snprintf(rec->panic_event, sizeof(rec->panic_event), "already crashed");
		logf_(&o, DG_LOG_WARNING, "domain %s has already crashed: not sending an NMI, capturing its state",
		      rec->domain);
		dg_record_note(rec, "domain had already crashed; no NMI sent");
	} else if (o.nmi) {
		cb = virConnectDomainEventRegisterAny(dg_lv_conn(lv), dom, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
						      VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), &w, NULL);
		if (cb < 0) {
			r = dg_lv_error(err, DG_FAILED, "cannot subscribe to events of domain %s", rec->domain);
			goto out;
		}
		if (state == VIR_DOMAIN_PAUSED)
			logf_(&o, DG_LOG_WARNING, "domain %s is paused: the NMI is delivered when it resumes",
			      rec->domain);
		t = dg_clock_mono() * 1e3;
		if (virDomainInjectNMI(dom, 0) < 0) {
			r = dg_lv_error(err, DG_FAILED, "cannot inject an NMI into domain %s", rec->domain);
			goto out;
		}
		rec->nmi_sent = true;
		dg_record_step(rec, "nmi", (dg_clock_mono() * 1e3) - t);

		t = dg_clock_mono() * 1e3;
		pthread_mutex_lock(&w.lock);
		{
			struct timespec deadline = dg_clock_deadline(CLOCK_MONOTONIC, secs_or_default(o.timeout));

			/* Wake up now and then: a signal handler can only set the cancel flag, not signal us. */
			while (!w.crashed && !w.stopped && !(o.cancel && *o.cancel)) {
				struct timespec slice = dg_clock_deadline(CLOCK_MONOTONIC, 0.2);

				if (slice.tv_sec > deadline.tv_sec ||
				    (slice.tv_sec == deadline.tv_sec && slice.tv_nsec > deadline.tv_nsec))
					slice = deadline;
				if (pthread_cond_timedwait(&w.cond, &w.lock, &slice) == ETIMEDOUT &&
				    slice.tv_sec == deadline.tv_sec && slice.tv_nsec == deadline.tv_nsec)
					break;
			}
		}
		pthread_mutex_unlock(&w.lock);
		dg_record_step(rec, "wait_panic", (dg_clock_mono() * 1e3) - t);
		if (w.crashed) {
			rec->panic_seen = true;
			snprintf(rec->panic_event, sizeof(rec->panic_event), "%s", crash_detail_name(w.crash_detail));
		} else if (virDomainGetState(dom, &state, NULL, 0) == 0 && state == VIR_DOMAIN_CRASHED) {
			/* The event was lost (a reconnect): the state still tells. */
			rec->panic_seen = true;
			snprintf(rec->panic_event, sizeof(rec->panic_event), "crashed (state)");
		}
		if (w.stopped) {
			r = dg_error_set(err, DG_FAILED,
					 "domain %s stopped right after the NMI (its <on_crash> is destroy or restart): "
					 "its memory is gone; set <on_crash>preserve</on_crash> so a panicked guest "
					 "waits for its dump",
					 rec->domain);
			goto out;
		}
		if (!rec->panic_seen) {
			logf_(&o, DG_LOG_WARNING,
			      "no panic from domain %s within %.3g s of the NMI (does the guest set "
			      "kernel.unknown_nmi_panic=1 and have a <panic> device?)%s",
			      rec->domain, secs_or_default(o.timeout), o.capture ? "; capturing anyway" : "");
			dg_record_note(rec, "no panic event within %.3g s of the NMI", secs_or_default(o.timeout));
		}
	}

	if (o.capture && o.cancel && *o.cancel) {
		r = dg_error_set(err, DG_FAILED, "interrupted before the capture; nothing was written");
		goto out;
	}
	if (o.capture) {
		int before = -1;

		virDomainGetState(dom, &before, NULL, 0);
		t = dg_clock_mono() * 1e3;
		if (pl.stream) {
			r = capture_stream(dom, &o, &pl, rec, err);
		} else {
			/* Remote libvirt writes the file on its own host; we can only check what we see of it. */
			r = run_dump(dom, pl.slot.tmp_path, pl.vir_format, &o, rec->ram_bytes, err);
			if (r == 0 && pl.vir_format == VIR_DOMAIN_CORE_DUMP_FORMAT_RAW)
				r = verify_dump(pl.slot.tmp_path, rec->ram_bytes, err);
			if (r == 0 && pl.vir_format == VIR_DOMAIN_CORE_DUMP_FORMAT_RAW)
				repair_written_header(&o, pl.slot.tmp_path);
		}
		if (r < 0) {
			int now_state = -1, reason = 0;
			/* libvirt resumes a guest it paused for a failed dump; make sure, it must never stay paused. */
			if (before == VIR_DOMAIN_RUNNING && virDomainGetState(dom, &now_state, &reason, 0) == 0 &&
			    now_state == VIR_DOMAIN_PAUSED && reason == VIR_DOMAIN_PAUSED_DUMP && virDomainResume(dom) == 0)
				logf_(&o, DG_LOG_WARNING, "resumed domain %s, left paused by the failed dump", rec->domain);
			goto out;
		}
		dg_record_step(rec, "dump", (dg_clock_mono() * 1e3) - t);
		if (!pl.pipe) {
			struct stat st;

			written = true;
			t = dg_clock_mono() * 1e3;
			/* The stream's hash is the file's, except where the file is not the stream (kdump converted,
			 * remote writes): then read the file. */
			if (!pl.stream || rec->converted) {
				r = dg_hash_file(pl.slot.tmp_path, rec->sha256, &rec->size, &rec->allocated, err);
				if (r < 0)
					goto out;
				dg_record_step(rec, "hash", (dg_clock_mono() * 1e3) - t);
			} else if (fstat(pl.slot.lock_fd, &st) == 0) {
				rec->size = (uint64_t)st.st_size;
				rec->allocated = (uint64_t)st.st_blocks * 512;
			}
			t = dg_clock_mono() * 1e3;
			r = dg_dumpdir_commit(pl.dir, &pl.slot, err);
			if (r < 0)
				goto out;
			snprintf(rec->name, sizeof(rec->name), "%s", pl.slot.name);
			snprintf(rec->path, sizeof(rec->path), "%s", pl.slot.path);
			dg_record_step(rec, "commit", (dg_clock_mono() * 1e3) - t);
		}
		rec->captured = true;
	}
	if (rec->captured && pl.dir && pl.vir_format == VIR_DOMAIN_CORE_DUMP_FORMAT_RAW) {
		t = dg_clock_mono() * 1e3;
		dg_vmcore_explain(pl.dir, rec, o.log, o.log_userdata);
		dg_record_step(rec, "analyze", (dg_clock_mono() * 1e3) - t);
	}
	dg_record_step(rec, "total", (dg_clock_mono() * 1e3) - t_total);

	if (rec->captured && pl.dir) {
		char sidecar[DG_DUMPNAME_MAX + 8];
		json_object *j = dg_record_to_json(rec);
		const char *text = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
		struct dg_error serr = { 0 };

		snprintf(sidecar, sizeof(sidecar), "%s.json", rec->name);
		/* The dump is complete and named: a missing sidecar is worth a warning, not a failed capture. */
		if (dg_dumpdir_write_file(pl.dir, sidecar, text, strlen(text), &serr) < 0)
			logf_(&o, DG_LOG_WARNING, "%s; the dump itself is complete at %s", serr.message, rec->path);
		json_object_put(j);
		if (pl.policy.shrink[0] && pl.vir_format == VIR_DOMAIN_CORE_DUMP_FORMAT_RAW)
			shrink_after(&o, &pl, rec);
	}
	r = 0;
out:
	if (cb >= 0)
		virConnectDomainEventDeregisterAny(dg_lv_conn(lv), cb);
	/* A complete dump that failed later (hash, commit) is kept: it may be the only copy of a crashed guest's
	 * memory. Anything earlier is a reservation or a partial write that must never look like a dump. */
	if (r < 0 && written && pl.slot.tmp_name[0]) {
		if (err && !strstr(err->message, pl.slot.tmp_path)) {
			size_t n = strlen(err->message);
			snprintf(err->message + n, sizeof(err->message) - n, " (the dump is kept as %s)",
				 pl.slot.tmp_path);
		}
	} else if (r < 0 && pl.dir) {
		dg_dumpdir_abort(pl.dir, &pl.slot);
	}
	if (pl.slot.lock_fd >= 0)
		close(pl.slot.lock_fd);
	if (dom)
		virDomainFree(dom);
	dg_dumpdir_free(pl.dir);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return r;
}

int dg_inject_destination_check(const char *dest, struct dg_error *err)
{
	struct stat st;

	if (dest[0] == '|') {
		if (!dest[1 + strspn(dest + 1, " \t")])
			return dg_error_set(err, DG_USAGE, "destination '|' has no command after the pipe (e.g. "
					    "|gzip > /srv/dumps/$DIAGINT_DUMP_NAME.gz)");
		return 0;
	}
	if (dest[0] != '/')
		return dg_error_set(err, DG_USAGE, "destination '%s' is relative: give an absolute directory (or "
				    "|COMMAND)", dest);
	if (dg_dumpdir_is_default(dest))
		return 0;
	if (stat(dest, &st) < 0)
		return dg_error_set(err, DG_USAGE, "destination %s: %s: create it (mode 0700) or name another "
				    "directory", dest, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return dg_error_set(err, DG_USAGE, "destination %s is not a directory: name a directory (or "
				    "|COMMAND)", dest);
	return 0;
}
