/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/encode.h"
#include "diagint/clock.h"
#include "capture/kdumpflat.h"
#include "diagint/lv.h"
#include "capture/stream.h"
#include "diagint/vmcore.h"

#define CHUNK (1u << 20)

/* Where the bytes go after the ELF header repair (diagint/vmcore.h): hash, then the sink or the kdump converter.
 * The hash is of the bytes written. */
struct out {
	EVP_MD_CTX *md;
	struct dg_kdumpflat *flat;
	struct dg_sink *sink;
	struct dg_elfhdr_stream *fix;
};

static int out_emit(void *ud, const void *buf, size_t len, struct dg_error *err)
{
	struct out *o = ud;

	EVP_DigestUpdate(o->md, buf, len);
	return o->flat ? dg_kdumpflat_feed(o->flat, buf, len, err) : dg_sink_write(o->sink, buf, len, err);
}

static int out_feed(struct out *o, const void *buf, size_t len, struct dg_error *err)
{
	return o->fix ? dg_elfhdr_stream_feed(o->fix, buf, len, err) : out_emit(o, buf, len, err);
}

struct dump_thread {
	virDomainPtr dom;
	const char *path;
	unsigned format;
	int wake; /* eventfd: written once when the dump call returns */
	int result;
	virErrorPtr error;
};

static void *dump_main(void *arg)
{
	struct dump_thread *t = arg;
	uint64_t one = 1;

	t->result = virDomainCoreDumpWithFormat(t->dom, t->path, t->format, VIR_DUMP_MEMORY_ONLY);
	if (t->result < 0)
		t->error = virSaveLastError();
	if (write(t->wake, &one, sizeof(one)) < 0) {
		/* eventfd writes cannot fail short of overflow; nothing to do */
	}
	return NULL;
}

static int fifo_dir(char *buf, size_t len, struct dg_error *err)
{
	const char *bases[] = { "/run/diagint", getenv("TMPDIR"), "/tmp", NULL };

	for (int i = 0; i < 3; i++) {
		if (!bases[i] || !*bases[i])
			continue;
		if (i == 0 && mkdir(bases[i], 0700) < 0 && errno != EEXIST)
			continue;
		snprintf(buf, len, "%s/fifo-XXXXXX", bases[i]);
		if (mkdtemp(buf))
			return 0;
	}
	return dg_error_set_errno(err, DG_FAILED, errno, "cannot create a private directory for the dump FIFO");
}

static void progress(const struct dg_stream_opts *o, uint64_t bytes, double elapsed)
{
	char msg[256], bar[21];
	double rate = elapsed > 0 ? (double)bytes / elapsed : 0;

	if (!o->log)
		return;
	if (o->expected_bytes) {
		double f = (double)bytes / (double)o->expected_bytes;
		int fill;
		if (f > 1)
			f = 1;
		fill = (int)(f * 20);
		for (int i = 0; i < 20; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[20] = '\0';
		snprintf(msg, sizeof(msg), "dumping [%s] %3.0f%% %llu/%llu MiB %.0f MiB/s ETA %.0f s", bar, f * 100,
			 (unsigned long long)(bytes >> 20), (unsigned long long)(o->expected_bytes >> 20),
			 rate / 1048576, rate > 0 && o->expected_bytes > bytes ?
			 (double)(o->expected_bytes - bytes) / rate : 0);
	} else {
		snprintf(msg, sizeof(msg), "dumping %llu MiB, %.0f MiB/s", (unsigned long long)(bytes >> 20),
			 rate / 1048576);
	}
	o->log(o->log_userdata, DG_LOG_PROGRESS, msg);
}

static void check_cancel(const struct dg_stream_opts *o, virDomainPtr dom, struct dg_sink *sink,
			 struct dg_stream_result *res, bool *failed, struct dg_error *first)
{
	if (!o->cancel || !*o->cancel || *failed || res->cancelled)
		return;
	res->cancelled = true;
	*failed = true;
	dg_error_set(first, DG_FAILED, "capture interrupted; nothing was kept");
	dg_sink_abort(sink);
	/* Memory-only dumps may refuse to abort: then we drain until libvirt is done. */
	virDomainAbortJob(dom);
}

int dg_stream_dump(virDomainPtr dom, struct dg_sink *sink, const struct dg_stream_opts *o,
		   struct dg_stream_result *ret, struct dg_error *err)
{
	struct dump_thread t = { .dom = dom, .format = o->format, .wake = -1 };
	struct dg_stream_result res = { 0 };
	struct dg_kdumpflat *flat = NULL;
	struct out out = { .sink = sink };
	struct dg_error first = { 0 }; /* the first failure wins: later ones are its consequences */
	EVP_MD_CTX *md = NULL;
	unsigned char *buf = NULL, digest[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	char dir[PATH_MAX], fifo[PATH_MAX + 16];
	bool started = false, dump_done = false, writer_gone = false, failed = false;
	double t0 = dg_clock_mono(), last_progress = t0;
	pthread_t th;
	int rfd = -1, r = 0;

	dir[0] = '\0';
	r = fifo_dir(dir, sizeof(dir), err);
	if (r < 0)
		return r;
	snprintf(fifo, sizeof(fifo), "%s/dump", dir);
	if (mkfifo(fifo, 0600) < 0) {
		r = dg_error_set_errno(err, DG_FAILED, errno, "cannot create the dump FIFO %s", fifo);
		goto out;
	}
	/* Reader first: from now on libvirt's open() for writing cannot block. */
	rfd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (rfd < 0) {
		r = dg_error_set_errno(err, DG_FAILED, errno, "cannot open the dump FIFO %s", fifo);
		goto out;
	}
	fcntl(rfd, F_SETPIPE_SZ, 1 << 20);
	t.wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	buf = malloc(CHUNK);
	md = EVP_MD_CTX_new();
	if (t.wake < 0 || !buf || !md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		r = dg_error_set(err, DG_FAILED, "out of memory");
		goto out;
	}
	if (o->convert_flattened) {
		r = dg_kdumpflat_new(sink, &flat, err);
		if (r < 0)
			goto out;
	}
	out.md = md;
	out.flat = flat;
	if (o->format == VIR_DOMAIN_CORE_DUMP_FORMAT_RAW) {
		r = dg_elfhdr_stream_new(out_emit, &out, &out.fix, err);
		if (r < 0)
			goto out;
	}
	t.path = fifo;
	if (pthread_create(&th, NULL, dump_main, &t) != 0) {
		r = dg_error_set(err, DG_FAILED, "cannot start the dump thread");
		goto out;
	}
	started = true;

	for (;;) {
		struct pollfd fds[2] = { { .fd = t.wake, .events = POLLIN }, { .fd = rfd, .events = POLLIN } };
		int nfds = writer_gone ? 1 : 2;

		if (poll(fds, (nfds_t)nfds, 250) < 0 && errno != EINTR) {
			r = dg_error_set_errno(err, DG_FAILED, errno, "poll");
			break;
		}
		check_cancel(o, dom, sink, &res, &failed, &first);
		if (fds[0].revents & POLLIN)
			dump_done = true;
		if (!writer_gone && (fds[1].revents & (POLLIN | POLLHUP))) {
			for (;;) {
				ssize_t n = read(rfd, buf, CHUNK);
				if (n < 0) {
					if (errno == EINTR)
						continue;
					if (errno != EAGAIN)
						writer_gone = true;
					break;
				}
				if (n == 0) {
					writer_gone = true;
					break;
				}
				res.bytes += (uint64_t)n;
				/* The FIFO may never run dry while libvirt writes: look at the cancel flag per chunk. */
				check_cancel(o, dom, sink, &res, &failed, &first);
				if (failed)
					continue; /* draining: libvirt must finish, the bytes go nowhere */
				if (out_feed(&out, buf, (size_t)n, &first) < 0) {
					failed = true;
					dg_sink_abort(sink);
					virDomainAbortJob(dom);
				}
				if (dg_clock_mono() - last_progress >= 1) {
					last_progress = dg_clock_mono();
					progress(o, res.bytes, last_progress - t0);
				}
			}
		}
		/* Done when libvirt returned and the FIFO is empty and closed (or was never opened). */
		if (dump_done && (writer_gone || !(fds[1].revents & POLLIN))) {
			if (!writer_gone) {
				ssize_t n = read(rfd, buf, CHUNK);
				if (n > 0) {
					/* Late bytes: loop again to handle them properly. */
					res.bytes += (uint64_t)n;
					if (!failed) {
						if (out_feed(&out, buf, (size_t)n, &first) < 0) {
							failed = true;
							dg_sink_abort(sink);
						}
					}
					continue;
				}
			}
			break;
		}
	}
	pthread_join(th, NULL);
	started = false;
	res.seconds = dg_clock_mono() - t0;
	if (r < 0)
		goto out;
	if (failed) {
		r = dg_error_set(err, first.status ? first.status : DG_FAILED, "%s", first.message);
		goto out;
	}
	if (t.result < 0) {
		dg_sink_abort(sink);
		r = dg_lv_error_from(err, t.error, DG_FAILED, "memory dump of the guest failed");
		goto out;
	}
	if (out.fix && dg_elfhdr_stream_end(out.fix, err) < 0) {
		dg_sink_abort(sink);
		r = -DG_FAILED;
		goto out;
	}
	res.elf_repaired = out.fix && dg_elfhdr_stream_repaired(out.fix);
	if (o->keep_notes && out.fix) {
		size_t len = 0;
		const unsigned char *notes = dg_elfhdr_stream_notes(out.fix, &len);
		if (notes && (res.notes = malloc(len))) {
			memcpy(res.notes, notes, len);
			res.notes_len = len;
		}
	}
	if (flat && dg_kdumpflat_end(flat, err) < 0) {
		dg_sink_abort(sink);
		r = -DG_FAILED;
		goto out;
	}
	r = dg_sink_finish(sink, err);
	if (r < 0)
		goto out;
	EVP_DigestFinal_ex(md, digest, &dlen);
	dg_hex(digest, dlen, res.sha256);
	if (o->expected_bytes && res.seconds >= 1)
		progress(o, res.bytes, res.seconds);
out:
	if (started) {
		/* Only reached on an early error: keep libvirt from blocking, then wait for it. */
		char sink_buf[4096];
		while (read(t.wake, sink_buf, 8) < 0 && errno == EAGAIN)
			while (read(rfd, sink_buf, sizeof(sink_buf)) > 0)
				;
		pthread_join(th, NULL);
	}
	if (t.error)
		virFreeError(t.error);
	if (ret)
		*ret = res;
	else
		free(res.notes);
	dg_elfhdr_stream_free(out.fix);
	dg_kdumpflat_free(flat);
	EVP_MD_CTX_free(md);
	free(buf);
	if (t.wake >= 0)
		close(t.wake);
	if (rfd >= 0)
		close(rfd);
	unlink(fifo);
	if (dir[0])
		rmdir(dir);
	return r;
}
