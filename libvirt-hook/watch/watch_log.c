/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The watcher's two outlets, shared by the loop (watch.c) and its helpers (watch_act.c, watch_doctor.c,
 * watch_handled.c): the host tool's log, and the audit log. A leaf: it calls nothing else of the watcher. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "watch/watch-internal.h"

void watch_log(struct dg_watch *w, enum dg_log_level level, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	if (!w->o.log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* Workers log too; the host tool's log function need not be thread-safe. */
	pthread_mutex_lock(&w->lock);
	w->o.log(w->o.log_userdata, level, buf);
	pthread_mutex_unlock(&w->lock);
}

int watch_audit(struct dg_watch *w, const char *action, const char *name, const char *reason,
		const char *evidence, enum dg_audit_result result, const char *error, const struct dg_dump_record *rec)
{
	struct dg_error err = { 0 };
	char target[512];
	int r;

	if (!w->audit)
		return 0;
	snprintf(target, sizeof(target), "libvirt:%s", name);
	/* The loop and the capture threads write: the log takes its own mutex (audit.h). */
	r = dg_audit_append_outcome(w->audit, "watcher", action, &(struct dg_audit_outcome){
		.target = target, .reason = reason, .evidence = evidence, .result = result, .error = error,
		.dump_path = dg_record_dump_path(rec), .dump_sha256 = rec ? rec->sha256 : NULL }, &err);
	if (r < 0)
		watch_log(w, DG_LOG_WARNING, "cannot write the audit record for %s on %s: %s", action, name,
			  err.message);
	return r;
}
