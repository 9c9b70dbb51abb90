/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The collectd plugin's worker (plugin_thread_create): it takes the queue and hands each hang to the responder
 * (responder.h: the brakes, the authorizing audit record BEFORE anything is sent, the reports once per episode),
 * whose callbacks here send through the core, record the outcome and dispatch the notifications. All disk and
 * network work happens here, so collectd is never blocked by us for longer than a mutex hold. */
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

int dg_cd_audit(const char *action, const char *target, const char *reason, const char *evidence,
		enum dg_audit_result result, const char *error, const char *request_id, int attempts,
		const struct dg_dump_record *rec, struct dg_error *ret_err)
{
	struct dg_error err = { 0 };
	/* The worker and shutdown both write: the log takes its own mutex (audit.h). */
	int r = dg_audit_append_outcome(dg_cd.audit, "collectd", action, &(struct dg_audit_outcome){
		.target = target, .reason = reason, .evidence = evidence, .result = result, .error = error,
		.request_id = request_id, .attempts = attempts, .dump_path = dg_record_dump_path(rec),
		.dump_sha256 = rec ? rec->sha256 : NULL }, &err);

	if (r < 0)
		ERROR(DG_CD_PLUGIN " plugin: cannot write the audit record (%s %s, %s): %s", action, target,
		      dg_audit_result_name(result), err.message);
	if (r < 0 && ret_err)
		*ret_err = err;
	return r;
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

static void dg_cd_reason(const struct dg_cd_target *t, char *buf, size_t len)
{
	snprintf(buf, len, "collectd: <Target \"%s\"> Host \"%s\" Hits %u", t->name, t->host, t->hits_needed);
}

/* The responder's callbacks (responder.h). First the record that authorizes the action: no record, no action. */
static int dg_cd_authorize(void *ud, const struct dg_responder_request *req, struct dg_error *err)
{
	const struct dg_cd_target *t = req->data;
	char reason[512];

	(void)ud;
	dg_cd_reason(t, reason, sizeof(reason));
	return dg_cd_audit("authorize", t->interrupt, reason, req->evidence, DG_AUDIT_OK, NULL, NULL, 0, NULL, err);
}

/* The brakes said go and the decision is on record (cooldown started, state saved): interrupt, then record
 * the outcome. */
static int dg_cd_act(void *ud, const struct dg_responder_request *req, struct dg_error *err)
{
	struct dg_cd_target *t = req->data;
	struct dg_send_result res;
	struct dg_dump_record rec;
	struct dg_target parsed;
	char reason[512];
	bool ok;

	(void)ud;
	dg_cd_reason(t, reason, sizeof(reason));
	dg_record_init(&rec, "collectd");
	pthread_mutex_lock(&dg_cd.lock);
	snprintf(dg_cd.inflight, sizeof(dg_cd.inflight), "%s", t->interrupt);
	snprintf(dg_cd.inflight_evidence, sizeof(dg_cd.inflight_evidence), "%s", req->evidence);
	pthread_mutex_unlock(&dg_cd.lock);

	INFO(DG_CD_PLUGIN " plugin: %s: interrupting %s: %s", t->name, t->interrupt, req->evidence);
	if (dg_target_parse(t->interrupt, &parsed, err) < 0) {
		memset(&res, 0, sizeof(res));
		res.status = err->status;
		snprintf(res.message, sizeof(res.message), "%s", err->message);
	} else {
		dg_cd_send(t, &parsed, &res, &rec);
	}
	if (t->capture)
		dg_brakes_release(dg_cd.brakes);
	ok = res.status == DG_OK;
	if (!ok && (!res.sent || res.status == DG_NOTFOUND || res.status == DG_DENIED || res.status == DG_USAGE))
		dg_responder_unclaim(dg_cd.responder, req); /* certainly no interrupt: another monitor may act */

	pthread_mutex_lock(&dg_cd.lock);
	dg_cd.inflight[0] = 0;
	dg_cd.counters[ok ? DG_CD_SENT : DG_CD_FAILED]++;
	pthread_mutex_unlock(&dg_cd.lock);

	if (ok) {
		WARNING(DG_CD_PLUGIN " plugin: %s: interrupt sent to %s%s%s", t->name, t->interrupt,
			res.request_id[0] ? ", request id " : "", res.request_id);
		dg_cd_notify(NOTIF_WARNING, t, "sent", "%s: diagnostic interrupt sent to %s (%s)", t->name, t->interrupt,
			     req->evidence);
	} else {
		ERROR(DG_CD_PLUGIN " plugin: %s: interrupting %s failed (%s): %s", t->name, t->interrupt,
		      dg_status_name(res.status), res.message);
		dg_cd_notify(NOTIF_FAILURE, t, "failed", "%s: interrupting %s failed: %s", t->name, t->interrupt,
			     res.message);
	}
	dg_cd_audit(t->capture ? "inject" : "send", t->interrupt, reason, req->evidence,
		    ok ? DG_AUDIT_OK : dg_audit_result_from_status((int)res.status), ok ? NULL : res.message,
		    res.request_id, (int)res.attempts, &rec, NULL);
	return ok ? 0 : dg_error_set(err, res.status, "%s", res.message);
}

/* The counter each reported outcome adds to. */
static const enum dg_cd_counter dg_cd_counter_of[] = {
	[DG_RESPONDER_ACTED] = DG_CD_FAILED, /* never reported: an action counts sent or failed in dg_cd_act */
	[DG_RESPONDER_DRY_RUN] = DG_CD_DRY_RUN,
	[DG_RESPONDER_COOLDOWN] = DG_CD_SUPP_COOLDOWN,
	[DG_RESPONDER_RATE] = DG_CD_SUPP_RATE,
	[DG_RESPONDER_STORM] = DG_CD_SUPP_STORM,
	[DG_RESPONDER_BUSY] = DG_CD_SUPP_BUSY,
	[DG_RESPONDER_UNRECORDED] = DG_CD_FAILED,
	[DG_RESPONDER_FAILED] = DG_CD_FAILED,
	[DG_RESPONDER_CLAIMED] = DG_CD_SUPP_COOLDOWN, /* another monitor's cooldown */
	[DG_RESPONDER_NO_FLEET] = DG_CD_FAILED,
};

/* Everything but an action, once per episode and kind: the log, the audit record, the notification. */
static void dg_cd_report(void *ud, const struct dg_responder_request *req, enum dg_responder_outcome o,
			 const char *message)
{
	const struct dg_cd_target *t = req->data;
	const char *action = t->capture ? "inject" : "send";
	bool notify_storm = false;
	char reason[512];

	(void)ud;
	dg_cd_reason(t, reason, sizeof(reason));
	pthread_mutex_lock(&dg_cd.lock);
	dg_cd.counters[dg_cd_counter_of[o]]++;
	if (o == DG_RESPONDER_STORM && !dg_cd.storm_notified)
		notify_storm = dg_cd.storm_notified = true;
	pthread_mutex_unlock(&dg_cd.lock);

	switch (o) {
	case DG_RESPONDER_UNRECORDED:
		ERROR(DG_CD_PLUGIN " plugin: %s: not interrupting %s: its audit record cannot be written (%s): nothing is "
		      "sent while the audit log cannot record it.", t->name, t->interrupt, message);
		dg_cd_notify(NOTIF_FAILURE, t, "failed", "%s: not interrupting %s: its audit record cannot be written: %s",
			     t->name, t->interrupt, message);
		return;
	case DG_RESPONDER_FAILED:
		ERROR(DG_CD_PLUGIN " plugin: %s: not interrupting %s: %s", t->name, t->interrupt, message);
		dg_cd_audit(action, t->interrupt, reason, req->evidence, DG_AUDIT_FAILED, message, NULL, 0, NULL, NULL);
		dg_cd_notify(NOTIF_FAILURE, t, "failed", "%s: not interrupting %s: %s", t->name, t->interrupt, message);
		return;
	case DG_RESPONDER_DRY_RUN:
		INFO(DG_CD_PLUGIN " plugin: %s: DryRun: would interrupt %s now (%s)", t->name, t->interrupt,
		     req->evidence);
		dg_cd_audit(action, t->interrupt, reason, req->evidence, DG_AUDIT_DRY_RUN, NULL, NULL, 0, NULL, NULL);
		dg_cd_notify(NOTIF_WARNING, t, "dry_run", "%s: DryRun: would interrupt %s now", t->name, t->interrupt);
		return;
	default:
		break;
	}
	WARNING(DG_CD_PLUGIN " plugin: %s: not interrupting %s: %s", t->name, t->interrupt, message);
	dg_cd_audit(action, t->interrupt, reason, req->evidence, DG_AUDIT_SUPPRESSED, message, NULL, 0, NULL, NULL);
	/* A storm raises one notification for all the targets it holds back, not one per target. */
	if (o != DG_RESPONDER_STORM)
		dg_cd_notify(NOTIF_WARNING, t, "suppressed", "%s: not interrupting %s: %s", t->name, t->interrupt,
			     message);
	else if (notify_storm)
		dg_cd_notify(NOTIF_FAILURE, NULL, "storm", "%s", message);
}

static double dg_cd_clock(void *ud)
{
	(void)ud;
	return dg_clock_real();
}

const struct dg_responder_ops dg_cd_responder_ops = {
	.now = dg_cd_clock,
	.record = dg_cd_authorize,
	.act = dg_cd_act,
	.report = dg_cd_report,
};

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
	size_t i;

	(void)arg;
	if (dg_cd.check_at_start)
		dg_cd_check_targets();
	pthread_mutex_lock(&dg_cd.lock);
	/* Each target after a burst of detections has landed (see DG_CD_SETTLE), until shutdown stops the queue. */
	while (dg_workq_pop(dg_cd.queue, &i) == 0) {
		struct dg_cd_target *t = &dg_cd.targets[i];
		struct dg_responder_request req = { .action = DG_BRAKES_INTERRUPT };

		if (!dg_responder_due(dg_cd.responder, &t->ep, t->hits_needed))
			continue; /* it came back while queued */
		dg_cd_scan_quiet_locked(dg_clock_real());
		pthread_mutex_unlock(&dg_cd.lock);
		req.target = t->interrupt;
		req.captures = t->capture != NULL;
		req.data = t;
		dg_responder_decide(dg_cd.responder, &t->ep, &req, NULL);
		pthread_mutex_lock(&dg_cd.lock);
	}
	pthread_mutex_unlock(&dg_cd.lock);
	return NULL;
}

