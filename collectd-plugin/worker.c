/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The collectd plugin's worker (plugin_thread_create): it takes the queue, asks the brakes, sends through the
 * core, writes the audit record, and dispatches the notification. All disk and network work happens here, so
 * collectd is never blocked by us for longer than a mutex hold. */
#include "dg_cd.h"

/* ---- feedback into collectd -------------------------------------------------------------------------------- */

void dg_cd_notify(int severity, const struct dg_cd_target *t, const char *type_instance, const char *fmt,
			 ...)
{
	notification_t n = { .severity = severity, .time = cdtime() };
	va_list ap;

	sstrncpy(n.host, hostname_g, sizeof(n.host));
	sstrncpy(n.plugin, DG_CD_PLUGIN, sizeof(n.plugin));
	if (t)
		sstrncpy(n.plugin_instance, t->name, sizeof(n.plugin_instance));
	sstrncpy(n.type, "interrupt", sizeof(n.type));
	sstrncpy(n.type_instance, type_instance, sizeof(n.type_instance));
	va_start(ap, fmt);
	vsnprintf(n.message, sizeof(n.message), fmt, ap);
	va_end(ap);
	plugin_dispatch_notification(&n);
}

/* ---- the worker: brakes, send, audit (disk and network, never in collectd's threads) ------------------------ */

void dg_cd_audit(const char *action, const char *target, const char *reason, const char *evidence,
			enum dg_audit_result result, const char *error, const char *request_id, int attempts,
			const struct dg_dump_record *rec)
{
	struct dg_audit_event ev;
	struct dg_error err = { 0 };
	int r;

	dg_audit_event_init(&ev, "collectd", action);
	snprintf(ev.target, sizeof(ev.target), "%s", target);
	snprintf(ev.reason, sizeof(ev.reason), "%s", reason ? reason : "");
	snprintf(ev.evidence, sizeof(ev.evidence), "%s", evidence ? evidence : "");
	snprintf(ev.error, sizeof(ev.error), "%s", error ? error : "");
	snprintf(ev.request_id, sizeof(ev.request_id), "%s", request_id ? request_id : "");
	ev.attempts = attempts;
	ev.result = result;
	if (rec && rec->captured) {
		snprintf(ev.dump_path, sizeof(ev.dump_path), "%s", rec->path[0] ? rec->path : rec->dest);
		snprintf(ev.dump_sha256, sizeof(ev.dump_sha256), "%s", rec->sha256);
	}
	pthread_mutex_lock(&dg_cd.audit_lock);
	r = dg_audit_append(dg_cd.audit, &ev, NULL, &err);
	pthread_mutex_unlock(&dg_cd.audit_lock);
	if (r < 0)
		ERROR(DG_CD_PLUGIN " plugin: cannot write the audit record (%s %s, %s): %s", action, target,
		      dg_audit_result_name(result), err.message);
}

static void dg_cd_capture_log(void *ud, enum dg_log_level level, const char *message)
{
	if (level == DG_LOG_WARNING)
		WARNING(DG_CD_PLUGIN " plugin: %s: %s", (const char *)ud, message);
	else if (level == DG_LOG_INFO)
		INFO(DG_CD_PLUGIN " plugin: %s: %s", (const char *)ud, message);
}

/* NMI then capture of a libvirt guest (inject.h); the plain NMI of any provider goes through the send engine. */
static int dg_cd_send(const struct dg_cd_target *t, const struct dg_target *parsed, struct dg_send_result *res,
		      struct dg_dump_record *rec)
{
	struct dg_error err = { 0 };
	int r;

	if (!t->capture)
		return dg_sender_run(dg_cd.sender, parsed, 1, res);

	memset(res, 0, sizeof(*res));
	snprintf(res->target, sizeof(res->target), "%s", parsed->text);
	r = dg_cd.lv ? 0 : dg_lv_open(dg_cd.libvirt_uri, &dg_cd.lv, &err);
	if (r == 0) {
		struct dg_inject_opts o = {
			.dest = t->capture,
			.cancel = &dg_cd.cancel,
			.nmi = true,
			.capture = true,
			.timeout = DG_INJECT_DEFAULT_TIMEOUT,
			.trigger = "collectd",
			.log = dg_cd_capture_log,
			.log_userdata = t->name,
		};
		r = dg_inject(dg_cd.lv, parsed->part[0], &o, rec, &err);
		res->sent = rec->nmi_sent;
	}
	res->status = r < 0 ? (enum dg_status)-r : DG_OK;
	dg_cd_fmt(res->message, sizeof(res->message), "%s",
		 r < 0 ? err.message : rec->path[0] ? rec->path : "captured");
	return r;
}

static void dg_cd_decide(struct dg_cd_target *t, const char *evidence)
{
	struct dg_brakes_decision d;
	struct dg_error err = { 0 };
	struct dg_target parsed;
	char reason[512];
	const char *action = t->capture ? "inject" : "send";
	int r;

	snprintf(reason, sizeof(reason), "collectd: <Target \"%s\"> Host \"%s\" Hits %u", t->name, t->host,
		 t->hits_needed);
	r = dg_brakes_request(dg_cd.brakes, t->interrupt, DG_BRAKES_INTERRUPT, t->capture != NULL, &d, &err);
	if (r < 0) {
		ERROR(DG_CD_PLUGIN " plugin: %s: not interrupting %s: %s", t->name, t->interrupt, err.message);
		dg_cd_audit(action, t->interrupt, reason, evidence, DG_AUDIT_FAILED, err.message, NULL, 0, NULL);
		dg_cd_notify(NOTIF_FAILURE, t, "failed", "%s: not interrupting %s: %s", t->name, t->interrupt,
			     err.message);
		pthread_mutex_lock(&dg_cd.lock);
		dg_cd.counters[DG_CD_FAILED]++;
		t->decided = true;
		pthread_mutex_unlock(&dg_cd.lock);
		return;
	}

	if (d.verdict != DG_BRAKES_GO) {
		enum dg_cd_counter k = d.verdict == DG_BRAKES_DRY_RUN  ? DG_CD_DRY_RUN :
				       d.verdict == DG_BRAKES_COOLDOWN ? DG_CD_SUPP_COOLDOWN :
				       d.verdict == DG_BRAKES_RATE     ? DG_CD_SUPP_RATE :
				       d.verdict == DG_BRAKES_STORM    ? DG_CD_SUPP_STORM :
									 DG_CD_SUPP_BUSY;
		bool repeat, notify_storm = false;

		pthread_mutex_lock(&dg_cd.lock);
		repeat = t->last_verdict == (int)d.verdict;
		t->last_verdict = (int)d.verdict;
		/* A storm or a dry run settles this episode: acting later, while the storm fades and targets come back
		 * one by one, would interrupt machines that are only slow to report. Cooldown and rate have an end:
		 * the target is asked about again then, if it still hangs. */
		if (d.verdict == DG_BRAKES_STORM || d.verdict == DG_BRAKES_DRY_RUN)
			t->decided = true;
		else
			t->retry_at = dg_cd_now() + (d.retry_after > 0 ? d.retry_after : 1);
		if (!repeat)
			dg_cd.counters[k]++;
		if (d.verdict == DG_BRAKES_STORM && !dg_cd.storm_notified)
			notify_storm = dg_cd.storm_notified = true;
		pthread_mutex_unlock(&dg_cd.lock);
		if (repeat)
			return;
		if (d.verdict == DG_BRAKES_DRY_RUN) {
			INFO(DG_CD_PLUGIN " plugin: %s: DryRun: would interrupt %s now (%s)", t->name, t->interrupt,
			     evidence);
			dg_cd_audit(action, t->interrupt, reason, evidence, DG_AUDIT_DRY_RUN, NULL, NULL, 0, NULL);
			dg_cd_notify(NOTIF_WARNING, t, "dry_run", "%s: DryRun: would interrupt %s now", t->name,
				     t->interrupt);
			return;
		}
		WARNING(DG_CD_PLUGIN " plugin: %s: not interrupting %s: %s", t->name, t->interrupt, d.reason);
		dg_cd_audit(action, t->interrupt, reason, evidence, DG_AUDIT_SUPPRESSED, d.reason, NULL, 0, NULL);
		/* A storm raises one notification for all the targets it holds back, not one per target. */
		if (d.verdict != DG_BRAKES_STORM)
			dg_cd_notify(NOTIF_WARNING, t, "suppressed", "%s: not interrupting %s: %s", t->name, t->interrupt,
				     d.reason);
		else if (notify_storm)
			dg_cd_notify(NOTIF_FAILURE, NULL, "storm", "%s", d.reason);
		return;
	}

	/* GO: the brakes have recorded the action (cooldown started, state saved). */
	{
		struct dg_send_result res;
		struct dg_dump_record rec;
		bool ok;

		dg_record_init(&rec, "collectd");
		pthread_mutex_lock(&dg_cd.lock);
		t->decided = true;
		snprintf(dg_cd.inflight, sizeof(dg_cd.inflight), "%s", t->interrupt);
		snprintf(dg_cd.inflight_evidence, sizeof(dg_cd.inflight_evidence), "%s", evidence);
		pthread_mutex_unlock(&dg_cd.lock);

		INFO(DG_CD_PLUGIN " plugin: %s: interrupting %s: %s", t->name, t->interrupt, evidence);
		if (dg_target_parse(t->interrupt, &parsed, &err) < 0) {
			memset(&res, 0, sizeof(res));
			res.status = err.status;
			snprintf(res.message, sizeof(res.message), "%s", err.message);
		} else {
			dg_cd_send(t, &parsed, &res, &rec);
		}
		if (t->capture)
			dg_brakes_release(dg_cd.brakes);
		ok = res.status == DG_OK;

		pthread_mutex_lock(&dg_cd.lock);
		dg_cd.inflight[0] = 0;
		dg_cd.counters[ok ? DG_CD_SENT : DG_CD_FAILED]++;
		pthread_mutex_unlock(&dg_cd.lock);

		if (ok) {
			WARNING(DG_CD_PLUGIN " plugin: %s: interrupt sent to %s%s%s", t->name, t->interrupt,
				res.request_id[0] ? ", request id " : "", res.request_id);
			dg_cd_notify(NOTIF_WARNING, t, "sent", "%s: diagnostic interrupt sent to %s (%s)", t->name,
				     t->interrupt, evidence);
		} else {
			ERROR(DG_CD_PLUGIN " plugin: %s: interrupting %s failed (%s): %s", t->name, t->interrupt,
			      dg_status_name(res.status), res.message);
			dg_cd_notify(NOTIF_FAILURE, t, "failed", "%s: interrupting %s failed: %s", t->name, t->interrupt,
				     res.message);
		}
		dg_cd_audit(action, t->interrupt, reason, evidence,
			    ok ? DG_AUDIT_OK : dg_audit_result_from_status((int)res.status), ok ? NULL : res.message,
			    res.request_id, (int)res.attempts, &rec);
	}
}

static void dg_cd_on_check(void *ud, const struct dg_doctor_check *c)
{
	(void)ud;
	if (c->level == DG_DOCTOR_OK)
		return;
	WARNING(DG_CD_PLUGIN " plugin: %s: readiness %s: %s: %s%s%s", c->target, dg_doctor_level_name(c->level),
		c->name, c->message, c->fix[0] ? "; fix: " : "", c->fix);
}

/* diagint doctor's checks, once per target at start, so a target whose interrupt would produce nothing (missing
 * permission, Secure Boot on, no <panic> device...) is known before it hangs. Read-only: dry runs and reads. On
 * the worker, before it takes detections: they wait in the queue meanwhile. */
static void dg_cd_check_targets(void)
{
	for (size_t i = 0; i < dg_cd.n_targets && !dg_cd.cancel; i++) {
		const struct dg_cd_target *t = &dg_cd.targets[i];
		struct dg_doctor_opts opts = { .libvirt_uri = dg_cd.libvirt_uri, .send = &dg_cd.send_opts };
		struct dg_doctor_summary sum = { 0 };
		struct dg_error err = { 0 };
		struct dg_target parsed;
		int r;

		if (dg_target_parse(t->interrupt, &parsed, &err) < 0)
			continue; /* refused at configuration time already */
		r = dg_doctor_check(&parsed, &opts, dg_cd_on_check, NULL, &sum, &err);
		if (r == 0)
			INFO(DG_CD_PLUGIN " plugin: %s: readiness: %s would produce a dump (%u ok, %u warn)", t->name,
			     t->interrupt, sum.n_ok, sum.n_warn);
		else
			WARNING(DG_CD_PLUGIN " plugin: %s: readiness: %s is NOT READY (%u ok, %u warn, %u fail)", t->name,
				t->interrupt, sum.n_ok, sum.n_warn, sum.n_fail);
	}
}

void *dg_cd_worker(void *arg)
{
	(void)arg;
	if (dg_cd.check_at_start)
		dg_cd_check_targets();
	pthread_mutex_lock(&dg_cd.lock);
	while (!dg_cd.stop) {
		struct dg_cd_target *t;
		char *evidence;
		double start;

		if (!dg_cd.q_len) {
			pthread_cond_wait(&dg_cd.cond, &dg_cd.lock);
			continue;
		}
		/* Let a burst of detections land before deciding (see DG_CD_SETTLE). */
		start = dg_cd_now();
		while (!dg_cd.stop) {
			double now = dg_cd_now(), until = dg_cd.last_detect + DG_CD_SETTLE;
			struct timespec ts;
			if (until > start + DG_CD_SETTLE_MAX)
				until = start + DG_CD_SETTLE_MAX;
			if (now >= until)
				break;
			ts.tv_sec = (time_t)until;
			ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
			pthread_cond_timedwait(&dg_cd.cond, &dg_cd.lock, &ts);
		}
		if (dg_cd.stop)
			break;
		t = dg_cd.queue[dg_cd.q_head];
		dg_cd.q_head = (dg_cd.q_head + 1) % dg_cd.queue_size;
		dg_cd.q_len--;
		t->queued = false;
		if (!t->suspect || t->decided)
			continue; /* it came back while queued */
		dg_cd_scan_quiet_locked(dg_cd_now());
		evidence = strdup(t->evidence ? t->evidence : "");
		pthread_mutex_unlock(&dg_cd.lock);
		dg_cd_decide(t, evidence ? evidence : "");
		free(evidence);
		pthread_mutex_lock(&dg_cd.lock);
	}
	pthread_mutex_unlock(&dg_cd.lock);
	return NULL;
}

