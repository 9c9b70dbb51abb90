/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "dg_config.h"
#include "diagint/config.h"
#include "base/ini.h"
#include "diagint/fleet.h"
#include "diagint/watch_config.h"

enum field {
	F_DEST = 1u << 0,
	F_FORMAT = 1u << 1,
	F_SPARSE = 1u << 2,
	F_MAX_USE = 1u << 3,
	F_KEEP_FREE = 1u << 4,
	F_FLOOD_LIMIT = 1u << 5,
	F_FLOOD_WINDOW = 1u << 6,
	F_STALL = 1u << 7,
	F_SHRINK = 1u << 8,
};

struct section_policy {
	char *domain; /* NULL for [capture] */
	unsigned set;  /* which fields this section sets */
	struct dg_capture_policy p;
};

struct dg_config {
	char *path;
	struct section_policy *sections; /* [0] is [capture] */
	size_t n;
	struct dg_watch_config *watch;   /* [watch]; NULL when the file has none (watch_config.c) */
	struct dg_fleet_config *fleet;   /* [fleet]; NULL when the file has none (fleet_config.c) */
};

struct parse_ctx {
	struct dg_config *cfg;
	const char *name;
	char error[DG_ERROR_MSG_MAX];
};

static const char *const formats[] = { "elf", "kdump-zlib", "kdump-lzo", "kdump-snappy", "win-dmp", NULL };

static void defaults(struct dg_capture_policy *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->format, sizeof(p->format), "elf");
	p->sparse = true;
	/* Keep the host alive: a dump never takes the last 5% of its filesystem. No total cap and no flood limit
	 * by default, because a person asking for a dump means it. */
	p->keep_free.set = p->keep_free.is_percent = true;
	p->keep_free.percent = 5;
	p->flood_window = 3600;
	p->stall_timeout = 60;
}

static struct section_policy *section_for(struct dg_config *cfg, const char *domain)
{
	struct section_policy *s;

	for (size_t i = 0; i < cfg->n; i++) {
		const char *d = cfg->sections[i].domain;
		if ((!d && !domain) || (d && domain && !strcmp(d, domain)))
			return &cfg->sections[i];
	}
	s = realloc(cfg->sections, (cfg->n + 1) * sizeof(*s));
	if (!s)
		return NULL;
	cfg->sections = s;
	s = &cfg->sections[cfg->n++];
	memset(s, 0, sizeof(*s));
	defaults(&s->p);
	if (domain && !(s->domain = strdup(domain))) {
		cfg->n--;
		return NULL;
	}
	return s;
}

#define FAIL(...)                                                                                              \
	do {                                                                                                   \
		if (!ctx->error[0])                                                                            \
			snprintf(ctx->error, sizeof(ctx->error), __VA_ARGS__);                                 \
		return 0;                                                                                      \
	} while (0)

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
	struct parse_ctx *ctx = user;
	struct section_policy *s;
	const char *domain = NULL;

	if (!strcasecmp(section, "watch")) {
		struct dg_error e = { 0 };
		int r;
		if (!ctx->cfg->watch) {
			ctx->cfg->watch = malloc(sizeof(*ctx->cfg->watch));
			if (!ctx->cfg->watch)
				FAIL("out of memory");
			dg_watch_config_default(ctx->cfg->watch);
		}
		r = dg_watch_config_entry(ctx->cfg->watch, key, value, &e);
		if (r < 0 && !ctx->error[0])
			snprintf(ctx->error, sizeof(ctx->error), "%s", e.message);
		if (r == 0)
			FAIL("unknown key '%s' in [watch] (see diagint.conf(5) and diagint-watch(8))", key);
		return r > 0;
	}
	if (!strcasecmp(section, "fleet")) {
		int r;
		if (!ctx->cfg->fleet) {
			ctx->cfg->fleet = malloc(sizeof(*ctx->cfg->fleet));
			if (!ctx->cfg->fleet)
				FAIL("out of memory");
			dg_fleet_config_default(ctx->cfg->fleet);
		}
		r = dg_fleet_config_entry(ctx->cfg->fleet, key, value, ctx->error[0] ? NULL : ctx->error,
					  ctx->error[0] ? 0 : sizeof(ctx->error));
		/* value points into inih's line buffer, which inih frees unwiped once we return. */
		if (!strcasecmp(key, "Password"))
			explicit_bzero((char *)value, strlen(value));
		if (r == 0)
			FAIL("unknown key '%s' in [fleet] (known: Endpoints, CACert, Cert, Key, User, Password, KeyPrefix, "
			     "DialTimeout, CommandTimeout, RequireFleet, Monitor)", key);
		return r > 0;
	}
	if (!strcasecmp(section, "capture"))
		domain = NULL;
	else if (!strncasecmp(section, "domain:", 7) && section[7])
		domain = section + 7;
	else
		FAIL("unknown section [%s] (known: [capture], [domain:NAME], [watch], [fleet])", section);

	s = section_for(ctx->cfg, domain);
	if (!s)
		FAIL("out of memory");

	if (!strcasecmp(key, "Destination")) {
		if (value[0] != '|' && value[0] != '/')
			FAIL("Destination '%s' must be an absolute directory or |COMMAND", value);
		if (value[0] == '|' && !value[1 + strspn(value + 1, " \t")])
			FAIL("Destination '|' has no command after the pipe (e.g. |gzip > /srv/dumps/$DIAGINT_DUMP_NAME.gz)");
		if (strlen(value) >= sizeof(s->p.dest))
			FAIL("Destination is too long (%zu bytes, at most %zu)", strlen(value), sizeof(s->p.dest) - 1);
		snprintf(s->p.dest, sizeof(s->p.dest), "%s", value);
		s->set |= F_DEST;
	} else if (!strcasecmp(key, "Format")) {
		int i;
		for (i = 0; formats[i] && strcmp(formats[i], value); i++)
			;
		if (!formats[i])
			FAIL("Format '%s' unknown (use elf, kdump-zlib, kdump-lzo, kdump-snappy or win-dmp)", value);
		snprintf(s->p.format, sizeof(s->p.format), "%s", value);
		s->set |= F_FORMAT;
	} else if (!strcasecmp(key, "Sparse")) {
		if (dg_config_parse_bool(value, &s->p.sparse) < 0)
			FAIL("Sparse '%s' is not a boolean (yes/no)", value);
		s->set |= F_SPARSE;
	} else if (!strcasecmp(key, "MaxUse") || !strcasecmp(key, "KeepFree")) {
		bool max = !strcasecmp(key, "MaxUse");
		if (dg_config_parse_limit(value, max ? &s->p.max_use : &s->p.keep_free) < 0)
			FAIL("%s '%s' is neither a size (e.g. 20G) nor a percentage (e.g. 15%%)", key, value);
		s->set |= max ? F_MAX_USE : F_KEEP_FREE;
	} else if (!strcasecmp(key, "FloodLimit")) {
		char *end;
		unsigned long v;
		errno = 0;
		v = strtoul(value, &end, 10);
		if (errno || end == value || *end || v > 100000 || value[0] == '-')
			FAIL("FloodLimit '%s' is not a count (0 = no limit)", value);
		s->p.flood_limit = (unsigned)v;
		s->set |= F_FLOOD_LIMIT;
	} else if (!strcasecmp(key, "FloodWindow")) {
		double v;
		if (dg_config_parse_seconds(value, &v) < 0 || v < 1 || v > 366 * 86400.0)
			FAIL("FloodWindow '%s' is not a duration (e.g. 3600, 1h)", value);
		s->p.flood_window = (unsigned)v;
		s->set |= F_FLOOD_WINDOW;
	} else if (!strcasecmp(key, "StallTimeout")) {
		/* poll() takes int milliseconds: a day is the bound (25 days would overflow after the NMI). */
		if (dg_config_parse_seconds(value, &s->p.stall_timeout) < 0 || s->p.stall_timeout < 0.1 ||
		    s->p.stall_timeout > 86400)
			FAIL("StallTimeout '%s' is not a duration from 0.1 s to 1 day (e.g. 60, 5m)", value);
		s->set |= F_STALL;
	} else if (!strcasecmp(key, "Shrink")) {
		bool on;
		if (!strcmp(value, "zlib") || !strcmp(value, "lzo"))
			snprintf(s->p.shrink, sizeof(s->p.shrink), "%s", value);
		else if (dg_config_parse_bool(value, &on) == 0)
			snprintf(s->p.shrink, sizeof(s->p.shrink), "%s", on ? "zlib" : "");
		else
			FAIL("Shrink '%s' is not no, zlib, lzo (or yes: zlib)", value);
		s->set |= F_SHRINK;
	} else {
		FAIL("unknown key '%s' in [%s] (known: Destination, Format, Sparse, MaxUse, KeepFree, FloodLimit, "
		     "FloodWindow, StallTimeout, Shrink)", key, section);
	}
	return 1;
}

/* inih reports the first bad line but keeps parsing, and our handler cannot see line numbers: the handler's
 * message belongs to that line only when the line itself is well formed. */
static bool line_well_formed(const char *text, int lineno)
{
	const char *p = text, *end;

	for (int i = 1; i < lineno && p; i++) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (!p)
		return false;
	end = strchr(p, '\n');
	if (!end)
		end = p + strlen(p);
	while (p < end && isspace((unsigned char)*p))
		p++;
	if (p < end && *p == '[')
		return memchr(p, ']', (size_t)(end - p)) != NULL;
	return memchr(p, '=', (size_t)(end - p)) != NULL || memchr(p, ':', (size_t)(end - p)) != NULL;
}

static int finish_parse(int rc, const char *text, struct parse_ctx *ctx, struct dg_config **ret,
			struct dg_error *err)
{
	if (rc == 0 && ctx->cfg->fleet && dg_fleet_config_check(ctx->cfg->fleet, ctx->error, sizeof(ctx->error)) < 0) {
		dg_error_set(err, DG_USAGE, "%s: %s", ctx->name, ctx->error);
		dg_config_free(ctx->cfg);
		return -DG_USAGE;
	}
	if (rc == 0) {
		*ret = ctx->cfg;
		return 0;
	}
	if (rc == -1)
		dg_error_set_errno(err, DG_USAGE, errno, "cannot read configuration %s", ctx->name);
	else if (rc == -2)
		dg_error_set(err, DG_USAGE, "out of memory reading %s", ctx->name);
	else if (ctx->error[0] && line_well_formed(text, rc))
		dg_error_set(err, DG_USAGE, "%s:%d: %s", ctx->name, rc, ctx->error);
	else
		dg_error_set(err, DG_USAGE, "%s:%d: not 'Key = value', '[section]' or a comment", ctx->name, rc);
	dg_config_free(ctx->cfg);
	return -DG_USAGE;
}

static struct dg_config *new_config(const char *path)
{
	struct dg_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	if (!section_for(cfg, NULL) || (path && !(cfg->path = strdup(path)))) {
		dg_config_free(cfg);
		return NULL;
	}
	return cfg;
}

int dg_config_parse_string(const char *text, const char *name, struct dg_config **ret, struct dg_error *err)
{
	struct parse_ctx ctx = { .name = name };

	ctx.cfg = new_config(name);
	if (!ctx.cfg)
		return dg_error_set(err, DG_FAILED, "out of memory");
	/* No inline comments: "Destination = |gzip > x ; logger done" keeps its whole command. */
	return finish_parse(dg_ini_parse_string(text, on_entry, &ctx, false), text, &ctx, ret, err);
}

#define CONFIG_MAX (1 << 20)

int dg_config_load(const char *path, struct dg_config **ret, struct dg_error *err)
{
	const char *p = path ? path : DG_CONFIG_DEFAULT_PATH;
	char *text = NULL;
	size_t len = 0, size;
	struct stat st;
	ssize_t n = 0;
	int r, fd;

	/* O_NONBLOCK + a regular file + a size limit: a FIFO, a device or /dev/zero named as the configuration fails
	 * at once with a message instead of hanging or eating memory. */
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX)) {
		bool reg = S_ISREG(st.st_mode);

		close(fd);
		return dg_error_set(err, DG_USAGE, "cannot read configuration %s: it is %s; name a regular file (at most "
				    "%d KiB)", p, reg ? "too large" : "not a regular file", CONFIG_MAX >> 10);
	}
	if (fd < 0) {
		if (!path && errno == ENOENT) {
			*ret = new_config(NULL);
			return *ret ? 0 : dg_error_set(err, DG_FAILED, "out of memory");
		}
		if (errno == ENOENT)
			return dg_error_set(err, DG_USAGE, "configuration %s does not exist: check --config", p);
		return dg_error_set_errno(err, DG_USAGE, errno, "cannot read configuration %s", p);
	}
	/* One buffer of the size fstat() saw, read with read(): no stdio buffer or grown copy is left behind
	 * holding a [fleet] Password, and this one is wiped below. Bytes the file gained since are not read. */
	size = (size_t)st.st_size;
	text = malloc(size + 1);
	if (!text) {
		close(fd);
		return dg_error_set(err, DG_FAILED, "out of memory");
	}
	while (len < size && ((n = read(fd, text + len, size - len)) > 0 || (n < 0 && errno == EINTR)))
		if (n > 0)
			len += (size_t)n;
	r = n < 0 ? errno : 0;
	close(fd);
	text[len] = '\0';
	if (r) {
		free(text);
		return dg_error_set_errno(err, DG_USAGE, r, "cannot read configuration %s", p);
	}
	/* inih reads up to the first NUL: the lines after it would be dropped without a word. */
	if (memchr(text, '\0', len)) {
		int line = 1;

		for (const char *c = text; *c; c++)
			line += *c == '\n';
		explicit_bzero(text, len);
		free(text);
		return dg_error_set(err, DG_USAGE, "%s:%d: a NUL byte: diagint.conf is a text file (check what was "
				    "written there)", p, line);
	}
	r = dg_config_parse_string(text, p, ret, err);
	explicit_bzero(text, len);
	free(text);
	/* [fleet] Password: only in a file no one else can read, owned by root or by whoever runs us. */
	if (r == 0 && (*ret)->fleet && (*ret)->fleet->password[0] &&
	    ((st.st_mode & 077) || (st.st_uid != 0 && st.st_uid != geteuid()))) {
		dg_config_free(*ret);
		*ret = NULL;
		return dg_error_set(err, DG_USAGE, "%s holds the etcd Password of [fleet] but others can read it or it "
				    "is not ours: chmod 600 and chown root %s", p, p);
	}
	return r;
}

void dg_config_free(struct dg_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n; i++)
		free(cfg->sections[i].domain);
	free(cfg->sections);
	free(cfg->watch);
	if (cfg->fleet)
		explicit_bzero(cfg->fleet->password, sizeof(cfg->fleet->password));
	free(cfg->fleet);
	free(cfg->path);
	free(cfg);
}

const char *dg_config_path(const struct dg_config *cfg)
{
	return cfg ? cfg->path : NULL;
}

static void overlay(struct dg_capture_policy *p, const struct section_policy *s)
{
	if (s->set & F_DEST)
		memcpy(p->dest, s->p.dest, sizeof(p->dest));
	if (s->set & F_FORMAT)
		memcpy(p->format, s->p.format, sizeof(p->format));
	if (s->set & F_SPARSE)
		p->sparse = s->p.sparse;
	if (s->set & F_MAX_USE)
		p->max_use = s->p.max_use;
	if (s->set & F_KEEP_FREE)
		p->keep_free = s->p.keep_free;
	if (s->set & F_FLOOD_LIMIT)
		p->flood_limit = s->p.flood_limit;
	if (s->set & F_FLOOD_WINDOW)
		p->flood_window = s->p.flood_window;
	if (s->set & F_STALL)
		p->stall_timeout = s->p.stall_timeout;
	if (s->set & F_SHRINK)
		memcpy(p->shrink, s->p.shrink, sizeof(p->shrink));
}

void dg_config_capture_policy(const struct dg_config *cfg, const char *domain, struct dg_capture_policy *ret)
{
	defaults(ret);
	if (!cfg)
		return;
	overlay(ret, &cfg->sections[0]);
	if (!domain)
		return;
	for (size_t i = 1; i < cfg->n; i++)
		if (!strcmp(cfg->sections[i].domain, domain))
			overlay(ret, &cfg->sections[i]);
}

const struct dg_watch_config *dg_config_watch(const struct dg_config *cfg)
{
	return cfg && cfg->watch ? cfg->watch : dg_watch_config_builtin();
}

const struct dg_fleet_config *dg_config_fleet(const struct dg_config *cfg)
{
	return cfg ? cfg->fleet : NULL;
}
