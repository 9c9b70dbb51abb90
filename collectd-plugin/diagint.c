/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* diagint.so: collectd 5.12 plugin that sends a diagnostic interrupt (NMI) to a machine whose monitoring says it
 * hangs, under the core's brakes (cooldown, rate, storm, dry run), with an audit record for every decision.
 *
 * This file: registration, configuration and life cycle. collectd's callbacks only detect, in memory
 * (detect.c); one worker thread does all disk and network work (worker.c).
 * Manual: docs/collectd-diagint.5; design and measurements: docs/collectd.md. */
#include "dg_cd.h"

/* ---- configuration --------------------------------------------------------------------------------------- */

static int dg_cd_get_string(oconfig_item_t *ci, const char *where, char **ret)
{
	char *s = NULL;

	if (cf_util_get_string(ci, &s) != 0) {
		ERROR(DG_CD_PLUGIN " plugin: %s%s takes exactly one string argument (in double quotes).", where, ci->key);
		return -1;
	}
	free(*ret);
	*ret = s;
	return 0;
}

/* One table of keys per block (<Plugin diagint>, <Target>): a new key or block is one line or one table. */
enum dg_cd_kind { DG_CD_STRING, DG_CD_NUMBER, DG_CD_UNSIGNED, DG_CD_INT, DG_CD_BOOL, DG_CD_CALL };

struct dg_cd_key {
	const char *key;
	enum dg_cd_kind kind;
	size_t offset;     /* of the field in the block's struct */
	double min, max;   /* numbers */
	int (*call)(oconfig_item_t *ci, const char *where, void *field); /* DG_CD_CALL */
};

#define DG_CD_KEY(name, k, field, ...) { .key = name, .kind = k, .offset = field, __VA_ARGS__ }

static int dg_cd_config_key(oconfig_item_t *ci, const char *where, const struct dg_cd_key *k, void *field)
{
	double d;

	if (k->kind == DG_CD_STRING)
		return dg_cd_get_string(ci, where, field);
	if (k->kind == DG_CD_CALL)
		return k->call(ci, where, field);
	if (k->kind == DG_CD_BOOL) {
		if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_BOOLEAN) {
			ERROR(DG_CD_PLUGIN " plugin: %s%s takes true or false (without quotes).", where, ci->key);
			return -1;
		}
		*(bool *)field = ci->values[0].value.boolean != 0;
		return 0;
	}
	if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_NUMBER) {
		ERROR(DG_CD_PLUGIN " plugin: %s%s takes exactly one number, e.g. \"%s %g\".", where, ci->key, ci->key,
		      k->min > 0 ? k->min : 1.0);
		return -1;
	}
	d = ci->values[0].value.number;
	if (!(d >= k->min && d <= k->max)) {
		ERROR(DG_CD_PLUGIN " plugin: %s%s %g is out of range: use a number from %g to %g.", where, ci->key, d,
		      k->min, k->max);
		return -1;
	}
	if (k->kind == DG_CD_NUMBER)
		*(double *)field = d;
	else if (k->kind == DG_CD_UNSIGNED)
		*(unsigned *)field = (unsigned)d;
	else
		*(int *)field = (int)d;
	return 0;
}

/* Every child of ci by the table; what: the block, for the message on an unknown key. */
static int dg_cd_config_block(oconfig_item_t *ci, const char *where, const char *what, const struct dg_cd_key *keys,
			      void *block)
{
	for (int i = 0; i < ci->children_num; i++) {
		oconfig_item_t *c = &ci->children[i];
		const struct dg_cd_key *k = keys;

		while (k->key && strcasecmp(c->key, k->key))
			k++;
		if (!k->key) {
			ERROR(DG_CD_PLUGIN " plugin: %sunknown option \"%s\": see collectd-diagint(5) for the options of "
			      "%s.", where, c->key, what);
			return -1;
		}
		if (dg_cd_config_key(c, where, k, (char *)block + k->offset) != 0)
			return -1;
	}
	return 0;
}

static void dg_cd_free_strings(const struct dg_cd_key *keys, void *block)
{
	for (const struct dg_cd_key *k = keys; k->key; k++)
		if (k->kind == DG_CD_STRING) {
			free(*(char **)((char *)block + k->offset));
			*(char **)((char *)block + k->offset) = NULL;
		}
}

static int dg_cd_config_detect(oconfig_item_t *ci, const char *where, void *field)
{
	unsigned d = 0;

	if (ci->values_num < 1) {
		ERROR(DG_CD_PLUGIN " plugin: %sDetect needs one or more of \"missing\", \"ping\", \"notification\".",
		      where);
		return -1;
	}
	for (int i = 0; i < ci->values_num; i++) {
		const char *v = ci->values[i].type == OCONFIG_TYPE_STRING ? ci->values[i].value.string : "";
		if (!strcasecmp(v, "missing"))
			d |= DG_CD_DETECT_MISSING;
		else if (!strcasecmp(v, "ping"))
			d |= DG_CD_DETECT_PING;
		else if (!strcasecmp(v, "notification"))
			d |= DG_CD_DETECT_NOTIF;
		else {
			ERROR(DG_CD_PLUGIN " plugin: %sDetect \"%s\" is not a detection: use \"missing\", \"ping\" or "
			      "\"notification\".", where, v);
			return -1;
		}
	}
	*(unsigned *)field = d;
	return 0;
}

static int dg_cd_config_severity(oconfig_item_t *ci, const char *where, void *field)
{
	char *s = NULL;
	int r = dg_cd_get_string(ci, where, &s);

	if (r == 0 && !strcasecmp(s, "failure"))
		*(int *)field = NOTIF_FAILURE;
	else if (r == 0 && !strcasecmp(s, "warning"))
		*(int *)field = NOTIF_WARNING;
	else if (r == 0) {
		ERROR(DG_CD_PLUGIN " plugin: %sNotificationSeverity \"%s\": use \"failure\" or \"warning\".", where, s);
		r = -1;
	}
	free(s);
	return r;
}

#define DG_CD_T(f) offsetof(struct dg_cd_target, f)
static const struct dg_cd_key dg_cd_target_keys[] = {
	DG_CD_KEY("Host", DG_CD_STRING, DG_CD_T(host)),
	DG_CD_KEY("Interrupt", DG_CD_STRING, DG_CD_T(interrupt)),
	DG_CD_KEY("Detect", DG_CD_CALL, DG_CD_T(detect), .call = dg_cd_config_detect),
	DG_CD_KEY("Hits", DG_CD_UNSIGNED, DG_CD_T(hits_needed), .min = 1, .max = 1000),
	DG_CD_KEY("PingHost", DG_CD_STRING, DG_CD_T(ping_host)),
	DG_CD_KEY("PingMaxDropRate", DG_CD_NUMBER, DG_CD_T(ping_max_droprate), .min = 0, .max = 1),
	DG_CD_KEY("PingMaxLatency", DG_CD_NUMBER, DG_CD_T(ping_max_latency), .min = 0, .max = 3600000),
	DG_CD_KEY("NotificationPlugin", DG_CD_STRING, DG_CD_T(notif_plugin)),
	DG_CD_KEY("NotificationType", DG_CD_STRING, DG_CD_T(notif_type)),
	DG_CD_KEY("NotificationSeverity", DG_CD_CALL, DG_CD_T(notif_severity), .call = dg_cd_config_severity),
	DG_CD_KEY("Capture", DG_CD_STRING, DG_CD_T(capture)),
	{ .key = NULL },
};

static void dg_cd_target_clear(struct dg_cd_target *t)
{
	free(t->name);
	dg_cd_free_strings(dg_cd_target_keys, t);
	memset(t, 0, sizeof(*t));
}

static int dg_cd_config_target(oconfig_item_t *ci, const char *unused, void *field)
{
	struct dg_cd_target t = { .detect = DG_CD_DETECT_MISSING, .hits_needed = 1, .ping_max_droprate = 0.9,
				  .notif_severity = NOTIF_FAILURE };
	char where[256];
	struct dg_target parsed;
	struct dg_error err = { 0 };
	struct dg_cd_target *list;
	int r = 0;

	(void)unused;
	(void)field;
	if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING || !ci->values[0].value.string[0]) {
		ERROR(DG_CD_PLUGIN " plugin: <Target> needs a name: <Target \"web-1\">.");
		return -1;
	}
	t.name = strdup(ci->values[0].value.string);
	snprintf(where, sizeof(where), "<Target \"%s\">: ", ci->values[0].value.string);
	for (size_t i = 0; i < dg_cd.n_targets; i++)
		if (!strcmp(dg_cd.targets[i].name, t.name)) {
			ERROR(DG_CD_PLUGIN " plugin: %sthe name is used twice: give each <Target> its own name.", where);
			r = -1;
		}
	if (r == 0)
		r = dg_cd_config_block(ci, where, "a <Target> block", dg_cd_target_keys, &t);
	if (r == 0 && !t.interrupt) {
		ERROR(DG_CD_PLUGIN " plugin: %sInterrupt is missing: name the machine to interrupt, e.g. "
		      "Interrupt \"aws:us-east-1/i-0123456789abcdef0\".", where);
		r = -1;
	}
	if (r == 0 && dg_target_parse(t.interrupt, &parsed, &err) < 0) {
		ERROR(DG_CD_PLUGIN " plugin: %sInterrupt \"%s\": %s", where, t.interrupt, err.message);
		r = -1;
	}
	if (r == 0 && t.capture && strncmp(t.interrupt, "libvirt:", 8) != 0) {
		ERROR(DG_CD_PLUGIN " plugin: %sCapture only works for libvirt targets (Interrupt \"libvirt:DOMAIN\"): "
		      "a cloud provider dumps the guest's memory itself (kdump in the guest); remove Capture.", where);
		r = -1;
	}
	if (r == 0 && t.capture && dg_inject_destination_check(t.capture, &err) < 0) {
		ERROR(DG_CD_PLUGIN " plugin: %sCapture \"%s\": %s", where, t.capture, err.message);
		r = -1;
	}
	if (r == 0 && !t.host && !(t.host = strdup(t.name)))
		r = -1;
	if (r == 0 && (t.detect & DG_CD_DETECT_PING) && !t.ping_host && !(t.ping_host = strdup(t.host)))
		r = -1;
	if (r == 0 && !(t.detect & DG_CD_DETECT_NOTIF) && (t.notif_plugin || t.notif_type)) {
		ERROR(DG_CD_PLUGIN " plugin: %sNotificationPlugin/NotificationType need Detect \"notification\".", where);
		r = -1;
	}
	if (r == 0) {
		list = realloc(dg_cd.targets, (dg_cd.n_targets + 1) * sizeof(*list));
		if (!list)
			r = -1;
		else {
			dg_cd.targets = list;
			dg_cd.targets[dg_cd.n_targets++] = t;
			dg_cd.detect_all |= t.detect;
			return 0;
		}
	}
	dg_cd_target_clear(&t);
	return -1;
}

static int dg_cd_config_endpoint(oconfig_item_t *ci, const char *where, void *field)
{
	struct dg_error err = { 0 };

	(void)where;
	(void)field;
	if (ci->values_num != 2 || ci->values[0].type != OCONFIG_TYPE_STRING ||
	    ci->values[1].type != OCONFIG_TYPE_STRING) {
		ERROR(DG_CD_PLUGIN " plugin: Endpoint takes a provider and a URL: Endpoint \"aws\" "
		      "\"https://ec2.us-east-1.amazonaws.com/\".");
		return -1;
	}
	if (dg_send_endpoint_check(ci->values[0].value.string, ci->values[1].value.string, &err) < 0) {
		ERROR(DG_CD_PLUGIN " plugin: Endpoint \"%s\" \"%s\": %s", ci->values[0].value.string,
		      ci->values[1].value.string, err.message);
		return -1;
	}
	if (dg_cd.n_endpoints == DG_SEND_MAX_ENDPOINTS) {
		ERROR(DG_CD_PLUGIN " plugin: Endpoint: at most %d endpoints.", DG_SEND_MAX_ENDPOINTS);
		return -1;
	}
	dg_cd.endpoints[dg_cd.n_endpoints].provider = strdup(ci->values[0].value.string);
	dg_cd.endpoints[dg_cd.n_endpoints].url = strdup(ci->values[1].value.string);
	dg_cd.n_endpoints++;
	return 0;
}

/* Credentials the providers read from the environment (AWS_PROFILE, GOOGLE_APPLICATION_CREDENTIALS, OS_*...),
 * set for this daemon only. Read before any thread of ours exists, so setenv is safe here. */
static int dg_cd_config_environment(oconfig_item_t *ci, const char *where, void *field)
{
	(void)where;
	(void)field;
	if (ci->values_num != 2 || ci->values[0].type != OCONFIG_TYPE_STRING ||
	    ci->values[1].type != OCONFIG_TYPE_STRING || !ci->values[0].value.string[0] ||
	    strchr(ci->values[0].value.string, '=')) {
		ERROR(DG_CD_PLUGIN " plugin: Environment takes a variable name and a value: Environment \"AWS_PROFILE\" "
		      "\"monitoring\".");
		return -1;
	}
	if (setenv(ci->values[0].value.string, ci->values[1].value.string, 1) != 0) {
		ERROR(DG_CD_PLUGIN " plugin: Environment \"%s\": %s", ci->values[0].value.string, STRERRNO);
		return -1;
	}
	return 0;
}

/* <Fleet>: [fleet]'s keys (fleet.h), parsed by the core; the values of one key are joined with spaces. */
static int dg_cd_config_fleet(oconfig_item_t *ci, const char *where, void *field)
{
	char v[4096], e[512] = "unknown option: see collectd-diagint(5)";
	int r = 0;

	(void)where;
	(void)field;
	if (!dg_cd.fleet_cfg && !(dg_cd.fleet_cfg = malloc(sizeof(*dg_cd.fleet_cfg))))
		return -1;
	dg_fleet_config_default(dg_cd.fleet_cfg);
	for (int i = 0; i < ci->children_num && r == 0; i++) {
		oconfig_item_t *c = &ci->children[i];
		size_t n = 0;
		for (int k = 0; k < c->values_num && n < sizeof(v); k++) {
			oconfig_value_t *x = &c->values[k];
			n += (size_t)(x->type == OCONFIG_TYPE_NUMBER ?
				      snprintf(v + n, sizeof(v) - n, "%s%g", k ? " " : "", x->value.number) :
				      snprintf(v + n, sizeof(v) - n, "%s%s", k ? " " : "",
					       x->type == OCONFIG_TYPE_STRING ? x->value.string :
					       x->value.boolean ? "yes" : "no"));
		}
		if (!c->values_num || n >= sizeof(v) ||
		    dg_fleet_config_entry(dg_cd.fleet_cfg, c->key, n ? v : "", e, sizeof(e)) <= 0)
			r = -1;
		explicit_bzero(v, sizeof(v)); /* a Password's copy */
		/* The core's message may name the key already ("Endpoints: ..."). */
		if (r)
			ERROR(DG_CD_PLUGIN " plugin: <Fleet> %s%s%s", strncasecmp(e, c->key, strlen(c->key)) ? c->key : "",
			      strncasecmp(e, c->key, strlen(c->key)) ? ": " : "", e);
	}
	if (r == 0 && dg_fleet_config_check(dg_cd.fleet_cfg, e, sizeof(e)) < 0) {
		ERROR(DG_CD_PLUGIN " plugin: <Fleet>: %s", e);
		r = -1;
	}
	return r;
}

static int dg_cd_init(void);
static int dg_cd_shutdown(void);

#define DG_CD_S(f) offsetof(struct dg_cd_state, f)
static const struct dg_cd_key dg_cd_plugin_keys[] = {
	DG_CD_KEY("DryRun", DG_CD_BOOL, DG_CD_S(policy.dry_run)),
	DG_CD_KEY("CheckAtStart", DG_CD_BOOL, DG_CD_S(check_at_start)),
	DG_CD_KEY("Cooldown", DG_CD_NUMBER, DG_CD_S(policy.cooldown), .min = 0, .max = 1e9),
	DG_CD_KEY("MaxActions", DG_CD_UNSIGNED, DG_CD_S(policy.max_actions), .min = 0, .max = 1e6),
	DG_CD_KEY("ActionWindow", DG_CD_NUMBER, DG_CD_S(policy.window), .min = 1, .max = 1e9),
	DG_CD_KEY("MaxUnhealthyPercent", DG_CD_NUMBER, DG_CD_S(policy.storm_percent), .min = 0, .max = 100),
	DG_CD_KEY("MinTargetsForStorm", DG_CD_UNSIGNED, DG_CD_S(policy.storm_min_targets), .min = 1, .max = 1e9),
	DG_CD_KEY("AuditLog", DG_CD_STRING, DG_CD_S(audit_path)),
	DG_CD_KEY("StateFile", DG_CD_STRING, DG_CD_S(state_path)),
	DG_CD_KEY("CACert", DG_CD_STRING, DG_CD_S(cacert)),
	DG_CD_KEY("LibvirtURI", DG_CD_STRING, DG_CD_S(libvirt_uri)),
	DG_CD_KEY("Endpoint", DG_CD_CALL, 0, .call = dg_cd_config_endpoint),
	DG_CD_KEY("Environment", DG_CD_CALL, 0, .call = dg_cd_config_environment),
	DG_CD_KEY("RequestTimeout", DG_CD_NUMBER, DG_CD_S(request_timeout), .min = 0.1, .max = 3600),
	DG_CD_KEY("Retries", DG_CD_INT, DG_CD_S(retries), .min = 0, .max = 10),
	DG_CD_KEY("ShutdownTimeout", DG_CD_NUMBER, DG_CD_S(shutdown_timeout), .min = 0, .max = 600),
	DG_CD_KEY("QueueSize", DG_CD_UNSIGNED, DG_CD_S(queue_size), .min = 1, .max = 1e7),
	DG_CD_KEY("Target", DG_CD_CALL, 0, .call = dg_cd_config_target),
	DG_CD_KEY("Fleet", DG_CD_CALL, 0, .call = dg_cd_config_fleet),
	{ .key = NULL },
};

static int dg_cd_config(oconfig_item_t *ci)
{
	int r;

	if (!dg_cd.configured) {
		dg_brakes_policy_default(&dg_cd.policy);
		dg_cd.configured = true;
	}
	r = dg_cd_config_block(ci, "", "<Plugin diagint>", dg_cd_plugin_keys, &dg_cd);
	if (r != 0)
		return -1;
	if (!dg_cd.n_targets) {
		ERROR(DG_CD_PLUGIN " plugin: no <Target> configured: add at least one <Target \"NAME\"> block with "
		      "Host and Interrupt, or do not load the plugin.");
		return -1;
	}
	if (!dg_cd.registered) {
		dg_cd.registered = true;
		plugin_register_init(DG_CD_PLUGIN, dg_cd_init);
		plugin_register_shutdown(DG_CD_PLUGIN, dg_cd_shutdown);
	}
	return 0;
}

/* ---- life cycle ------------------------------------------------------------------------------------------- */

static int dg_cd_init(void)
{
	struct dg_send_opts so = { 0 };
	struct dg_error err = { 0 };
	unsigned skipped = 0;
	const char *audit_path = dg_audit_path(dg_cd.audit_path);
	const char *state_path = dg_cd.state_path ? dg_cd.state_path : DG_CD_DEFAULT_STATE;

	if (dg_cd.worker_running)
		return 0;
	if (dg_cd_maps_build() < 0 || dg_workq_new(&(struct dg_workq_opts){ .items = dg_cd.n_targets,
		    .size = dg_cd.queue_size, .settle = DG_CD_SETTLE, .settle_max = DG_CD_SETTLE_MAX,
		    .lock = &dg_cd.lock }, &dg_cd.queue, &err) < 0) {
		ERROR(DG_CD_PLUGIN " plugin: out of memory");
		return -1;
	}
	/* An action that cannot be recorded does not happen: no audit log, no plugin. */
	if (dg_audit_log_open(audit_path, NULL, 0, 0, &dg_cd.audit, &err) < 0) {
		ERROR(DG_CD_PLUGIN " plugin: AuditLog \"%s\": %s", audit_path, err.message);
		return -1;
	}
	if (dg_brakes_new(&dg_cd.policy, state_path, NULL, NULL, &dg_cd.brakes, &skipped, &err) < 0) {
		ERROR(DG_CD_PLUGIN " plugin: StateFile \"%s\": %s", state_path, err.message);
		return -1;
	}
	if (skipped)
		WARNING(DG_CD_PLUGIN " plugin: StateFile \"%s\": %u unreadable lines skipped; cooldowns they held "
			"are forgotten.", state_path, skipped);
	dg_brakes_set_watched(dg_cd.brakes, (unsigned)dg_cd.n_targets);
	{
		struct dg_responder_opts ro = { .brakes = dg_cd.brakes, .ops = dg_cd_responder_ops,
						.interval = CDTIME_T_TO_DOUBLE(plugin_get_interval()) };
		char monitor[DG_FLEET_MONITOR_MAX];
		dg_fleet_monitor_name(dg_cd.fleet_cfg, "collectd", monitor, sizeof(monitor));
		if (dg_cd.fleet_cfg && dg_fleet_new(dg_cd.fleet_cfg, monitor, &dg_cd.fleet, &err) < 0) {
			ERROR(DG_CD_PLUGIN " plugin: <Fleet>: %s", err.message);
			return -1;
		}
		ro.fleet = dg_cd.fleet;
		if (dg_responder_new(&ro, &dg_cd.responder, &err) < 0) {
			ERROR(DG_CD_PLUGIN " plugin: %s", err.message);
			return -1;
		}
		for (size_t i = 0; i < dg_cd.n_targets && dg_cd.fleet; i++)
			dg_responder_fleet_set(dg_cd.responder, dg_cd.targets[i].interrupt, true, false);
		if (dg_responder_fleet_start(dg_cd.responder, &err) < 0) {
			ERROR(DG_CD_PLUGIN " plugin: %s", err.message);
			return -1;
		}
		if (dg_cd.fleet)
			INFO(DG_CD_PLUGIN " plugin: fleet brakes on etcd (%s ...) as %s: no automatic interrupt while it "
			     "cannot answer", dg_cd.fleet_cfg->endpoints[0], monitor);
	}

	so.reason = "collectd";
	memcpy(so.endpoints, dg_cd.endpoints, sizeof(so.endpoints));
	so.n_endpoints = dg_cd.n_endpoints;
	so.cacert = dg_cd.cacert;
	so.libvirt_uri = dg_cd.libvirt_uri;
	so.timeout = dg_cd.request_timeout;
	so.connect_timeout = dg_cd.request_timeout < 10 ? dg_cd.request_timeout : 10;
	so.retries = dg_cd.retries;
	/* Shutdown aborts a request in flight instead of waiting for a slow provider. */
	so.cancel = &dg_cd.cancel;
	dg_cd.send_opts = so;
	if (dg_sender_new(&so, &dg_cd.sender, &err) < 0) {
		ERROR(DG_CD_PLUGIN " plugin: cannot set up the HTTP client: %s", err.message);
		return -1;
	}

	if (plugin_thread_create(&dg_cd.worker, dg_cd_worker, NULL, "diagint") != 0) {
		ERROR(DG_CD_PLUGIN " plugin: cannot start the worker thread: %s", STRERRNO);
		return -1;
	}
	dg_cd.worker_running = true;

	plugin_register_complex_read(NULL, DG_CD_PLUGIN, dg_cd_read, 0, NULL);
	plugin_register_notification(DG_CD_PLUGIN, dg_cd_notification, NULL);
	plugin_register_write(DG_CD_PLUGIN, dg_cd_write, NULL);
	if (dg_cd.detect_all & DG_CD_DETECT_MISSING)
		plugin_register_missing(DG_CD_PLUGIN, dg_cd_missing, NULL);
	INFO(DG_CD_PLUGIN " plugin: watching %zu targets%s; audit log %s; brake state %s", dg_cd.n_targets,
	     dg_cd.policy.dry_run ? " (DryRun: nothing is sent)" : "", audit_path, state_path);
	return 0;
}

static int dg_cd_shutdown(void)
{
	struct timespec ts;
	char inflight[DG_TARGET_MAX], evidence[512];
	size_t waiting;
	int r = 0;

	if (!dg_cd.worker_running)
		return 0;
	pthread_mutex_lock(&dg_cd.lock);
	dg_cd.cancel = 1;
	waiting = dg_workq_stop(dg_cd.queue);
	if (waiting)
		INFO(DG_CD_PLUGIN " plugin: stopping with %zu targets waiting for a decision; nothing was sent for them.",
		     waiting);
	pthread_mutex_unlock(&dg_cd.lock);

	ts = dg_clock_deadline(CLOCK_REALTIME, dg_cd.shutdown_timeout);
	r = pthread_timedjoin_np(dg_cd.worker, NULL, &ts);
	if (r != 0) {
		/* A request is still out (the provider is slow). The daemon must not wait for it: leave the thread and
		 * everything it uses alone (the process is exiting) and record that the request may have arrived. */
		pthread_mutex_lock(&dg_cd.lock);
		snprintf(inflight, sizeof(inflight), "%s", dg_cd.inflight);
		snprintf(evidence, sizeof(evidence), "%s", dg_cd.inflight_evidence);
		pthread_mutex_unlock(&dg_cd.lock);
		WARNING(DG_CD_PLUGIN " plugin: the request to %s was still in flight after ShutdownTimeout %.1f s; "
			"stopping without its answer (it may have reached the provider).",
			inflight[0] ? inflight : "(none)", dg_cd.shutdown_timeout);
		if (inflight[0])
			dg_cd_audit("send", inflight, "collectd: shutdown", evidence, DG_AUDIT_FAILED,
				    "collectd stopped while the request was in flight; it may have reached the provider",
				    NULL, 0, NULL, NULL);
		return 0;
	}
	dg_cd.worker_running = false;
	dg_sender_free(dg_cd.sender);
	dg_lv_free(dg_cd.lv);
	dg_responder_free(dg_cd.responder);
	dg_fleet_free(dg_cd.fleet); /* withdraws this monitor's storm entries */
	free(dg_cd.fleet_cfg);
	dg_brakes_free(dg_cd.brakes);
	dg_audit_log_free(dg_cd.audit);
	for (size_t i = 0; i < dg_cd.n_targets; i++)
		dg_cd_target_clear(&dg_cd.targets[i]);
	free(dg_cd.targets);
	dg_workq_free(dg_cd.queue);
	dg_strindex_free(dg_cd.by_host);
	dg_strindex_free(dg_cd.by_ping);
	for (unsigned i = 0; i < dg_cd.n_endpoints; i++) {
		free((char *)dg_cd.endpoints[i].provider);
		free((char *)dg_cd.endpoints[i].url);
	}
	dg_cd_free_strings(dg_cd_plugin_keys, &dg_cd);
	return 0;
}

void module_register(void)
{
	plugin_register_complex_config(DG_CD_PLUGIN, dg_cd_config);
}
