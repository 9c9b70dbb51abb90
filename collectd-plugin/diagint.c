/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* diagint.so: collectd 5.12 plugin that sends a diagnostic interrupt (NMI) to a machine whose monitoring says it
 * hangs, under the core's brakes (cooldown, rate, storm, dry run), with an audit record for every decision.
 *
 * Threads. collectd calls the notification, write and missing callbacks from its own threads (main loop, write
 * threads, unixsock connections): they only update per-target state in memory under one mutex and, when a target
 * has been seen hung often enough (Hits), put it on a bounded queue. One worker (plugin_thread_create) takes the
 * queue, asks the brakes, sends through the core, writes the audit record, and dispatches the notification. All
 * disk and network work happens there, so collectd is never blocked by us for longer than a mutex hold.
 * Manual: docs/collectd-diagint.5; design and measurements: docs/collectd.md. */

#include "core/daemon/collectd.h"
#include "core/daemon/configfile.h"
#include "core/daemon/plugin.h"
#include "core/utils/common/common.h"

#include <math.h>
#include <pthread.h>
#include <time.h>

#include "diagint/audit.h"
#include "diagint/doctor.h"
#include "diagint/brakes.h"
#include "diagint/error.h"
#include "diagint/inject.h"
#include "diagint/lv.h"
#include "diagint/record.h"
#include "diagint/send.h"
#include "diagint/target.h"

#define DG_CD_PLUGIN "diagint"
#define DG_CD_DEFAULT_STATE "/var/lib/diagint/collectd-brakes.state"
/* After a detection the worker waits until no new target has looked hung for this long (at most
 * DG_CD_SETTLE_MAX) before deciding: the threshold plugin reports the expiries of one timeout pass one after the
 * other, and the storm brake must see all of them, not only the first. */
#define DG_CD_SETTLE 0.1
#define DG_CD_SETTLE_MAX 1.0
/* The threshold plugin reports silent hosts in the pass after their timeout, so hosts that fell silent a few
 * milliseconds apart may be reported a whole interval apart. For the storm brake a host counts as unhealthy once
 * it has sent nothing for this many intervals, before its FAILURE arrives. */
#define DG_CD_QUIET 1.5

enum {
	DG_CD_DETECT_MISSING = 1 << 0,
	DG_CD_DETECT_PING = 1 << 1,
	DG_CD_DETECT_NOTIF = 1 << 2,
};

enum dg_cd_counter {
	DG_CD_SENT,
	DG_CD_FAILED,
	DG_CD_SUPP_COOLDOWN,
	DG_CD_SUPP_RATE,
	DG_CD_SUPP_STORM,
	DG_CD_SUPP_BUSY,
	DG_CD_DRY_RUN,
	DG_CD_DROPPED,
	DG_CD_NCOUNTERS,
};

static const char *const dg_cd_counter_names[DG_CD_NCOUNTERS] = {
	"sent", "failed", "suppressed-cooldown", "suppressed-rate", "suppressed-storm", "suppressed-busy",
	"dry_run", "dropped",
};

struct dg_cd_target {
	/* Configuration. */
	char *name;
	char *host;
	char *ping_host;
	char *interrupt;      /* validated at configuration time; parsed again on the worker (keeps this small) */
	char *capture;        /* libvirt only: destination of the capture after the NMI */
	char *notif_plugin;   /* NULL: any */
	char *notif_type;     /* NULL: any */
	int notif_severity;   /* NOTIF_FAILURE or NOTIF_WARNING (WARNING matches FAILURE too) */
	unsigned detect;
	unsigned hits_needed;
	double ping_max_droprate;
	double ping_max_latency; /* ms; 0: not checked */
	struct dg_cd_target *next_host;
	struct dg_cd_target *next_ping;

	/* State, under dg_cd.lock. */
	bool suspect;
	unsigned source;      /* the DG_CD_DETECT_* that started this episode */
	double since;         /* wall time the episode started */
	double last_seen;     /* wall time of the last value from host (0: none yet) */
	double interval;      /* of the host's last value, seconds */
	double last_latency;  /* ms, from the ping plugin */
	unsigned hits;
	bool quiet;           /* silent for over DG_CD_QUIET intervals, not yet reported missing: storm evidence */
	bool marked;          /* what the brakes were last told: suspect || quiet */
	bool queued;
	bool decided;         /* this episode got its decision (sent, failed, dry run, storm): nothing more */
	double retry_at;      /* a cooldown or rate refusal: ask again then (0: no) */
	int last_verdict;     /* -1: none this episode; so a repeated refusal is logged and audited once */
	char *evidence;       /* what started the episode, for the log, the audit record and the notification */
};

struct dg_cd_map {
	struct dg_cd_target **bucket;
	size_t mask;
};

static struct {
	/* Configuration. */
	struct dg_brakes_policy policy;
	char *audit_path;
	char *state_path;
	char *cacert;
	char *libvirt_uri;
	struct dg_send_endpoint endpoints[DG_SEND_MAX_ENDPOINTS];
	unsigned n_endpoints;
	double request_timeout;
	int retries;
	double shutdown_timeout;
	unsigned queue_size;
	bool check_at_start;  /* run diagint doctor's checks for every target when the worker starts */
	struct dg_send_opts send_opts; /* as the sender has them, for the start-up checks */
	struct dg_cd_target *targets;
	size_t n_targets;
	bool configured;
	bool registered;
	unsigned detect_all;  /* union of the targets' Detect */

	/* Runtime. */
	struct dg_cd_map by_host;
	struct dg_cd_map by_ping;
	struct dg_brakes *brakes;
	struct dg_sender *sender;
	struct dg_lv *lv;
	struct dg_audit_log *audit;
	pthread_mutex_t audit_lock; /* one dg_audit_log, two writers: the worker and shutdown */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t worker;
	bool worker_running;
	bool stop;
	volatile sig_atomic_t cancel; /* a capture in progress stops at the next block (inject.h) */
	struct dg_cd_target **queue;
	size_t q_head, q_len;
	double last_detect;
	unsigned unhealthy;
	bool storm_notified;
	char inflight[DG_TARGET_MAX]; /* the request the worker is in, for the shutdown record */
	char inflight_evidence[512];
	uint64_t counters[DG_CD_NCOUNTERS];
} dg_cd = {
	.audit_lock = PTHREAD_MUTEX_INITIALIZER,
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.request_timeout = 30,
	.retries = -1,
	.shutdown_timeout = 5,
	.queue_size = 1024,
	.check_at_start = true,
};

static double dg_cd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Evidence and messages are cut to their buffers on purpose (collectd's names are short, messages are not). */
static void dg_cd_fmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void dg_cd_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static void dg_cd_iso(double t, char *buf, size_t len)
{
	time_t s = (time_t)t;
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- host name maps: a lookup per dispatched value must stay cheap at 10,000 targets ---------------------- */

static size_t dg_cd_hash(const char *s)
{
	size_t h = 14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int dg_cd_map_init(struct dg_cd_map *m, size_t n)
{
	size_t size = 16;

	while (size < 2 * n)
		size <<= 1;
	m->bucket = calloc(size, sizeof(*m->bucket));
	if (!m->bucket)
		return -1;
	m->mask = size - 1;
	return 0;
}

static struct dg_cd_target *dg_cd_by_host(const char *host)
{
	struct dg_cd_target *t;

	if (!dg_cd.by_host.bucket)
		return NULL;
	for (t = dg_cd.by_host.bucket[dg_cd_hash(host) & dg_cd.by_host.mask]; t; t = t->next_host)
		if (!strcmp(t->host, host))
			return t;
	return NULL;
}

static struct dg_cd_target *dg_cd_by_ping(const char *host)
{
	struct dg_cd_target *t;

	if (!dg_cd.by_ping.bucket)
		return NULL;
	for (t = dg_cd.by_ping.bucket[dg_cd_hash(host) & dg_cd.by_ping.mask]; t; t = t->next_ping)
		if (!strcmp(t->ping_host, host))
			return t;
	return NULL;
}

/* Every target of one host sits together in its bucket chain, so the lookups above find the first and the
 * callers walk on while the host matches. */
static int dg_cd_maps_build(void)
{
	if (dg_cd_map_init(&dg_cd.by_host, dg_cd.n_targets) < 0 || dg_cd_map_init(&dg_cd.by_ping, dg_cd.n_targets) < 0)
		return -1;
	for (size_t i = dg_cd.n_targets; i-- > 0;) {
		struct dg_cd_target *t = &dg_cd.targets[i], **b;
		b = &dg_cd.by_host.bucket[dg_cd_hash(t->host) & dg_cd.by_host.mask];
		t->next_host = *b;
		*b = t;
		if (t->detect & DG_CD_DETECT_PING) {
			b = &dg_cd.by_ping.bucket[dg_cd_hash(t->ping_host) & dg_cd.by_ping.mask];
			t->next_ping = *b;
			*b = t;
		}
	}
	return 0;
}

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

static int dg_cd_get_number(oconfig_item_t *ci, const char *where, double min, double max, double *ret)
{
	double d;

	if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_NUMBER) {
		ERROR(DG_CD_PLUGIN " plugin: %s%s takes exactly one number, e.g. \"%s %g\".", where, ci->key, ci->key,
		      min > 0 ? min : 1.0);
		return -1;
	}
	d = ci->values[0].value.number;
	if (!(d >= min && d <= max)) {
		ERROR(DG_CD_PLUGIN " plugin: %s%s %g is out of range: use a number from %g to %g.", where, ci->key, d, min,
		      max);
		return -1;
	}
	*ret = d;
	return 0;
}

static int dg_cd_get_bool(oconfig_item_t *ci, const char *where, bool *ret)
{
	if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_BOOLEAN) {
		ERROR(DG_CD_PLUGIN " plugin: %s%s takes true or false (without quotes).", where, ci->key);
		return -1;
	}
	*ret = ci->values[0].value.boolean != 0;
	return 0;
}

static int dg_cd_config_detect(oconfig_item_t *ci, const char *where, unsigned *ret)
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
	*ret = d;
	return 0;
}

static void dg_cd_target_clear(struct dg_cd_target *t)
{
	free(t->name);
	free(t->host);
	free(t->ping_host);
	free(t->interrupt);
	free(t->capture);
	free(t->notif_plugin);
	free(t->notif_type);
	free(t->evidence);
	memset(t, 0, sizeof(*t));
}

static int dg_cd_config_target(oconfig_item_t *ci)
{
	struct dg_cd_target t = { .detect = DG_CD_DETECT_MISSING, .hits_needed = 1, .ping_max_droprate = 0.9,
				  .notif_severity = NOTIF_FAILURE, .last_verdict = -1 };
	char where[256];
	struct dg_target parsed;
	struct dg_error err = { 0 };
	struct dg_cd_target *list;
	double d;
	int r = 0;

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

	for (int i = 0; i < ci->children_num && r == 0; i++) {
		oconfig_item_t *c = &ci->children[i];
		if (!strcasecmp(c->key, "Host"))
			r = dg_cd_get_string(c, where, &t.host);
		else if (!strcasecmp(c->key, "Interrupt"))
			r = dg_cd_get_string(c, where, &t.interrupt);
		else if (!strcasecmp(c->key, "Detect"))
			r = dg_cd_config_detect(c, where, &t.detect);
		else if (!strcasecmp(c->key, "Hits")) {
			r = dg_cd_get_number(c, where, 1, 1000, &d);
			t.hits_needed = (unsigned)d;
		} else if (!strcasecmp(c->key, "PingHost"))
			r = dg_cd_get_string(c, where, &t.ping_host);
		else if (!strcasecmp(c->key, "PingMaxDropRate"))
			r = dg_cd_get_number(c, where, 0, 1, &t.ping_max_droprate);
		else if (!strcasecmp(c->key, "PingMaxLatency"))
			r = dg_cd_get_number(c, where, 0, 3600000, &t.ping_max_latency);
		else if (!strcasecmp(c->key, "NotificationPlugin"))
			r = dg_cd_get_string(c, where, &t.notif_plugin);
		else if (!strcasecmp(c->key, "NotificationType"))
			r = dg_cd_get_string(c, where, &t.notif_type);
		else if (!strcasecmp(c->key, "NotificationSeverity")) {
			char *s = NULL;
			r = dg_cd_get_string(c, where, &s);
			if (r == 0 && !strcasecmp(s, "failure"))
				t.notif_severity = NOTIF_FAILURE;
			else if (r == 0 && !strcasecmp(s, "warning"))
				t.notif_severity = NOTIF_WARNING;
			else if (r == 0) {
				ERROR(DG_CD_PLUGIN " plugin: %sNotificationSeverity \"%s\": use \"failure\" or \"warning\".",
				      where, s);
				r = -1;
			}
			free(s);
		} else if (!strcasecmp(c->key, "Capture"))
			r = dg_cd_get_string(c, where, &t.capture);
		else {
			ERROR(DG_CD_PLUGIN " plugin: %sunknown option \"%s\": see collectd-diagint(5) for the options of a "
			      "<Target> block.", where, c->key);
			r = -1;
		}
	}
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

static int dg_cd_config_endpoint(oconfig_item_t *ci)
{
	if (ci->values_num != 2 || ci->values[0].type != OCONFIG_TYPE_STRING ||
	    ci->values[1].type != OCONFIG_TYPE_STRING) {
		ERROR(DG_CD_PLUGIN " plugin: Endpoint takes a provider and a URL: Endpoint \"aws\" "
		      "\"https://ec2.us-east-1.amazonaws.com/\".");
		return -1;
	}
	if (!dg_provider_find(ci->values[0].value.string, strlen(ci->values[0].value.string))) {
		ERROR(DG_CD_PLUGIN " plugin: Endpoint \"%s\": no such provider: use aws, gcp, oci or openstack.",
		      ci->values[0].value.string);
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
static int dg_cd_config_environment(oconfig_item_t *ci)
{
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

static int dg_cd_init(void);
static int dg_cd_read(user_data_t *ud);
static int dg_cd_write(const data_set_t *ds, const value_list_t *vl, user_data_t *ud);
static int dg_cd_missing(const value_list_t *vl, user_data_t *ud);
static int dg_cd_notification(const notification_t *n, user_data_t *ud);
static int dg_cd_shutdown(void);

static int dg_cd_config(oconfig_item_t *ci)
{
	double d;
	int r = 0;

	if (!dg_cd.configured) {
		dg_brakes_policy_default(&dg_cd.policy);
		dg_cd.configured = true;
	}
	for (int i = 0; i < ci->children_num && r == 0; i++) {
		oconfig_item_t *c = &ci->children[i];
		if (!strcasecmp(c->key, "DryRun"))
			r = dg_cd_get_bool(c, "", &dg_cd.policy.dry_run);
		else if (!strcasecmp(c->key, "CheckAtStart"))
			r = dg_cd_get_bool(c, "", &dg_cd.check_at_start);
		else if (!strcasecmp(c->key, "Cooldown"))
			r = dg_cd_get_number(c, "", 0, 1e9, &dg_cd.policy.cooldown);
		else if (!strcasecmp(c->key, "MaxActions")) {
			r = dg_cd_get_number(c, "", 0, 1e6, &d);
			dg_cd.policy.max_actions = (unsigned)d;
		} else if (!strcasecmp(c->key, "ActionWindow"))
			r = dg_cd_get_number(c, "", 1, 1e9, &dg_cd.policy.window);
		else if (!strcasecmp(c->key, "MaxUnhealthyPercent"))
			r = dg_cd_get_number(c, "", 0, 100, &dg_cd.policy.storm_percent);
		else if (!strcasecmp(c->key, "MinTargetsForStorm")) {
			r = dg_cd_get_number(c, "", 1, 1e9, &d);
			dg_cd.policy.storm_min_targets = (unsigned)d;
		} else if (!strcasecmp(c->key, "AuditLog"))
			r = dg_cd_get_string(c, "", &dg_cd.audit_path);
		else if (!strcasecmp(c->key, "StateFile"))
			r = dg_cd_get_string(c, "", &dg_cd.state_path);
		else if (!strcasecmp(c->key, "CACert"))
			r = dg_cd_get_string(c, "", &dg_cd.cacert);
		else if (!strcasecmp(c->key, "LibvirtURI"))
			r = dg_cd_get_string(c, "", &dg_cd.libvirt_uri);
		else if (!strcasecmp(c->key, "Endpoint"))
			r = dg_cd_config_endpoint(c);
		else if (!strcasecmp(c->key, "Environment"))
			r = dg_cd_config_environment(c);
		else if (!strcasecmp(c->key, "RequestTimeout"))
			r = dg_cd_get_number(c, "", 0.1, 3600, &dg_cd.request_timeout);
		else if (!strcasecmp(c->key, "Retries")) {
			r = dg_cd_get_number(c, "", 0, 10, &d);
			dg_cd.retries = (int)d;
		} else if (!strcasecmp(c->key, "ShutdownTimeout"))
			r = dg_cd_get_number(c, "", 0, 600, &dg_cd.shutdown_timeout);
		else if (!strcasecmp(c->key, "QueueSize")) {
			r = dg_cd_get_number(c, "", 1, 1e7, &d);
			dg_cd.queue_size = (unsigned)d;
		} else if (!strcasecmp(c->key, "Target"))
			r = dg_cd_config_target(c);
		else {
			ERROR(DG_CD_PLUGIN " plugin: unknown option \"%s\": see collectd-diagint(5) for the options of "
			      "<Plugin diagint>.", c->key);
			r = -1;
		}
	}
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

/* ---- detection (collectd's threads: memory only, under dg_cd.lock) ----------------------------------------- */

static void dg_cd_enqueue_locked(struct dg_cd_target *t)
{
	static bool complained;

	if (t->queued || t->decided)
		return;
	if (dg_cd.q_len == dg_cd.queue_size) {
		dg_cd.counters[DG_CD_DROPPED]++;
		if (!complained) {
			complained = true;
			WARNING(DG_CD_PLUGIN " plugin: the decision queue is full (QueueSize %u): %s waits for the next "
				"interval; raise QueueSize if this repeats.", dg_cd.queue_size, t->name);
		}
		return;
	}
	dg_cd.queue[(dg_cd.q_head + dg_cd.q_len++) % dg_cd.queue_size] = t;
	t->queued = true;
	pthread_cond_signal(&dg_cd.cond);
}

/* Tell the brakes whether t looks unhealthy now, only when that changed (their lookup is linear). */
static void dg_cd_mark_locked(struct dg_cd_target *t)
{
	bool want = t->suspect || t->quiet;

	if (want != t->marked) {
		t->marked = want;
		dg_brakes_set_suspect(dg_cd.brakes, t->interrupt, want);
	}
}

/* One more sign that t hangs. The first starts an episode and marks the target a suspect for the storm brake;
 * enough of them (Hits) queue it for a decision. */
static void dg_cd_hit_locked(struct dg_cd_target *t, unsigned source, const char *evidence)
{
	double now = dg_cd_now();

	if (!t->suspect) {
		char since[32];
		t->suspect = true;
		t->source = source;
		t->since = now;
		t->hits = 0;
		t->decided = false;
		t->retry_at = 0;
		t->last_verdict = -1;
		dg_cd_iso(now, since, sizeof(since));
		free(t->evidence);
		if (asprintf(&t->evidence, "%s; detected at %s", evidence, since) < 0)
			t->evidence = NULL;
		dg_cd.unhealthy++;
		dg_cd.last_detect = now;
		dg_cd_mark_locked(t);
	} else if (t->source != source) {
		return; /* another detection already counts this episode */
	}
	t->hits++;
	if (t->hits >= t->hits_needed)
		dg_cd_enqueue_locked(t);
}

static void dg_cd_recover_locked(struct dg_cd_target *t, unsigned source)
{
	if (!t->suspect || t->source != source)
		return;
	t->suspect = false;
	t->hits = 0;
	t->retry_at = 0;
	dg_cd.unhealthy--;
	dg_cd_mark_locked(t);
	if (t->decided || t->last_verdict >= 0)
		INFO(DG_CD_PLUGIN " plugin: %s (%s) looks alive again.", t->name, t->host);
}

/* A silence counts only when nothing at all came from the host meanwhile: one stopped plugin on a live host
 * is not a hang. */
static bool dg_cd_host_silent_locked(const struct dg_cd_target *t, double now)
{
	double iv = t->interval > 0 ? t->interval : CDTIME_T_TO_DOUBLE(plugin_get_interval());

	return t->last_seen == 0 || now - t->last_seen >= iv;
}

static void dg_cd_ping_value_locked(struct dg_cd_target *t, const value_list_t *vl)
{
	double v = vl->values[0].gauge;
	char ev[256];
	bool bad;

	if (!strcmp(vl->type, "ping")) {
		t->last_latency = v;
		return;
	}
	if (strcmp(vl->type, "ping_droprate") != 0)
		return;
	/* One verdict per ping round (the drop rate comes once per interval), so Hits counts intervals. */
	bad = isnan(v) || v > t->ping_max_droprate ||
	      (t->ping_max_latency > 0 && (isnan(t->last_latency) || t->last_latency > t->ping_max_latency));
	if (!bad) {
		dg_cd_recover_locked(t, DG_CD_DETECT_PING);
		return;
	}
	snprintf(ev, sizeof(ev), "ping %s from %s: drop rate %.2f (limit %.2f), latency %.1f ms (limit %s%.0f)",
		 t->ping_host, vl->host, v, t->ping_max_droprate, t->last_latency,
		 t->ping_max_latency > 0 ? "" : "none, ", t->ping_max_latency);
	dg_cd_hit_locked(t, DG_CD_DETECT_PING, ev);
}

static int dg_cd_write(const data_set_t *ds, const value_list_t *vl, user_data_t *ud)
{
	struct dg_cd_target *t;
	double now = dg_cd_now();

	(void)ds;
	(void)ud;
	pthread_mutex_lock(&dg_cd.lock);
	for (t = dg_cd_by_host(vl->host); t && !strcmp(t->host, vl->host); t = t->next_host) {
		t->last_seen = now;
		t->interval = CDTIME_T_TO_DOUBLE(vl->interval);
		if (t->quiet) {
			t->quiet = false;
			dg_cd_mark_locked(t);
		}
		dg_cd_recover_locked(t, DG_CD_DETECT_MISSING);
	}
	if ((dg_cd.detect_all & DG_CD_DETECT_PING) && !strcmp(vl->plugin, "ping") && vl->values_len == 1)
		for (t = dg_cd_by_ping(vl->type_instance); t && !strcmp(t->ping_host, vl->type_instance);
		     t = t->next_ping)
			dg_cd_ping_value_locked(t, vl);
	pthread_mutex_unlock(&dg_cd.lock);
	return 0;
}

static void dg_cd_missing_seen(const char *host, const char *what, double now)
{
	struct dg_cd_target *t;
	char ev[768], last[32];

	for (t = dg_cd_by_host(host); t && !strcmp(t->host, host); t = t->next_host) {
		if (!(t->detect & DG_CD_DETECT_MISSING) || t->suspect || !dg_cd_host_silent_locked(t, now))
			continue;
		if (t->last_seen > 0) {
			dg_cd_iso(t->last_seen, last, sizeof(last));
			dg_cd_fmt(ev, sizeof(ev), "%s; last value from %s at %s", what, host, last);
		} else {
			dg_cd_fmt(ev, sizeof(ev), "%s; no value from %s since this plugin started", what, host);
		}
		dg_cd_hit_locked(t, DG_CD_DETECT_MISSING, ev);
	}
}

/* Before a decision: which watched hosts have gone quiet (see DG_CD_QUIET). */
static void dg_cd_scan_quiet_locked(double now)
{
	for (size_t i = 0; i < dg_cd.n_targets; i++) {
		struct dg_cd_target *t = &dg_cd.targets[i];
		double iv = t->interval > 0 ? t->interval : CDTIME_T_TO_DOUBLE(plugin_get_interval());
		bool quiet = (t->detect & DG_CD_DETECT_MISSING) && t->last_seen > 0 && now - t->last_seen > DG_CD_QUIET * iv;

		if (quiet != t->quiet) {
			t->quiet = quiet;
			dg_cd_mark_locked(t);
		}
	}
}

static int dg_cd_missing(const value_list_t *vl, user_data_t *ud)
{
	char ev[256];
	double now = dg_cd_now();

	(void)ud;
	dg_cd_fmt(ev, sizeof(ev), "values stopped: %s/%s%s%s/%s%s%s last updated %.1f s ago", vl->host, vl->plugin,
		 vl->plugin_instance[0] ? "-" : "", vl->plugin_instance, vl->type, vl->type_instance[0] ? "-" : "",
		 vl->type_instance, now - CDTIME_T_TO_DOUBLE(vl->time));
	pthread_mutex_lock(&dg_cd.lock);
	dg_cd_missing_seen(vl->host, ev, now);
	pthread_mutex_unlock(&dg_cd.lock);
	return 0;
}

static int dg_cd_notification(const notification_t *n, user_data_t *ud)
{
	struct dg_cd_target *t;
	double now = dg_cd_now();
	char ev[512];

	(void)ud;
	if (!strcmp(n->plugin, DG_CD_PLUGIN))
		return 0; /* our own */
	dg_cd_fmt(ev, sizeof(ev), "notification %s host=%s plugin=%s type=%s: %s",
		 n->severity == NOTIF_FAILURE ? "FAILURE" : n->severity == NOTIF_WARNING ? "WARNING" : "OKAY", n->host,
		 n->plugin, n->type, n->message);
	pthread_mutex_lock(&dg_cd.lock);
	/* The threshold plugin's missing-value FAILURE comes once per silence; its OKAY follows the first value
	 * again, which the write callback has already seen. */
	if (n->severity == NOTIF_FAILURE && strstr(n->message, "has not been updated for"))
		dg_cd_missing_seen(n->host, ev, now);
	for (t = dg_cd_by_host(n->host); t && !strcmp(t->host, n->host); t = t->next_host) {
		if (!(t->detect & DG_CD_DETECT_NOTIF) || (t->notif_plugin && strcmp(t->notif_plugin, n->plugin)) ||
		    (t->notif_type && strcmp(t->notif_type, n->type)))
			continue;
		if (n->severity == NOTIF_OKAY)
			dg_cd_recover_locked(t, DG_CD_DETECT_NOTIF); /* an OKAY without a FAILURE before: nothing */
		else if (n->severity == NOTIF_FAILURE || t->notif_severity == NOTIF_WARNING)
			dg_cd_hit_locked(t, DG_CD_DETECT_NOTIF, ev);
	}
	pthread_mutex_unlock(&dg_cd.lock);
	return 0;
}

/* ---- feedback into collectd -------------------------------------------------------------------------------- */

static void dg_cd_notify(int severity, const struct dg_cd_target *t, const char *type_instance, const char *fmt,
			 ...) __attribute__((format(printf, 4, 5)));
static void dg_cd_notify(int severity, const struct dg_cd_target *t, const char *type_instance, const char *fmt,
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

static void dg_cd_dispatch(const char *type, const char *type_instance, value_t v)
{
	value_list_t vl = VALUE_LIST_INIT;

	vl.values = &v;
	vl.values_len = 1;
	sstrncpy(vl.plugin, DG_CD_PLUGIN, sizeof(vl.plugin));
	sstrncpy(vl.type, type, sizeof(vl.type));
	sstrncpy(vl.type_instance, type_instance, sizeof(vl.type_instance));
	plugin_dispatch_values(&vl);
}

/* Once per interval: silence that lasts counts as further hits (Hits for Detect "missing" counts intervals),
 * refusals whose brake has passed are asked again, and the counters go out as values. */
static int dg_cd_read(user_data_t *ud)
{
	uint64_t c[DG_CD_NCOUNTERS];
	double now = dg_cd_now();
	unsigned unhealthy;
	size_t qlen;

	(void)ud;
	pthread_mutex_lock(&dg_cd.lock);
	for (size_t i = 0; i < dg_cd.n_targets; i++) {
		struct dg_cd_target *t = &dg_cd.targets[i];
		if (!t->suspect || t->decided || t->queued)
			continue;
		if (t->retry_at > 0) {
			if (now >= t->retry_at)
				dg_cd_enqueue_locked(t);
		} else {
			if (t->source == DG_CD_DETECT_MISSING) {
				double iv = t->interval > 0 ? t->interval : CDTIME_T_TO_DOUBLE(plugin_get_interval());
				unsigned hits = 1 + (unsigned)((now - t->since) / iv);
				if (hits > t->hits)
					t->hits = hits;
			}
			/* Also picks up a target a full queue turned away. */
			if (t->hits >= t->hits_needed)
				dg_cd_enqueue_locked(t);
		}
	}
	/* A storm is over when the share of unhealthy targets is back under the limit: the next one notifies. */
	if (dg_cd.storm_notified && 100.0 * dg_cd.unhealthy <= dg_cd.policy.storm_percent * (double)dg_cd.n_targets)
		dg_cd.storm_notified = false;
	memcpy(c, dg_cd.counters, sizeof(c));
	unhealthy = dg_cd.unhealthy;
	qlen = dg_cd.q_len;
	pthread_mutex_unlock(&dg_cd.lock);

	for (int i = 0; i < DG_CD_NCOUNTERS; i++)
		dg_cd_dispatch("derive", dg_cd_counter_names[i], (value_t){ .derive = (derive_t)c[i] });
	dg_cd_dispatch("queue_length", "", (value_t){ .gauge = (gauge_t)qlen });
	dg_cd_dispatch("count", "unhealthy", (value_t){ .gauge = (gauge_t)unhealthy });
	return 0;
}

/* ---- the worker: brakes, send, audit (disk and network, never in collectd's threads) ------------------------ */

static void dg_cd_audit(const char *action, const char *target, const char *reason, const char *evidence,
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

static void *dg_cd_worker(void *arg)
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
	if (dg_cd_maps_build() < 0 || !(dg_cd.queue = calloc(dg_cd.queue_size, sizeof(*dg_cd.queue)))) {
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
	double until;
	int r = 0;

	if (!dg_cd.worker_running)
		return 0;
	pthread_mutex_lock(&dg_cd.lock);
	dg_cd.stop = true;
	dg_cd.cancel = 1;
	if (dg_cd.q_len)
		INFO(DG_CD_PLUGIN " plugin: stopping with %zu targets waiting for a decision; nothing was sent for them.",
		     dg_cd.q_len);
	pthread_cond_broadcast(&dg_cd.cond);
	pthread_mutex_unlock(&dg_cd.lock);

	until = dg_cd_now() + dg_cd.shutdown_timeout;
	ts.tv_sec = (time_t)until;
	ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
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
				    NULL, 0, NULL);
		return 0;
	}
	dg_cd.worker_running = false;
	dg_sender_free(dg_cd.sender);
	dg_lv_free(dg_cd.lv);
	dg_brakes_free(dg_cd.brakes);
	dg_audit_log_free(dg_cd.audit);
	for (size_t i = 0; i < dg_cd.n_targets; i++)
		dg_cd_target_clear(&dg_cd.targets[i]);
	free(dg_cd.targets);
	free(dg_cd.queue);
	free(dg_cd.by_host.bucket);
	free(dg_cd.by_ping.bucket);
	for (unsigned i = 0; i < dg_cd.n_endpoints; i++) {
		free((char *)dg_cd.endpoints[i].provider);
		free((char *)dg_cd.endpoints[i].url);
	}
	free(dg_cd.audit_path);
	free(dg_cd.state_path);
	free(dg_cd.cacert);
	free(dg_cd.libvirt_uri);
	return 0;
}

void module_register(void)
{
	plugin_register_complex_config(DG_CD_PLUGIN, dg_cd_config);
}
