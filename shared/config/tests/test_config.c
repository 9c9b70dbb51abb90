/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* diagint.conf: built-in defaults, [capture], [domain:NAME] overlays, value parsers, and errors that name the
 * file, the line and the key. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diagint/config.h"
#include "tap.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define TiB (1ull << 40)

static char scratch[] = "/tmp/dg-test-config-XXXXXX";

static bool same_double(double a, double b)
{
	return a == b;
}

/* Parse text that must be accepted. */
static struct dg_config *parse_ok(const char *text, const char *what)
{
	struct dg_config *cfg = NULL;
	struct dg_error err;
	int r;

	memset(&err, 0, sizeof(err));
	r = dg_config_parse_string(text, "T.conf", &cfg, &err);
	CHECK(r == 0 && cfg, "%s: accepted (%d: %s)", what, r, err.message);
	return r == 0 ? cfg : NULL;
}

/* Parse text that must be refused with DG_USAGE and a message "T.conf:LINE: ..." containing want and want2. */
static void parse_err(const char *text, int line, const char *want, const char *want2, const char *what)
{
	struct dg_config *cfg = NULL;
	struct dg_error err;
	char where[64];
	int r;

	memset(&err, 0, sizeof(err));
	r = dg_config_parse_string(text, "T.conf", &cfg, &err);
	snprintf(where, sizeof(where), "T.conf:%d: ", line);
	CHECK(r == -DG_USAGE && err.status == DG_USAGE && cfg == NULL, "%s: refused with DG_USAGE (%d)", what, r);
	CHECK(strncmp(err.message, where, strlen(where)) == 0, "%s: message starts with '%s': %s", what, where,
	      err.message);
	CHECK(strstr(err.message, want) != NULL, "%s: message contains \"%s\"", what, want);
	if (want2)
		CHECK(strstr(err.message, want2) != NULL, "%s: message contains \"%s\"", what, want2);
	dg_config_free(cfg);
}

static void check_defaults(const struct dg_capture_policy *p, const char *what)
{
	CHECK_STR(p->dest, "", "%s: dest is empty (built-in directory)", what);
	CHECK_STR(p->format, "elf", "%s: format elf", what);
	CHECK(p->sparse == true, "%s: sparse true", what);
	CHECK(p->keep_free.set && p->keep_free.is_percent && same_double(p->keep_free.percent, 5) &&
		      p->keep_free.bytes == 0,
	      "%s: KeepFree 5%% (set %d, percent %d, %g)", what, p->keep_free.set, p->keep_free.is_percent,
	      p->keep_free.percent);
	CHECK(!p->max_use.set, "%s: no MaxUse", what);
	CHECK(p->flood_limit == 0, "%s: flood limit 0 (got %u)", what, p->flood_limit);
	CHECK(p->flood_window == 3600, "%s: flood window 3600 (got %u)", what, p->flood_window);
	CHECK(same_double(p->stall_timeout, 60), "%s: stall timeout 60 (got %g)", what, p->stall_timeout);
}

static void test_defaults(void)
{
	struct dg_capture_policy p;
	struct dg_config *cfg;

	memset(&p, 0x5a, sizeof(p));
	dg_config_capture_policy(NULL, "web", &p);
	check_defaults(&p, "NULL config");
	memset(&p, 0x5a, sizeof(p));
	dg_config_capture_policy(NULL, NULL, &p);
	check_defaults(&p, "NULL config, NULL domain");

	cfg = parse_ok("", "empty text");
	if (cfg) {
		memset(&p, 0x5a, sizeof(p));
		dg_config_capture_policy(cfg, "web", &p);
		check_defaults(&p, "empty text");
		CHECK_STR(dg_config_path(cfg), "T.conf", "dg_config_path names the parsed text");
	}
	dg_config_free(cfg);

	cfg = parse_ok("; a comment\n# another\n\n[capture]\n\n[domain:web]\n", "comments and empty sections");
	if (cfg) {
		dg_config_capture_policy(cfg, "web", &p);
		check_defaults(&p, "comments and empty sections");
	}
	dg_config_free(cfg);
	CHECK(dg_config_path(NULL) == NULL, "dg_config_path(NULL) is NULL");
	dg_config_free(NULL);
}

static const char full_text[] = "[capture]\n"
				"Destination = /var/dumps\n"
				"Format = kdump-zlib\n"
				"Sparse = no\n"
				"MaxUse = 20G\n"
				"KeepFree = 15%\n"
				"FloodLimit = 3\n"
				"FloodWindow = 10m\n"
				"StallTimeout = 2.5\n"
				"\n"
				"[domain:web]\n"
				"Destination = |gzip > \"$DG_DUMP_NAME\".gz\n"
				"MaxUse = 10%\n"
				"StallTimeout = 5m\n"
				"\n"
				"[domain:db]\n"
				"Format = win-dmp\n"
				"Sparse = yes\n"
				"KeepFree = 1G\n"
				"FloodLimit = 0\n"
				"FloodWindow = 1d\n";

static void check_capture_section(const struct dg_capture_policy *p, const char *what)
{
	CHECK_STR(p->dest, "/var/dumps", "%s: Destination from [capture]", what);
	CHECK_STR(p->format, "kdump-zlib", "%s: Format from [capture]", what);
	CHECK(p->sparse == false, "%s: Sparse from [capture]", what);
	CHECK(p->max_use.set && !p->max_use.is_percent && p->max_use.bytes == 20 * GiB,
	      "%s: MaxUse 20G from [capture] (%llu)", what, (unsigned long long)p->max_use.bytes);
	CHECK(p->keep_free.set && p->keep_free.is_percent && same_double(p->keep_free.percent, 15),
	      "%s: KeepFree 15%% from [capture] (%g)", what, p->keep_free.percent);
	CHECK(p->flood_limit == 3, "%s: FloodLimit from [capture] (%u)", what, p->flood_limit);
	CHECK(p->flood_window == 600, "%s: FloodWindow 10m = 600 from [capture] (%u)", what, p->flood_window);
	CHECK(same_double(p->stall_timeout, 2.5), "%s: StallTimeout from [capture] (%g)", what, p->stall_timeout);
}

static void test_sections(void)
{
	struct dg_capture_policy p;
	struct dg_config *cfg;

	cfg = parse_ok(full_text, "every key in [capture] and two domains");
	if (!cfg)
		return;

	dg_config_capture_policy(cfg, "mail", &p);
	check_capture_section(&p, "domain without a section");
	dg_config_capture_policy(cfg, NULL, &p);
	check_capture_section(&p, "NULL domain");

	/* web overrides Destination, MaxUse, StallTimeout; the rest comes from [capture]. */
	dg_config_capture_policy(cfg, "web", &p);
	CHECK_STR(p.dest, "|gzip > \"$DG_DUMP_NAME\".gz", "web: Destination overridden");
	CHECK(p.max_use.set && p.max_use.is_percent && same_double(p.max_use.percent, 10) && p.max_use.bytes == 0,
	      "web: MaxUse 10%% overrides 20G (percent %d, %g, bytes %llu)", p.max_use.is_percent, p.max_use.percent,
	      (unsigned long long)p.max_use.bytes);
	CHECK(same_double(p.stall_timeout, 300), "web: StallTimeout 5m = 300 (%g)", p.stall_timeout);
	CHECK_STR(p.format, "kdump-zlib", "web: Format inherited");
	CHECK(p.sparse == false, "web: Sparse inherited");
	CHECK(p.keep_free.is_percent && same_double(p.keep_free.percent, 15), "web: KeepFree inherited (%g)",
	      p.keep_free.percent);
	CHECK(p.flood_limit == 3 && p.flood_window == 600, "web: flood settings inherited (%u, %u)", p.flood_limit,
	      p.flood_window);

	/* db overrides the other five. */
	dg_config_capture_policy(cfg, "db", &p);
	CHECK_STR(p.format, "win-dmp", "db: Format overridden");
	CHECK(p.sparse == true, "db: Sparse yes overrides no");
	CHECK(p.keep_free.set && !p.keep_free.is_percent && p.keep_free.bytes == GiB,
	      "db: KeepFree 1G overrides 15%% (percent %d, bytes %llu)", p.keep_free.is_percent,
	      (unsigned long long)p.keep_free.bytes);
	CHECK(p.flood_limit == 0, "db: FloodLimit 0 overrides 3 (%u)", p.flood_limit);
	CHECK(p.flood_window == 86400, "db: FloodWindow 1d = 86400 (%u)", p.flood_window);
	CHECK_STR(p.dest, "/var/dumps", "db: Destination inherited");
	CHECK(p.max_use.set && !p.max_use.is_percent && p.max_use.bytes == 20 * GiB, "db: MaxUse inherited");
	CHECK(same_double(p.stall_timeout, 2.5), "db: StallTimeout inherited (%g)", p.stall_timeout);

	/* Domain names are exact: another spelling gets [capture] only. */
	dg_config_capture_policy(cfg, "Web", &p);
	CHECK_STR(p.dest, "/var/dumps", "'Web' is not 'web'");
	dg_config_capture_policy(cfg, "we", &p);
	CHECK_STR(p.dest, "/var/dumps", "'we' is not 'web'");
	dg_config_free(cfg);

	/* A domain section before [capture] still wins; a repeated section adds to the first. */
	cfg = parse_ok("[domain:web]\nFormat = kdump-lzo\n[capture]\nFormat = kdump-snappy\nSparse = off\n"
		       "[domain:web]\nFloodLimit = 7\n[CAPTURE]\nfloodwindow = 2h\n",
		       "sections in any order, repeated, any case");
	if (cfg) {
		dg_config_capture_policy(cfg, "web", &p);
		CHECK_STR(p.format, "kdump-lzo", "domain section overrides [capture] whatever the file order");
		CHECK(p.flood_limit == 7, "repeated [domain:web] adds its keys (%u)", p.flood_limit);
		CHECK(p.sparse == false && p.flood_window == 7200,
		      "[capture] and [CAPTURE] are one section, keys case-insensitive (%d, %u)", p.sparse,
		      p.flood_window);
		dg_config_capture_policy(cfg, "db", &p);
		CHECK_STR(p.format, "kdump-snappy", "other domains get [capture]'s Format");
		CHECK(p.flood_limit == 0, "other domains unaffected by [domain:web]'s FloodLimit (%u)",
		      p.flood_limit);
	}
	dg_config_free(cfg);

	/* Only the keys a domain sets: a domain setting nothing changes nothing. */
	cfg = parse_ok("[capture]\nKeepFree = 2G\n[domain:web]\nMaxUse = 1T\n", "domain overlay of one key");
	if (cfg) {
		dg_config_capture_policy(cfg, "web", &p);
		CHECK(p.max_use.set && p.max_use.bytes == TiB && p.keep_free.bytes == 2 * GiB &&
			      !p.keep_free.is_percent,
		      "web: MaxUse 1T and KeepFree 2G (%llu, %llu)", (unsigned long long)p.max_use.bytes,
		      (unsigned long long)p.keep_free.bytes);
		CHECK_STR(p.format, "elf", "web: untouched Format stays the built-in default");
		CHECK(p.sparse && p.flood_window == 3600 && same_double(p.stall_timeout, 60),
		      "web: untouched keys keep built-in defaults");
		dg_config_capture_policy(cfg, "db", &p);
		CHECK(!p.max_use.set && p.keep_free.bytes == 2 * GiB, "db: no MaxUse, KeepFree 2G");
	}
	dg_config_free(cfg);

	/* Every format is accepted; so are the boolean spellings. */
	{
		static const char *const formats[] = { "elf", "kdump-zlib", "kdump-lzo", "kdump-snappy", "win-dmp" };
		for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
			char text[128];
			snprintf(text, sizeof(text), "[capture]\nFormat = %s\n", formats[i]);
			cfg = parse_ok(text, formats[i]);
			if (cfg) {
				dg_config_capture_policy(cfg, NULL, &p);
				CHECK_STR(p.format, formats[i], "Format %s kept", formats[i]);
			}
			dg_config_free(cfg);
		}
	}
	cfg = parse_ok("[capture]\nDestination = |  xz -T0 > /srv/dump.xz\nStallTimeout = 0.1\n",
		       "pipe with spaces, smallest stall timeout");
	if (cfg) {
		dg_config_capture_policy(cfg, NULL, &p);
		CHECK_STR(p.dest, "|  xz -T0 > /srv/dump.xz", "|COMMAND kept as written");
		CHECK(same_double(p.stall_timeout, 0.1), "StallTimeout 0.1 accepted (%g)", p.stall_timeout);
	}
	dg_config_free(cfg);
}

static void test_errors(void)
{
	parse_err("[capture]\nShrink = zstd\n", 2, "Shrink 'zstd' is not no, zlib, lzo", NULL, "Shrink: zstd refused");
	{
		struct dg_capture_policy p;
		struct dg_config *cfg = parse_ok("[capture]\nShrink = yes\n[domain:a]\nShrink = lzo\n[domain:b]\n"
						 "Shrink = no\n", "Shrink");
		if (cfg) {
			dg_config_capture_policy(cfg, NULL, &p);
			CHECK_STR(p.shrink, "zlib", "Shrink = yes: zlib");
			dg_config_capture_policy(cfg, "a", &p);
			CHECK_STR(p.shrink, "lzo", "per domain: lzo");
			dg_config_capture_policy(cfg, "b", &p);
			CHECK_STR(p.shrink, "", "per domain: no");
			dg_config_free(cfg);
		}
		dg_config_capture_policy(NULL, NULL, &p);
		CHECK_STR(p.shrink, "", "default: keep the ELF");
	}
	parse_err("[capture]\nDestnation = /x\n", 2, "unknown key 'Destnation' in [capture]", NULL, "unknown key");
	parse_err("[capture]\nFormat = elf\n[domain:web]\nColour = red\n", 4, "unknown key 'Colour' in [domain:web]",
		  NULL, "unknown key in a domain section");
	parse_err("[capture]\nFormat = elf\n[dumps]\nFormat = elf\n", 4, "unknown section [dumps]", "[domain:NAME]",
		  "unknown section");
	parse_err("[domain:]\nFormat = elf\n", 2, "unknown section [domain:]", NULL, "domain section without a name");
	parse_err("Format = elf\n", 1, "unknown section []", NULL, "key before any section");

	parse_err("[capture]\nDestination = relative/dir\n", 2, "Destination 'relative/dir'",
		  "absolute directory or |COMMAND", "relative Destination");
	parse_err("[capture]\nDestination = |\n", 2, "Destination '|' has no command after the pipe", NULL,
		  "'|' alone");
	parse_err("[capture]\nDestination = |   \t\n", 2, "has no command after the pipe", NULL, "'|' and blanks");
	parse_err("[capture]\nFormat = gzip\n", 2, "Format 'gzip' unknown", NULL, "bad Format");
	parse_err("[domain:x]\nSparse = maybe\n", 2, "Sparse 'maybe' is not a boolean", NULL, "bad Sparse");
	parse_err("[capture]\nMaxUse = 10Q\n", 2, "MaxUse '10Q' is neither a size", NULL, "bad MaxUse");
	parse_err("[capture]\n\nKeepFree = 101%\n", 3, "KeepFree '101%' is neither a size", NULL, "KeepFree over 100%");
	parse_err("[capture]\nKeepFree = -1%\n", 2, "KeepFree '-1%'", NULL, "negative KeepFree");
	parse_err("[capture]\nFloodLimit = -1\n", 2, "FloodLimit '-1' is not a count", NULL, "negative FloodLimit");
	parse_err("[capture]\nFloodLimit = 3x\n", 2, "FloodLimit '3x' is not a count", NULL, "FloodLimit 3x");
	parse_err("[capture]\nFloodLimit = 100001\n", 2, "FloodLimit '100001'", NULL, "FloodLimit too large");
	parse_err("[capture]\nFloodWindow = 10x\n", 2, "FloodWindow '10x' is not a duration", NULL, "FloodWindow 10x");
	parse_err("[capture]\nFloodWindow = 0\n", 2, "FloodWindow '0' is not a duration", NULL, "FloodWindow 0");
	parse_err("[capture]\nFloodWindow = 367d\n", 2, "FloodWindow '367d'", NULL, "FloodWindow over a year");
	parse_err("[capture]\nStallTimeout = 0.05\n", 2, "StallTimeout '0.05' is not a duration from 0.1 s to 1 day",
		  NULL, "StallTimeout too short");
	/* 25 days used to pass and overflow poll()'s int milliseconds after the NMI. */
	parse_err("[capture]\nStallTimeout = 25d\n", 2, "StallTimeout '25d' is not a duration from 0.1 s to 1 day", NULL,
		  "StallTimeout of 25 days: refused at parse time");
	parse_err("[capture]\nStallTimeout = soon\n", 2, "StallTimeout 'soon'", NULL, "StallTimeout not a number");

	/* Syntax errors. */
	parse_err("[capture]\ngarbage\n", 2, "not 'Key = value', '[section]' or a comment", NULL, "line without '='");
	parse_err("[capture\nFormat = elf\n", 1, "not 'Key = value'", NULL, "unclosed section header");
	/* inih keeps parsing after the first bad line: the message must belong to the line it names. */
	parse_err("[capture]\ngarbage\nBogus = 1\n", 2, "not 'Key = value'", NULL,
		  "syntax error before a handler error reports the syntax line");
	{
		struct dg_config *cfg = NULL;
		struct dg_error err;
		memset(&err, 0, sizeof(err));
		dg_config_parse_string("[capture]\ngarbage\nBogus = 1\n", "T.conf", &cfg, &err);
		CHECK(strstr(err.message, "Bogus") == NULL, "the later line's key is not blamed on line 2: %s",
		      err.message);
		dg_config_free(cfg);
	}
	parse_err("[capture]\nBogus = 1\ngarbage\n", 2, "unknown key 'Bogus'", NULL,
		  "handler error before a syntax error reports the handler's line");
	parse_err("[capture]\nFormat = x\nSparse = y\n", 2, "Format 'x'", NULL, "the first of two bad values wins");

	/* No inline comments in diagint.conf: this line is the key "garbage ; x", unknown, and line 2 is blamed. */
	{
		struct dg_config *cfg = NULL;
		struct dg_error err;
		int r;
		memset(&err, 0, sizeof(err));
		r = dg_config_parse_string("[capture]\ngarbage ; x = y\nBogus = 1\n", "T.conf", &cfg, &err);
		CHECK(r == -DG_USAGE, "'garbage ; x = y' is refused (%d)", r);
		CHECK(strstr(err.message, "T.conf:2: unknown key 'garbage ; x'") != NULL,
		      "the first bad line is the one named: %s", err.message);
		dg_config_free(cfg);
	}
}

/* Values that inih would change behind the configuration's back. */
static void test_values_kept_whole(void)
{
	char text[1200], path[600];
	struct dg_capture_policy p;
	struct dg_config *cfg = NULL;
	struct dg_error err;
	int r;

	/* A shell command with " ; " in it: kept whole, never cut at the ';' (no inline comments: config.c). */
	memset(&err, 0, sizeof(err));
	r = dg_config_parse_string("[capture]\nDestination = |gzip > /srv/d.gz ; logger dumped\n", "T.conf", &cfg,
				   &err);
	memset(&p, 0, sizeof(p));
	if (r == 0)
		dg_config_capture_policy(cfg, NULL, &p);
	CHECK(r == 0 && strcmp(p.dest, "|gzip > /srv/d.gz ; logger dumped") == 0,
	      "|COMMAND with ' ; ' kept whole (r %d, dest '%s')", r, p.dest);
	dg_config_free(cfg);
	cfg = NULL;

	/* dest holds 1023 bytes: a 400-byte directory path fits. */
	memset(path, 0, sizeof(path));
	path[0] = '/';
	memset(path + 1, 'd', 399);
	snprintf(text, sizeof(text), "[capture]\nDestination = %s\n", path);
	memset(&err, 0, sizeof(err));
	r = dg_config_parse_string(text, "T.conf", &cfg, &err);
	memset(&p, 0, sizeof(p));
	if (r == 0)
		dg_config_capture_policy(cfg, NULL, &p);
	CHECK(r == 0 && strcmp(p.dest, path) == 0,
		   "a 400-byte Destination is accepted whole (r %d: %s)", r, err.message);
	dg_config_free(cfg);
}

static void test_load(void)
{
	char path[256], dir[512], text[64];
	struct dg_capture_policy p;
	struct dg_config *cfg = NULL;
	struct dg_error err;
	struct stat st;
	int fd, r;

	if (stat(DG_CONFIG_DEFAULT_PATH, &st) == 0) {
		SKIP_ONE("dg_config_load(NULL) defaults: " DG_CONFIG_DEFAULT_PATH " exists on this machine");
	} else {
		memset(&err, 0, sizeof(err));
		r = dg_config_load(NULL, &cfg, &err);
		CHECK(r == 0 && cfg, "no default file: built-in defaults (%d: %s)", r, err.message);
		if (cfg) {
			CHECK(dg_config_path(cfg) == NULL, "path is NULL for built-in defaults");
			dg_config_capture_policy(cfg, "web", &p);
			check_defaults(&p, "dg_config_load(NULL)");
		}
		dg_config_free(cfg);
		cfg = NULL;
	}

	memset(&err, 0, sizeof(err));
	r = dg_config_load("/nonexistent", &cfg, &err);
	CHECK(r == -DG_USAGE && err.status == DG_USAGE && cfg == NULL, "explicit missing file: DG_USAGE (%d)", r);
	CHECK(strstr(err.message, "/nonexistent") && strstr(err.message, "does not exist"), "message: %s",
	      err.message);

	/* A real file: values read, errors named by its path. */
	snprintf(path, sizeof(path), "%s/diagint.conf", scratch);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0 && write(fd, full_text, strlen(full_text)) == (ssize_t)strlen(full_text) && close(fd) == 0,
	      "wrote %s", path);
	memset(&err, 0, sizeof(err));
	r = dg_config_load(path, &cfg, &err);
	CHECK(r == 0 && cfg, "loaded %s (%d: %s)", path, r, err.message);
	if (cfg) {
		CHECK_STR(dg_config_path(cfg), path, "dg_config_path is the file");
		dg_config_capture_policy(cfg, "web", &p);
		CHECK_STR(p.dest, "|gzip > \"$DG_DUMP_NAME\".gz", "file: web's Destination");
		dg_config_capture_policy(cfg, "other", &p);
		check_capture_section(&p, "file");
	}
	dg_config_free(cfg);
	cfg = NULL;

	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	snprintf(text, sizeof(text), "[capture]\nSparse = yes\nMaxUse = lots\n");
	CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text) && close(fd) == 0, "rewrote %s",
	      path);
	memset(&err, 0, sizeof(err));
	r = dg_config_load(path, &cfg, &err);
	snprintf(dir, sizeof(dir), "%s:3: MaxUse 'lots'", path);
	CHECK(r == -DG_USAGE && cfg == NULL, "bad file refused (%d)", r);
	CHECK(strstr(err.message, dir) != NULL, "message names file:line and key: %s", err.message);

	/* A directory is not a configuration file. */
	memset(&err, 0, sizeof(err));
	r = dg_config_load(scratch, &cfg, &err);
	CHECK(r == -DG_USAGE && cfg == NULL && strstr(err.message, "cannot read configuration") &&
		      strstr(err.message, scratch),
	      "a directory: DG_USAGE (%d: %s)", r, err.message);
	unlink(path);
}

static void size_ok(const char *text, uint64_t want)
{
	uint64_t v = 12345;
	int r = dg_config_parse_size(text, &v);

	CHECK(r == 0 && v == want, "size '%s' = %llu (r %d, got %llu)", text, (unsigned long long)want, r,
	      (unsigned long long)v);
}

static void size_bad(const char *text)
{
	uint64_t v = 12345;
	int r = dg_config_parse_size(text, &v);

	CHECK(r == -EINVAL, "size '%s' is invalid (r %d)", text, r);
}

static void test_parse_size(void)
{
	size_ok("0", 0);
	size_ok("123", 123);
	size_ok("10K", 10240);
	size_ok("10k", 10240);
	size_ok("10KiB", 10240);
	size_ok("10KB", 10240);
	size_ok("10Ki", 10240);
	size_ok("512M", 512 * MiB);
	size_ok("512MiB", 512 * MiB);
	size_ok("2G", 2 * GiB);
	size_ok("3GiB", 3 * GiB);
	size_ok("1T", TiB);
	size_ok("1t", TiB);
	size_ok("16777215T", 16777215ull * TiB);
	size_ok("18446744073709551615", UINT64_MAX);
	size_ok("17179869183G", 17179869183ull * GiB);
	size_bad("");
	size_bad("K");
	size_bad("-1");
	size_bad("+1");
	size_bad("10X");
	size_bad("10P");
	size_bad("10 K");
	size_bad("10B");
	size_bad("10KiBB");
	size_bad("10KBi");
	size_bad("1.5G");
	size_bad("16777216T");             /* 2^64 */
	size_bad("17179869184G");          /* 2^64 */
	size_bad("18446744073709551616");  /* 2^64 */
	size_bad("99999999999999999999T");
}

static void limit_ok(const char *text, bool pct, double percent, uint64_t bytes)
{
	struct dg_size_limit l;
	int r;

	memset(&l, 0x5a, sizeof(l));
	r = dg_config_parse_limit(text, &l);
	CHECK(r == 0 && l.set && l.is_percent == pct && (pct ? same_double(l.percent, percent) && l.bytes == 0
							       : l.bytes == bytes && same_double(l.percent, 0)),
	      "limit '%s' (r %d, set %d, percent %d: %g, bytes %llu)", text, r, l.set, l.is_percent, l.percent,
	      (unsigned long long)l.bytes);
}

static void limit_bad(const char *text)
{
	struct dg_size_limit l;
	int r;

	memset(&l, 0x5a, sizeof(l));
	r = dg_config_parse_limit(text, &l);
	CHECK(r == -EINVAL && !l.set, "limit '%s' is invalid and not set (r %d)", text, r);
}

static void test_parse_limit(void)
{
	limit_ok("15%", true, 15, 0);
	limit_ok("0%", true, 0, 0);
	limit_ok("100%", true, 100, 0);
	limit_ok("12.5%", true, 12.5, 0);
	limit_ok("10G", false, 0, 10 * GiB);
	limit_ok("0", false, 0, 0);
	limit_bad("101%");
	limit_bad("100.5%");
	limit_bad("-1%");
	limit_bad("%");
	limit_bad("abc%");
	limit_bad("15 %");
	limit_bad("15%%");
	limit_bad("nan%");
	limit_bad("");
	limit_bad("10Q");
}

static void test_parse_bool(void)
{
	static const char *const yes[] = { "1", "yes", "true", "on", "YES", "True", "oN" };
	static const char *const no[] = { "0", "no", "false", "off", "NO", "False", "OFF" };
	static const char *const bad[] = { "", "2", "y", "n", "yess", "enabled", " yes", "yes " };
	bool v;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		v = false;
		CHECK(dg_config_parse_bool(yes[i], &v) == 0 && v == true, "bool '%s' is true", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		v = true;
		CHECK(dg_config_parse_bool(no[i], &v) == 0 && v == false, "bool '%s' is false", no[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = true;
		CHECK(dg_config_parse_bool(bad[i], &v) == -EINVAL && v == true, "bool '%s' is invalid, value untouched",
		      bad[i]);
	}
}

static void seconds_ok(const char *text, double want)
{
	double v = -7;
	int r = dg_config_parse_seconds(text, &v);

	CHECK(r == 0 && same_double(v, want), "seconds '%s' = %g (r %d, got %g)", text, want, r, v);
}

static void seconds_bad(const char *text)
{
	double v = -7;
	int r = dg_config_parse_seconds(text, &v);

	CHECK(r == -EINVAL && same_double(v, -7), "seconds '%s' is invalid, value untouched (r %d)", text, r);
}

static void test_parse_seconds(void)
{
	seconds_ok("30", 30);
	seconds_ok("0", 0);
	seconds_ok("2.5", 2.5);
	seconds_ok("10s", 10);
	seconds_ok("5m", 300);
	seconds_ok("1.5m", 90);
	seconds_ok("1h", 3600);
	seconds_ok("2h", 7200);
	seconds_ok("1d", 86400);
	seconds_ok("0.5s", 0.5);
	seconds_bad("10x");
	seconds_bad("");
	seconds_bad("s");
	seconds_bad("-1");
	seconds_bad("-1s");
	seconds_ok("10ms", 0.01);
	seconds_ok("250ms", 0.25);
	seconds_bad("10mss");
	seconds_bad("ms");
	seconds_bad("1 h");
	seconds_bad("10S");
	seconds_bad("inf");
	seconds_bad("nan");
}

static void test_limit_bytes(void)
{
	struct dg_size_limit l;

	memset(&l, 0, sizeof(l));
	CHECK(dg_size_limit_bytes(&l, 1000) == 0, "unset limit: 0");
	l.bytes = 77; /* ignored while unset */
	CHECK(dg_size_limit_bytes(&l, 1000) == 0, "unset limit with bytes: still 0");

	CHECK(dg_config_parse_limit("10G", &l) == 0, "parsed 10G");
	CHECK(dg_size_limit_bytes(&l, 1000) == 10 * GiB, "10G on a small filesystem is still 10G");
	CHECK(dg_size_limit_bytes(&l, 0) == 10 * GiB, "10G with fs size 0 is 10G");

	CHECK(dg_config_parse_limit("15%", &l) == 0, "parsed 15%%");
	CHECK(dg_size_limit_bytes(&l, 1000) == 150, "15%% of 1000 = 150 (%llu)",
	      (unsigned long long)dg_size_limit_bytes(&l, 1000));
	CHECK(dg_size_limit_bytes(&l, 0) == 0, "15%% of 0 = 0");
	CHECK(dg_config_parse_limit("5%", &l) == 0 && dg_size_limit_bytes(&l, 64 * MiB) == 3355443,
	      "5%% of 64 MiB = 3355443 (rounded down) (%llu)", (unsigned long long)dg_size_limit_bytes(&l, 64 * MiB));
	CHECK(dg_config_parse_limit("6.25%", &l) == 0 && dg_size_limit_bytes(&l, 64 * MiB) == 4 * MiB,
	      "6.25%% of 64 MiB = 4 MiB");
	CHECK(dg_config_parse_limit("100%", &l) == 0 && dg_size_limit_bytes(&l, 5 * TiB) == 5 * TiB,
	      "100%% of 5 TiB = 5 TiB");
	CHECK(dg_config_parse_limit("0%", &l) == 0 && dg_size_limit_bytes(&l, 5 * TiB) == 0, "0%% = 0");
}

int main(void)
{
	if (!mkdtemp(scratch)) {
		printf("not ok 1 - mkdtemp: %s\n1..1\n", strerror(errno));
		return 1;
	}
	test_defaults();
	test_sections();
	test_errors();
	test_values_kept_whole();
	test_load();
	test_parse_size();
	test_parse_limit();
	test_parse_bool();
	test_parse_seconds();
	test_limit_bytes();
	CHECK(rmdir(scratch) == 0, "scratch directory removed");
	return tap_done();
}
