/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `diagint dumps show NAME`: what the guest kernel was doing, from the analysis kept beside the dump (the sidecar's
 * `kernel` object and NAME.dmesg). A dump from before the analysis existed is analyzed now, read-only. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "diagint/buf.h"
#include "diagint/dumpdir.h"
#include "diagint/dumpname.h"
#include "diagint/vmcore.h"

#define LOG_MAX (256u << 20)

static json_object *read_json(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	json_object *j;

	if (fd < 0)
		return NULL;
	j = json_object_from_fd(fd);
	close(fd);
	return j;
}

/* NAME.dmesg, whole; false when absent. */
static bool read_log(int dirfd, const char *name, struct dg_buf *out)
{
	char path[DG_DUMPNAME_MAX + 16], buf[65536];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s.dmesg", name);
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	while ((n = read(fd, buf, sizeof(buf))) > 0 && out->len < LOG_MAX)
		dg_buf_append(out, buf, (size_t)n);
	close(fd);
	return n == 0 && dg_buf_ok(out);
}

static const char *jget(json_object *o, const char *key)
{
	json_object *x;

	if (!o || !json_object_object_get_ex(o, key, &x) || !x || !json_object_is_type(x, json_type_string))
		return NULL;
	return json_object_get_string(x);
}

/* Start of the last `keep` lines of text (all when keep is 0). */
static const char *tail(const char *text, size_t len, unsigned keep, unsigned *total)
{
	const char *start = text;
	unsigned lines = 0;

	for (size_t i = 0; i < len; i++)
		if (text[i] == '\n')
			lines++;
	if (len && text[len - 1] != '\n')
		lines++;
	*total = lines;
	if (keep && lines > keep) {
		unsigned skip = lines - keep;
		for (size_t i = 0; i < len && skip; i++)
			if (text[i] == '\n' && --skip == 0)
				start = text + i + 1;
	}
	return start;
}

/* Guest text on the reviewer's terminal: control characters as \xNN (cli/termsafe.c). */
static void put_safe(const char *s, size_t len)
{
	char *in = strndup(s, len), *buf = malloc(len * 4 + 1);

	if (in && buf)
		fputs(dg_cli_termsafe(in, buf, len * 4 + 1), stdout);
	free(in);
	free(buf);
}

static const char *safe(const char *s, char *buf, size_t len)
{
	return s ? dg_cli_termsafe(s, buf, len) : NULL;
}

int dg_cmd_dumps_show(struct dg_dumpdir *dir, const char *name, bool json, bool full_log)
{
	struct dg_error err = { 0 };
	struct dg_buf log = DG_BUF_INIT;
	json_object *side = NULL, *kernel = NULL, *out = NULL;
	char sidecar[DG_DUMPNAME_MAX + 16];
	const char *from;
	bool live = false;
	unsigned total = 0;
	int dirfd = dg_dumpdir_fd(dir), r = 0;

	if (strchr(name, '/') || !dg_dumpname_parse(name, NULL, 0, NULL, NULL, NULL))
		return dg_cli_usage_error("dumps", "'%s' is not a dump's name (NAME-YYYYMMDD-hhmmss.gcore): see "
					  "'diagint dumps list'", name);
	snprintf(sidecar, sizeof(sidecar), "%s.json", name);
	side = read_json(dirfd, sidecar);
	if (side && json_object_object_get_ex(side, "kernel", &kernel) && kernel) {
		json_object_get(kernel);
		read_log(dirfd, name, &log);
	} else {
		/* No analysis recorded (an older diagint, or a dump copied here): do it now, writing nothing. */
		struct dg_vmcore_kernel *k = calloc(1, sizeof(*k));
		int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

		kernel = NULL;
		if (!k || fd < 0) {
			if (fd < 0 && errno == ENOENT)
				dg_error_set(&err, DG_NOTFOUND, "no dump named %s in %s: see 'diagint dumps list'", name,
					     dg_dumpdir_path(dir));
			else
				dg_error_set_errno(&err, DG_FAILED, errno, "cannot open %s/%s", dg_dumpdir_path(dir), name);
			r = dg_cli_fail(&err);
		} else if (dg_vmcore_analyze_fd(fd, name, k, &log, &err) < 0 && !k->analyzed) {
			r = dg_cli_fail(&err);
		} else {
			if (err.status)
				fprintf(stderr, "diagint: %s\n", err.message);
			kernel = dg_vmcore_kernel_to_json(k);
			live = true;
		}
		if (fd >= 0)
			close(fd);
		free(k);
		if (r)
			goto out;
	}
	from = tail(dg_buf_str(&log), log.len, full_log ? 0 : DG_SHOW_TAIL, &total);
	if (json) {
		json_object *lines = json_object_new_array();
		const char *p = from, *end = dg_buf_str(&log) + log.len;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
			json_object_array_add(lines, json_object_new_string_len(p, (int)n));
			p += n + 1;
		}
		out = json_object_new_object();
		json_object_object_add(out, "name", json_object_new_string(name));
		json_object_object_add(out, "path", json_object_new_string(dg_dumpdir_path(dir)));
		json_object_object_add(out, "analyzed_now", json_object_new_boolean(live));
		json_object_object_add(out, "kernel", json_object_get(kernel));
		json_object_object_add(out, "log_lines", json_object_new_int64(total));
		json_object_object_add(out, "log", lines);
		puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		json_object *cpus = NULL;
		char b1[2048], b2[1024], b3[1024], b4[1024];
		const char *panic = safe(jget(kernel, "panic"), b1, sizeof(b1));
		const char *bid = safe(jget(kernel, "build_id"), b2, sizeof(b2));
		printf("      Dump: %s/%s\n", dg_dumpdir_path(dir), name);
		printf("    Kernel: %s%s%s%s\n", safe(jget(kernel, "release"), b3, sizeof(b3)) ?: "(release unknown)",
		       bid ? " (build id " : "",
		       bid ?: "", bid ? ")" : "");
		printf("     Panic: %s\n", panic ?: "(no \"Kernel panic\" line in the log)");
		if (json_object_object_get_ex(kernel, "cpus", &cpus) && json_object_is_type(cpus, json_type_array)) {
			for (size_t i = 0; i < json_object_array_length(cpus); i++) {
				json_object *c = json_object_array_get_idx(cpus, i), *num = NULL;
				const char *sym = safe(jget(c, "symbol"), b4, sizeof(b4));
				json_object_object_get_ex(c, "cpu", &num);
				printf("     CPU %d: %s  %s\n", num ? json_object_get_int(num) : (int)i, jget(c, "ip") ?: "?",
				       sym && sym[0] ? sym : "(not in kernel text: a module, user space or firmware)");
			}
		}
		if (log.len) {
			if (full_log || total <= DG_SHOW_TAIL)
				printf("Kernel log (%u lines):\n", total);
			else
				printf("Kernel log, last %d of %u lines (--log for all):\n", DG_SHOW_TAIL, total);
			const char *end = dg_buf_str(&log) + log.len;
			for (const char *p = from; p < end;) {
				const char *nl = memchr(p, '\n', (size_t)(end - p));
				size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
				put_safe(p, n);
				putchar('\n');
				p += n + 1;
			}
		} else {
			printf("Kernel log: not available\n");
		}
	}
out:
	json_object_put(out);
	json_object_put(kernel);
	json_object_put(side);
	dg_buf_free(&log);
	return r;
}
