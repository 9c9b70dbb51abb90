/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Authorization (PAM service "diagint") and the audit records around every interrupting command. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <security/pam_misc.h>

#include "authz.h"
#include "cli.h"

#define PAM_SERVICE_NAME "diagint"

bool dg_authz_take_audit_log(int *argc, char **argv)
{
	int out = 1;

	for (int i = 1; i < *argc; i++) {
		const char *value = NULL;

		if (!strcmp(argv[i], "--")) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if (!strcmp(argv[i], "--audit-log")) {
			if (i + 1 >= *argc || !argv[i + 1][0]) {
				fprintf(stderr, "%s: --audit-log needs a FILE (e.g. --audit-log /tmp/audit.jsonl)\n",
					dg_cli_prog);
				return false;
			}
			value = argv[++i];
		} else if (!strncmp(argv[i], "--audit-log=", 12)) {
			value = argv[i] + 12;
			if (!*value) {
				fprintf(stderr, "%s: --audit-log= needs a FILE\n", dg_cli_prog);
				return false;
			}
		}
		if (value)
			setenv(DG_AUDIT_ENV_PATH, value, 1);
		else
			argv[out++] = argv[i];
	}
	argv[out] = NULL;
	*argc = out;
	return true;
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Linux-PAM falls back to service "other" when ours is missing, and on Debian that is a password prompt for
 * whoever runs the command: we decide that case ourselves. pam_wrapper (tests) keeps services elsewhere -- but its
 * variables count only when pam_wrapper itself is loaded into this process (then it, not the system's PAM, runs
 * the service anyway): a variable alone must never change a production decision. */
static bool pam_service_installed(void)
{
	const char *wrapped = getenv("PAM_WRAPPER"), *dir = getenv("PAM_WRAPPER_SERVICE_DIR");
	char path[PATH_MAX];

	if (wrapped && !strcmp(wrapped, "1") && dir && *dir && dg_cli_loaded("libpam_wrapper")) {
		snprintf(path, sizeof(path), "%s/%s", dir, PAM_SERVICE_NAME);
		return exists(path);
	}
	return exists("/etc/pam.d/" PAM_SERVICE_NAME) || exists("/usr/lib/pam.d/" PAM_SERVICE_NAME);
}

static void user_name(uid_t uid, char *out, size_t len)
{
	struct passwd *pw = getpwuid(uid);

	if (pw)
		snprintf(out, len, "%s", pw->pw_name);
	else
		snprintf(out, len, "#%u", (unsigned)uid);
}

/* The person behind the command, and whether it is root acting directly. */
static bool who(struct dg_audit_actor *a)
{
	const char *sudo = getenv("SUDO_USER");
	uid_t uid = getuid();

	if (uid == 0 && sudo && *sudo && strcmp(sudo, "root")) {
		snprintf(a->user, sizeof(a->user), "%s", sudo);
		snprintf(a->ruser, sizeof(a->ruser), "%s", sudo);
		return false;
	}
	if (uid == 0 && a->loginuid > 0) {
		user_name((uid_t)a->loginuid, a->user, sizeof(a->user));
		snprintf(a->ruser, sizeof(a->ruser), "%s", a->user);
		return false;
	}
	user_name(uid, a->user, sizeof(a->user));
	return uid == 0;
}

/* What the modules said (pam_diagint's reason for a denial): kept for the one-line error and the record rather
 * than printed on its own line. */
static char pam_said[600];

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	(void)data;
	for (int i = 0; i < n; i++)
		if (msg[i]->msg_style != PAM_ERROR_MSG && msg[i]->msg_style != PAM_TEXT_INFO)
			/* A question (a password, a one-time code): only a person at a terminal can answer it. */
			return isatty(STDIN_FILENO) ? misc_conv(n, msg, resp, data) : PAM_CONV_ERR;
	for (int i = 0; i < n; i++) {
		size_t used = strlen(pam_said);

		snprintf(pam_said + used, sizeof(pam_said) - used, "%s%s", used ? "; " : "", msg[i]->msg);
	}
	*resp = NULL;
	return PAM_SUCCESS;
}

static int put(pam_handle_t *pamh, const char *name, const char *value)
{
	char buf[PATH_MAX + 64];

	snprintf(buf, sizeof(buf), "%s=%s", name, value);
	return pam_putenv(pamh, buf);
}

/* Run the PAM transaction up to an open session. Returns the failing step's name and code, NULL when allowed. */
static const char *run_pam(struct dg_authz *az, int *ret_code)
{
	static struct pam_conv pconv = { conv, NULL };
	const struct dg_audit_actor *a = &az->ev.actor;
	int r;

	pam_said[0] = '\0';
	r = pam_start(PAM_SERVICE_NAME, a->user, &pconv, &az->pamh);
	if (r != PAM_SUCCESS) {
		*ret_code = r;
		az->pamh = NULL;
		return "start";
	}
	if (a->ruser[0])
		pam_set_item(az->pamh, PAM_RUSER, a->ruser);
	if (a->tty[0])
		pam_set_item(az->pamh, PAM_TTY, a->tty);
	if (a->rhost[0])
		pam_set_item(az->pamh, PAM_RHOST, a->rhost);
	put(az->pamh, "DIAGINT_TARGET", az->target);
	put(az->pamh, "DIAGINT_ACTION", az->action);
	put(az->pamh, DG_AUDIT_ENV_PATH, dg_audit_log_path(az->log));
	/* What the operator chose beyond the target (a destination, a URI, endpoints, environment): pam_diagint
	 * denies it unless the site granted it with overrides= (empty when acting for oneself). */
	if (dg_cli_overrides_count()) {
		char kinds[256];

		char detail[700];

		dg_cli_overrides_format(kinds, sizeof(kinds), false);
		put(az->pamh, "DIAGINT_OVERRIDES", kinds);
		dg_cli_overrides_format(detail, sizeof(detail), true);
		put(az->pamh, "DIAGINT_OVERRIDES_DETAIL", detail);
	}
	if ((r = pam_authenticate(az->pamh, 0)) != PAM_SUCCESS) {
		*ret_code = r;
		return "auth";
	}
	if ((r = pam_acct_mgmt(az->pamh, 0)) != PAM_SUCCESS) {
		*ret_code = r;
		return "account";
	}
	if ((r = pam_open_session(az->pamh, 0)) != PAM_SUCCESS) {
		*ret_code = r;
		return "session";
	}
	az->session_open = true;
	return NULL;
}

static void pam_finish(struct dg_authz *az, int status)
{
	if (!az->pamh)
		return;
	if (az->session_open)
		pam_close_session(az->pamh, 0);
	pam_end(az->pamh, status);
	az->pamh = NULL;
	az->session_open = false;
}

static int open_log(struct dg_authz *az, struct dg_error *err)
{
	unsigned char key[1024];
	size_t keylen = 0;
	int r;

	r = dg_audit_key_load(NULL, key, sizeof(key), &keylen, err);
	if (r == 0)
		r = dg_audit_log_open(dg_audit_path(NULL), key, keylen, 0, &az->log, err);
	explicit_bzero(key, sizeof(key));
	return r;
}

int dg_authz_begin(struct dg_authz *az, const char *action, const char *target, bool dry_run, struct dg_error *err)
{
	struct dg_audit_event dec;
	const char *step = NULL;
	bool direct_root, allowed;
	int code = PAM_SUCCESS, r;

	memset(az, 0, sizeof(*az));
	az->dry_run = dry_run;
	snprintf(az->action, sizeof(az->action), "%s", action);
	snprintf(az->target, sizeof(az->target), "%s", target);
	dg_audit_event_init(&az->ev, "cli", action);
	snprintf(az->ev.target, sizeof(az->ev.target), "%s", target);
	direct_root = who(&az->ev.actor);

	/* An interrupt that cannot be recorded does not happen. */
	r = open_log(az, err);
	if (r < 0)
		return r;

	dec = az->ev;
	snprintf(dec.action, sizeof(dec.action), "authorize");
	snprintf(dec.evidence, sizeof(dec.evidence), "requested action: %s%s", action, dry_run ? " (dry run)" : "");
	if (dg_cli_overrides_count()) {
		char list[700];

		dg_cli_overrides_format(list, sizeof(list), true);
		snprintf(dec.evidence, sizeof(dec.evidence), "requested action: %s%s; chosen by %s under sudo: %s", action,
			 dry_run ? " (dry run)" : "", dec.actor.user, list);
		snprintf(az->ev.evidence, sizeof(az->ev.evidence), "chosen by %s under sudo: %s", dec.actor.user, list);
	}
	if (pam_service_installed()) {
		snprintf(dec.actor.service, sizeof(dec.actor.service), PAM_SERVICE_NAME);
		snprintf(az->ev.actor.service, sizeof(az->ev.actor.service), PAM_SERVICE_NAME);
		step = run_pam(az, &code);
		allowed = step == NULL;
		if (allowed)
			snprintf(dec.reason, sizeof(dec.reason), "PAM service " PAM_SERVICE_NAME " allowed %s",
				 dec.actor.user);
		else
			snprintf(dec.reason, sizeof(dec.reason), "PAM service " PAM_SERVICE_NAME " denied %s at its %s "
				 "step: %s%s%.300s%s", dec.actor.user, step,
				 az->pamh ? pam_strerror(az->pamh, code) : "cannot start", pam_said[0] ? " (" : "",
				 pam_said, pam_said[0] ? ")" : "");
	} else if (direct_root) {
		allowed = true;
		snprintf(dec.reason, sizeof(dec.reason), "no PAM service " PAM_SERVICE_NAME " is installed; root acting "
			 "directly (not through sudo or su) is allowed");
	} else {
		allowed = false;
		snprintf(dec.reason, sizeof(dec.reason), "no PAM service " PAM_SERVICE_NAME " is installed to decide "
			 "who may interrupt: install /etc/pam.d/" PAM_SERVICE_NAME " (see pam_diagint(8)), or run as root");
	}
	dec.result = allowed ? DG_AUDIT_OK : DG_AUDIT_DENIED;
	if (!allowed)
		snprintf(dec.error, sizeof(dec.error), "%s", dec.reason);

	r = dg_audit_append(az->log, &dec, NULL, err);
	if (r < 0) {
		pam_finish(az, PAM_ABORT);
		dg_audit_log_free(az->log);
		az->log = NULL;
		return r;
	}
	if (!allowed) {
		pam_finish(az, code);
		dg_audit_log_free(az->log);
		az->log = NULL;
		return dg_error_set(err, DG_DENIED, "%s may not %s %s: %s", dec.actor.user, action, target, dec.reason);
	}
	/* The log is let go until the outcome: one send to 10,000 targets must not hold 10,000 pairs of descriptors
	 * (the default limit is 1024). The decision is on disk; the outcome reopens it. */
	dg_audit_log_free(az->log);
	az->log = NULL;
	az->pending = true;
	return 0;
}

void dg_authz_end(struct dg_authz *az, int r, const struct dg_error *err, const char *dump_path,
		  const char *dump_sha256, int attempts)
{
	struct dg_error e = { 0 };

	if (!az->pending || az->done)
		return;
	az->done = true;
	if (open_log(az, &e) < 0) {
		fprintf(stderr, "%s: warning: the outcome of %s %s was not recorded: %s\n", dg_cli_prog, az->action,
			az->target, e.message);
		pam_finish(az, PAM_SUCCESS);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &az->ev.time);
	az->ev.result = az->dry_run && r == 0 ? DG_AUDIT_DRY_RUN : dg_audit_result_from_status(r);
	if (r < 0 && err) {
		snprintf(az->ev.error, sizeof(az->ev.error), "%s", err->message);
		snprintf(az->ev.request_id, sizeof(az->ev.request_id), "%s", err->request_id);
	}
	if (dump_path)
		snprintf(az->ev.dump_path, sizeof(az->ev.dump_path), "%s", dump_path);
	if (dump_sha256)
		snprintf(az->ev.dump_sha256, sizeof(az->ev.dump_sha256), "%s", dump_sha256);
	az->ev.attempts = attempts;
	/* The action has happened: a record we cannot write is reported, it cannot undo anything. */
	if (dg_audit_append(az->log, &az->ev, NULL, &e) < 0)
		fprintf(stderr, "%s: warning: the outcome of %s %s was not recorded: %s\n", dg_cli_prog, az->action,
			az->target, e.message);
	pam_finish(az, PAM_SUCCESS);
	dg_audit_log_free(az->log);
	az->log = NULL;
}

void dg_authz_end_dump(struct dg_authz *az, int r, const struct dg_error *err, const struct dg_dump_record *rec)
{
	char before[sizeof(az->ev.evidence)];

	/* What was noted before the action (the operator's overrides, the fleet's answer) stays after it. */
	snprintf(before, sizeof(before), "%s", az->ev.evidence);
	if (rec && az->dry_run) {
		snprintf(az->ev.evidence, sizeof(az->ev.evidence), "dry run: nothing sent or written%s%.600s%s%.300s",
			 rec->name[0] ? "; the dump would be " : "", rec->path[0] ? rec->path : rec->name,
			 before[0] ? "; " : "", before);
	} else if (rec) {
		snprintf(az->ev.evidence, sizeof(az->ev.evidence), "nmi %s; panic %s%s%s%s%s%s%.900s",
			 rec->nmi_sent ? "sent" : "not sent", rec->panic_seen ? "seen" : "not seen",
			 rec->panic_event[0] ? " (" : "", rec->panic_event, rec->panic_event[0] ? ")" : "",
			 rec->captured ? "; memory captured" : "", before[0] ? "; " : "", before);
	}
	dg_authz_end(az, r, err, rec && rec->captured && rec->path[0] ? rec->path : NULL,
		     rec && rec->captured ? rec->sha256 : NULL, 1);
}
