/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pam_diagint: who may send a diagnostic interrupt to which target, and the record of who did.
 *
 * The account step authorizes: PAM_USER must be in group=NAME and the target (DIAGINT_TARGET in the PAM
 * environment, the shared grammar: libvirt:web-1, aws:eu-west-1/i-0abc...) must match one of targets=PATTERNS.
 * The session step records who (PAM_USER, PAM_RUSER, PAM_TTY, PAM_RHOST, PAM_SERVICE). Every decision, denials
 * included, is appended to the audit log; a decision that cannot be recorded is a denial. Authentication is
 * the site's business: stack MFA modules in the auth phase. Contract: docs/pam_diagint.8. */
#include <errno.h>
#include <fnmatch.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>

#include "diagint/audit.h"

#define TARGETS_MAX 1024

struct options {
	const char *group;
	char targets[TARGETS_MAX]; /* comma-separated patterns; "" = none given */
	const char *audit_log;
	const char *overrides;     /* what an operator under sudo may choose beyond the target: "uri,dest" or "*" */
	const char *bad;           /* first argument we do not understand */
};

/* overrides= names kinds the CLI hands over (cli/delegation.c); a misspelt kind would grant nothing and hide the
 * typo until a night someone needs it, so it makes the service misconfigured instead. */
static bool overrides_known(const char *list)
{
	static const char *const kinds[] = { "dest", "uri", "config", "endpoint", "cacert", "env", "file", "key-file",
					     "anchors" };

	if (!strcmp(list, "*"))
		return true;
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		bool ok = false;

		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]) && !ok; k++)
			ok = strlen(kinds[k]) == n && !strncmp(kinds[k], p, n);
		if (!ok)
			return false;
		p += n + (p[n] == ',');
	}
	return true;
}

static void parse_options(int argc, const char **argv, struct options *o)
{
	memset(o, 0, sizeof(*o));
	for (int i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "group=", 6) && argv[i][6])
			o->group = argv[i] + 6;
		else if (!strncmp(argv[i], "targets=", 8) && argv[i][8] &&
			 snprintf(o->targets, sizeof(o->targets), "%s", argv[i] + 8) < (int)sizeof(o->targets))
			continue;
		else if (!strncmp(argv[i], "audit_log=", 10) && argv[i][10] == '/')
			o->audit_log = argv[i] + 10;
		else if (!strncmp(argv[i], "overrides=", 10) && argv[i][10] && overrides_known(argv[i] + 10))
			o->overrides = argv[i] + 10;
		else if (!o->bad)
			o->bad = argv[i];
	}
}

static const char *item(pam_handle_t *pamh, int type)
{
	const void *v = NULL;

	if (pam_get_item(pamh, type, &v) != PAM_SUCCESS || !v)
		return "";
	return v;
}

static const char *env(pam_handle_t *pamh, const char *name)
{
	const char *v = pam_getenv(pamh, name);

	return v ? v : "";
}

/* Append one record. The CLI passes its --audit-log through the PAM environment; an audit_log= argument (the
 * administrator's choice) wins over it. */
static int record(pam_handle_t *pamh, const struct options *o, const char *action, enum dg_audit_result result,
		  const char *reason)
{
	struct dg_audit_event ev;
	struct dg_audit_log *log = NULL;
	struct dg_error err = { 0 };
	unsigned char key[1024];
	size_t keylen = 0;
	const char *path = o->audit_log;
	int r;

	if (!path || !*path)
		path = dg_audit_path(*env(pamh, DG_AUDIT_ENV_PATH) ? env(pamh, DG_AUDIT_ENV_PATH) : NULL);
	dg_audit_event_init(&ev, "pam", action);
	snprintf(ev.actor.user, sizeof(ev.actor.user), "%s", item(pamh, PAM_USER));
	snprintf(ev.actor.ruser, sizeof(ev.actor.ruser), "%s", item(pamh, PAM_RUSER));
	snprintf(ev.actor.tty, sizeof(ev.actor.tty), "%s", item(pamh, PAM_TTY));
	snprintf(ev.actor.rhost, sizeof(ev.actor.rhost), "%s", item(pamh, PAM_RHOST));
	snprintf(ev.actor.service, sizeof(ev.actor.service), "%s", item(pamh, PAM_SERVICE));
	snprintf(ev.target, sizeof(ev.target), "%s", env(pamh, "DIAGINT_TARGET"));
	snprintf(ev.reason, sizeof(ev.reason), "%s", reason);
	if (*env(pamh, "DIAGINT_ACTION"))
		snprintf(ev.evidence, sizeof(ev.evidence), "requested action: %s", env(pamh, "DIAGINT_ACTION"));
	ev.result = result;
	if (result == DG_AUDIT_DENIED)
		snprintf(ev.error, sizeof(ev.error), "%s", reason);

	r = dg_audit_key_load(NULL, key, sizeof(key), &keylen, &err);
	if (r == 0)
		r = dg_audit_log_open(path, key, keylen, 0, &log, &err);
	if (r == 0)
		r = dg_audit_append(log, &ev, NULL, &err);
	dg_audit_log_free(log);
	explicit_bzero(key, sizeof(key));
	if (r < 0)
		pam_syslog(pamh, LOG_ERR, "cannot record the %s decision for %s: %s", action, ev.actor.user, err.message);
	return r;
}

static bool target_allowed(const char *patterns, const char *target, char *matched, size_t len)
{
	char copy[TARGETS_MAX], *save = NULL;

	if (!*patterns) {
		snprintf(matched, len, "*");
		return true; /* no targets= : any target, for members of the group */
	}
	snprintf(copy, sizeof(copy), "%s", patterns);
	for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		/* No FNM_PATHNAME: '*' spans the '/' in aws:REGION/ID as well. */
		if (*p && fnmatch(p, target, 0) == 0) {
			snprintf(matched, len, "%s", p);
			return true;
		}
	}
	return false;
}

/* The first kind in `requested` ("uri,dest,env") that `granted` (the same form, or "*") does not name; NULL when
 * every one is granted. */
static const char *override_not_granted(const char *requested, const char *granted, char *buf, size_t len)
{
	const char *p = requested;

	while (*p) {
		size_t n = strcspn(p, ",");
		const char *g = granted ? granted : "";
		bool ok = !strcmp(g, "*");

		while (!ok && *g) {
			size_t m = strcspn(g, ",");

			ok = m == n && !strncmp(g, p, n);
			g += m + (g[m] == ',');
		}
		if (!ok) {
			snprintf(buf, len, "%.*s", (int)n, p);
			return buf;
		}
		p += n + (p[n] == ',');
	}
	return NULL;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct options o;
	const char *user, *target, *action, *denied_override;
	char reason[600], matched[256], kind[32];
	int verdict = PAM_PERM_DENIED;

	parse_options(argc, argv, &o);
	user = item(pamh, PAM_USER);
	target = env(pamh, "DIAGINT_TARGET");
	action = *env(pamh, "DIAGINT_ACTION") ? env(pamh, "DIAGINT_ACTION") : "interrupt";

	if (o.bad) {
		snprintf(reason, sizeof(reason), "pam_diagint is misconfigured: unknown or empty argument '%s' (allowed: "
			 "group=NAME targets=PATTERN[,PATTERN...] audit_log=/PATH overrides=KIND[,KIND...], KIND one of dest uri "
			 "config endpoint cacert env file key-file anchors, or overrides=*)", o.bad);
		verdict = PAM_SERVICE_ERR;
	} else if (!o.group) {
		snprintf(reason, sizeof(reason), "pam_diagint is misconfigured: no group=NAME says who may send");
		verdict = PAM_SERVICE_ERR;
	} else if (!getgrnam(o.group)) {
		snprintf(reason, sizeof(reason), "pam_diagint is misconfigured: group '%s' does not exist: create it "
			 "(addgroup --system %s) or name another in group=", o.group, o.group);
		verdict = PAM_SERVICE_ERR;
	} else if (!*user) {
		snprintf(reason, sizeof(reason), "no user");
	} else if (!*target) {
		snprintf(reason, sizeof(reason), "%s: no target given (DIAGINT_TARGET is not set)", action);
	} else if (pam_modutil_user_in_group_nam_nam(pamh, user, o.group) != 1) {
		snprintf(reason, sizeof(reason), "%s %s: user %s is not in group %s", action, target, user, o.group);
	} else if (!target_allowed(o.targets, target, matched, sizeof(matched))) {
		snprintf(reason, sizeof(reason), "%s %s: the target matches none of %.300s", action, target,
			 o.targets);
	} else if ((denied_override = override_not_granted(env(pamh, "DIAGINT_OVERRIDES"), o.overrides, kind,
							   sizeof(kind)))) {
		snprintf(reason, sizeof(reason), "%s %s: user %s may not choose the %s under sudo (%.300s): root's "
			 "configuration does; a site allows it with overrides=%s in this PAM service", action, target,
			 user, denied_override, env(pamh, "DIAGINT_OVERRIDES_DETAIL"), denied_override);
	} else {
		snprintf(reason, sizeof(reason), "%s %s: user %s is in group %s; the target matches %s", action, target,
			 user, o.group, matched);
		verdict = PAM_SUCCESS;
	}

	if (record(pamh, &o, "authorize", verdict == PAM_SUCCESS ? DG_AUDIT_OK : DG_AUDIT_DENIED, reason) < 0)
		return verdict == PAM_SUCCESS ? PAM_PERM_DENIED : verdict;
	if (verdict != PAM_SUCCESS) {
		pam_syslog(pamh, verdict == PAM_SERVICE_ERR ? LOG_ERR : LOG_NOTICE, "denied: %s", reason);
		/* The person refused sees why (the group, the target), not only PAM's "Permission denied". */
		if (!(flags & PAM_SILENT))
			pam_error(pamh, "denied: %s", reason);
	}
	return verdict;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct options o;
	char reason[600];

	(void)flags;
	parse_options(argc, argv, &o);
	if (o.bad) {
		snprintf(reason, sizeof(reason), "pam_diagint is misconfigured: unknown or empty argument '%s'", o.bad);
		record(pamh, &o, "session", DG_AUDIT_DENIED, reason);
		pam_syslog(pamh, LOG_ERR, "%s", reason);
		return PAM_SESSION_ERR;
	}
	snprintf(reason, sizeof(reason), "session opened for %s %s by %s%s%s",
		 *env(pamh, "DIAGINT_ACTION") ? env(pamh, "DIAGINT_ACTION") : "an interrupt", env(pamh, "DIAGINT_TARGET"),
		 item(pamh, PAM_USER), *item(pamh, PAM_RUSER) ? " as requested by " : "", item(pamh, PAM_RUSER));
	return record(pamh, &o, "session", DG_AUDIT_OK, reason) < 0 ? PAM_SESSION_ERR : PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS; /* the outcome record written by the caller closes the story */
}

/* Authentication belongs to the modules a site stacks above this one (MFA); this one only authorizes. */
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_IGNORE;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_IGNORE;
}
