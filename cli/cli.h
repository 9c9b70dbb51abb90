/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "diagint/error.h"
#include "diagint/inject.h"

struct dg_cli_command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
	void (*help)(void);
};

extern const char *dg_cli_prog;

/* Print "diagint: MESSAGE" on stderr and return the status to exit with. */
int dg_cli_fail(const struct dg_error *err);
int dg_cli_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dg_cli_log(void *userdata, enum dg_log_level level, const char *message);
struct dg_send_opts;
struct dg_target;
/* --endpoint [PROVIDER=]URL (cli/endpoints.c): record one option; then, with the targets parsed, check every URL is
 * https and give a bare URL to the one cloud the targets name. Both return 0 or the usage status. */
int dg_cli_endpoint_option(const char *cmd, struct dg_send_opts *o, const char *arg, const char **bare);
int dg_cli_endpoints_finish(const char *cmd, struct dg_send_opts *o, const char *bare, const struct dg_target *t,
			    size_t n);
void dg_cli_endpoints_free(struct dg_send_opts *o);

/* s with control characters as \xNN, for a terminal (buf of len bytes; cut to fit). NULL stays NULL. */
const char *dg_cli_termsafe(const char *s, char *buf, size_t len);

/* getopt's '?' for any command: names the option (short or long) and points at --help. */
int dg_cli_bad_option(const char *command, int opt, char **argv, int optind);
void dg_cli_print_exit_statuses(void);
/* Parse a positive number of seconds ("10", "2.5"); false when it is not one. */
bool dg_cli_parse_seconds(const char *text, double max, double *ret);

/* Acting for another user under sudo (cli/delegation.c): what the operator chose beyond the target. */
bool dg_cli_delegated(void);
/* Whether a shared object whose name contains lib is loaded here (the cwrap test wrappers). */
bool dg_cli_loaded(const char *lib);
/* At start: refuses --audit-log/$DIAGINT_AUDIT_LOG and the key under sudo; collects redirecting variables. */
int dg_cli_delegation_start(struct dg_error *err);
/* Record an operator-chosen option (kind: dest, uri, config, endpoint, cacert); only under sudo. */
void dg_cli_override(const char *kind, const char *value);
size_t dg_cli_overrides_count(void);
void dg_cli_overrides_format(char *buf, size_t len, bool with_values);
/* For commands that ask no PAM: under sudo with any override, DG_DENIED naming them; else 0. */
int dg_cli_refuse_overrides(const char *cmd, struct dg_error *err);

int dg_cmd_inject(int argc, char **argv);
void dg_cmd_inject_help(void);
int dg_cmd_capture(int argc, char **argv);
void dg_cmd_capture_help(void);
int dg_cmd_dumps(int argc, char **argv);
void dg_cmd_dumps_help(void);
/* `diagint dumps show` (cli/cmd_dumps_show.c): the last DG_SHOW_TAIL kernel messages unless full_log. */
#define DG_SHOW_TAIL 20
struct dg_dumpdir;
int dg_cmd_dumps_show(struct dg_dumpdir *dir, const char *name, bool json, bool full_log);
/* `diagint dumps shrink` (cli/cmd_dumps_shrink.c); compression NULL: zlib, dump_level 0: 31. */
int dg_cmd_dumps_shrink(struct dg_dumpdir *dir, const char *name, const char *compression, int dump_level, bool json);
int dg_cmd_audit(int argc, char **argv);
void dg_cmd_audit_help(void);
int dg_cmd_send(int argc, char **argv);
void dg_cmd_send_help(void);
int dg_cmd_watch(int argc, char **argv);
void dg_cmd_watch_help(void);
int dg_cmd_doctor(int argc, char **argv);
void dg_cmd_doctor_help(void);
