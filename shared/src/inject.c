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
#include "diagint/dumpdir.h"
#include "diagint/inject.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

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

static int run_dump(virDomainPtr dom, const char *path, const struct dg_inject_opts *o, uint64_t ram,
		    struct dg_error *err)
{
	struct dump_job j = { .dom = dom, .path = path, .format = VIR_DOMAIN_CORE_DUMP_FORMAT_RAW };
	pthread_t th;
	pthread_condattr_t ca;
	double start = now_ms();
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
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		if (pthread_cond_timedwait(&j.cond, &j.lock, &ts) == ETIMEDOUT && !j.done) {
			virDomainJobInfo info;
			double secs = (now_ms() - start) / 1e3;

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

int dg_inject(struct dg_lv *lv, const char *domain, const struct dg_inject_opts *opts, struct dg_dump_record *rec,
	      struct dg_error *err)
{
	struct dg_inject_opts o = *opts;
	struct waiter w = { .crash_detail = -1 };
	struct dg_dumpdir *dir = NULL;
	struct dg_dump_slot slot = { .lock_fd = -1 };
	virDomainPtr dom = NULL;
	pthread_condattr_t ca;
	int state = 0, cb = -1, r;
	bool written = false;
	double t, t_total = now_ms();
	char prefix[DG_DUMPNAME_PREFIX_MAX + 1];

	if (!o.log)
		o.log = log_discard;
	pthread_mutex_init(&w.lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w.cond, &ca);
	pthread_condattr_destroy(&ca);

	t = now_ms();
	r = dg_lv_lookup(lv, domain, &dom, err);
	if (r < 0)
		goto out;
	r = fill_identity(lv, dom, rec, &state, err);
	if (r < 0)
		goto out;
	dg_record_step(rec, "lookup", now_ms() - t);

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
		uint64_t need = dg_inject_dump_bytes_needed(rec->ram_bytes);
		int removed;

		t = now_ms();
		r = dg_dumpdir_open(o.dump_dir ? o.dump_dir : DG_DEFAULT_DUMP_DIR, o.dump_dir == NULL, &dir, err);
		if (r < 0)
			goto out;
		removed = dg_dumpdir_clean_stale(dir);
		if (removed > 0)
			logf_(&o, DG_LOG_INFO, "removed %d stale partial dump(s) from %s", removed, dg_dumpdir_path(dir));
		dg_dumpname_prefix(rec->domain, prefix, sizeof(prefix));
		r = dg_dumpdir_reserve(dir, prefix, rec->requested.tv_sec, &slot, err);
		if (r < 0)
			goto out;
		r = dg_dumpdir_check_space(dir, need, err);
		if (r < 0)
			goto out;
		snprintf(rec->name, sizeof(rec->name), "%s", slot.name);
		snprintf(rec->path, sizeof(rec->path), "%s", slot.path);
		dg_record_step(rec, "precheck", now_ms() - t);
	}

	if (o.nmi && state == VIR_DOMAIN_CRASHED) {
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
		t = now_ms();
		if (virDomainInjectNMI(dom, 0) < 0) {
			r = dg_lv_error(err, DG_FAILED, "cannot inject an NMI into domain %s", rec->domain);
			goto out;
		}
		rec->nmi_sent = true;
		dg_record_step(rec, "nmi", now_ms() - t);

		t = now_ms();
		pthread_mutex_lock(&w.lock);
		{
			struct timespec deadline;
			double secs = secs_or_default(o.timeout);

			clock_gettime(CLOCK_MONOTONIC, &deadline);
			deadline.tv_sec += (time_t)secs;
			deadline.tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
			if (deadline.tv_nsec >= 1000000000L) {
				deadline.tv_sec++;
				deadline.tv_nsec -= 1000000000L;
			}
			while (!w.crashed && !w.stopped)
				if (pthread_cond_timedwait(&w.cond, &w.lock, &deadline) == ETIMEDOUT)
					break;
		}
		pthread_mutex_unlock(&w.lock);
		dg_record_step(rec, "wait_panic", now_ms() - t);
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

	if (o.capture) {
		t = now_ms();
		r = run_dump(dom, slot.tmp_path, &o, rec->ram_bytes, err);
		if (r < 0)
			goto out;
		dg_record_step(rec, "dump", now_ms() - t);
		r = verify_dump(slot.tmp_path, rec->ram_bytes, err);
		if (r < 0)
			goto out;
		written = true;
		t = now_ms();
		r = dg_hash_file(slot.tmp_path, rec->sha256, &rec->size, &rec->allocated, err);
		if (r < 0)
			goto out;
		dg_record_step(rec, "hash", now_ms() - t);
		t = now_ms();
		r = dg_dumpdir_commit(dir, &slot, err);
		if (r < 0)
			goto out;
		rec->captured = true;
		snprintf(rec->name, sizeof(rec->name), "%s", slot.name);
		snprintf(rec->path, sizeof(rec->path), "%s", slot.path);
		dg_record_step(rec, "commit", now_ms() - t);
	}
	dg_record_step(rec, "total", now_ms() - t_total);

	if (rec->captured) {
		char sidecar[DG_DUMPNAME_MAX + 8];
		json_object *j = dg_record_to_json(rec);
		const char *text = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);

		struct dg_error serr = { 0 };

		snprintf(sidecar, sizeof(sidecar), "%s.json", rec->name);
		/* The dump is complete and named: a missing sidecar is worth a warning, not a failed capture. */
		if (dg_dumpdir_write_file(dir, sidecar, text, strlen(text), &serr) < 0)
			logf_(&o, DG_LOG_WARNING, "%s; the dump itself is complete at %s", serr.message, rec->path);
		json_object_put(j);
	}
	r = 0;
out:
	if (cb >= 0)
		virConnectDomainEventDeregisterAny(dg_lv_conn(lv), cb);
	/* A complete dump that failed later (hash, commit) is kept: it may be the only copy of a crashed guest's
	 * memory. Anything earlier is a reservation or a partial write that must never look like a dump. */
	if (r < 0 && written && slot.tmp_name[0]) {
		if (err && !strstr(err->message, slot.tmp_path)) {
			size_t n = strlen(err->message);
			snprintf(err->message + n, sizeof(err->message) - n, " (the dump is kept as %s)", slot.tmp_path);
		}
	} else if (r < 0) {
		dg_dumpdir_abort(dir, &slot);
	}
	if (slot.lock_fd >= 0)
		close(slot.lock_fd);
	if (dom)
		virDomainFree(dom);
	dg_dumpdir_free(dir);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return r;
}
