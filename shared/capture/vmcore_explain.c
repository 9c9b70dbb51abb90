/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The analysis hooked into every capture that writes a file (dg_inject: inject, capture, the watcher, collectd). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "diagint/buf.h"
#include "diagint/dumpdir.h"
#include "diagint/record.h"
#include "diagint/vmcore.h"

static void say(dg_log_fn log, void *ud, enum dg_log_level level, const char *msg)
{
	if (log)
		log(ud, level, msg);
}

void dg_vmcore_explain(struct dg_dumpdir *dir, struct dg_dump_record *rec, dg_log_fn log, void *log_userdata)
{
	struct dg_buf text = DG_BUF_INIT;
	struct dg_error err = { 0 }, werr = { 0 };
	char name[sizeof(rec->kernel.log_file)], msg[DG_ERROR_MSG_MAX + 64];
	int fd = open(rec->path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0) {
		dg_record_note(rec, "kernel analysis: cannot open the dump: %s", strerror(errno));
		return;
	}
	r = dg_vmcore_analyze_fd(fd, rec->path, &rec->kernel, &text, &err);
	close(fd);
	if (r < 0) {
		dg_record_note(rec, "%s", err.message);
		snprintf(msg, sizeof(msg), "kernel analysis: %s", err.message);
		say(log, log_userdata, DG_LOG_WARNING, msg);
	}
	if (rec->kernel.analyzed && text.len > 0) {
		snprintf(name, sizeof(name), "%s.dmesg", rec->name);
		if (dg_dumpdir_write_file(dir, name, text.data, text.len, &werr) == 0)
			snprintf(rec->kernel.log_file, sizeof(rec->kernel.log_file), "%s", name);
		else
			dg_record_note(rec, "kernel log not written: %s", werr.message);
	}
	if (rec->kernel.ncpus_total > rec->kernel.ncpus)
		dg_record_note(rec, "kernel.cpus lists the first %u of %u vCPUs", rec->kernel.ncpus,
			       rec->kernel.ncpus_total);
	if (rec->kernel.panic[0]) {
		snprintf(msg, sizeof(msg), "guest kernel: %s", rec->kernel.panic);
		say(log, log_userdata, DG_LOG_INFO, msg);
	}
	dg_buf_free(&text);
}

void dg_vmcore_explain_notes(const unsigned char *notes, size_t len, struct dg_dump_record *rec)
{
	struct dg_vmcore_notes n;

	if (!notes) {
		dg_record_note(rec, "kernel analysis: the dump's notes did not come through the stream whole");
		return;
	}
	dg_vmcore_parse_notes(notes, len, &n);
	if (!dg_vmcore_kernel_from_notes(&n, &rec->kernel)) {
		dg_record_note(rec, "%s", dg_vmcore_no_vmcoreinfo);
		return;
	}
	if (rec->kernel.ncpus_total > rec->kernel.ncpus)
		dg_record_note(rec, "kernel.cpus lists the first %u of %u vCPUs", rec->kernel.ncpus,
			       rec->kernel.ncpus_total);
	dg_record_note(rec, "streamed to a command: the kernel's release, build id and registers come from the notes; "
			    "the kernel log, panic line and vCPU symbols need the whole dump (kernel.notes_only)");
}
