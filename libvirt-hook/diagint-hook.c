/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* /etc/libvirt/hooks/qemu.d/diagint: libvirt runs it with DOMAIN OP SUBOP EXTRA and the domain XML on stdin.
 *
 * Rules that come from where it runs: libvirtd waits for it while holding the domain's lock, so it never calls
 * libvirt (deadlock) and does nothing slow; a failing exit status makes libvirt refuse the start, so it fails
 * only when configured to ([watch] HookRefuseStart = yes) and only on `prepare`; anything it does not
 * understand (bad XML, an unknown operation, its own configuration broken) is logged and it exits 0.
 *
 *   prepare begin:              the domain's dump destination exists, is writable and has room for its RAM;
 *                               warn (or refuse the start when configured)
 *   started / stopped / release: tell `diagint watch` through its socket, so probes start and stop at once */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "dg_config.h"
#include "diagint/config.h"
#include "diagint/domxml.h"
#include "diagint/dumpdir.h"
#include "diagint/inject.h"
#include "diagint/watch_config.h"

#define XML_MAX (16u << 20)

static void hlog(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hlog(int prio, const char *fmt, ...)
{
	va_list ap;

	/* stderr ends up in libvirtd's log (and in its error message when we refuse); syslog keeps the rest. */
	va_start(ap, fmt);
	vsyslog(prio, fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	fprintf(stderr, "diagint-hook: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static char *read_stdin(size_t *ret_len)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap + 1);
	ssize_t n;

	if (!buf)
		return NULL;
	while ((n = read(STDIN_FILENO, buf + len, cap - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
		if (len == cap) {
			char *nb;
			if (cap >= XML_MAX)
				break; /* not a domain definition any more: parse what we have, it will fail */
			nb = realloc(buf, cap * 2 + 1);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
	}
	buf[len] = '\0';
	*ret_len = len;
	return buf;
}

/* 0: fine or only warned; 1: refuse the start. */
static int check_destination(const struct dg_config *cfg, const char *name, uint64_t ram)
{
	const struct dg_watch_config *wc = dg_config_watch(cfg);
	struct dg_capture_policy p;
	const char *dest;
	struct dg_dumpdir *dir = NULL;
	struct dg_error e = { 0 };
	struct statvfs vfs;
	struct stat st;
	uint64_t avail, need, keep;
	char problem[1400] = "";
	bool missing = false;

	dg_config_capture_policy(cfg, name, &p);
	dest = p.dest[0] ? p.dest : DG_DEFAULT_DUMP_DIR;
	if (dest[0] == '|')
		return 0; /* a command takes the stream: nothing to check on this host's disks */
	if (stat(dest, &st) < 0 && errno == ENOENT && dg_dumpdir_is_default(dest)) {
		/* The answer doctor and inject give too: the first capture creates the default; its room is that of
		 * the filesystem it will be made on. */
		if (dg_dumpdir_open_dry(dest, true, &dir, &missing, &e) < 0)
			snprintf(problem, sizeof(problem), "%s", e.message);
		else
			hlog(LOG_INFO, "%s: dump destination %s does not exist yet: the first capture creates it (mode "
			     "0700)", name, dest);
	} else if (stat(dest, &st) < 0 || !S_ISDIR(st.st_mode))
		snprintf(problem, sizeof(problem), "dump destination %s does not exist or is not a directory", dest);
	else if (access(dest, W_OK | X_OK) < 0)
		snprintf(problem, sizeof(problem), "dump destination %s is not writable", dest);
	if (!problem[0] && (dir ? fstatvfs(dg_dumpdir_fd(dir), &vfs) : statvfs(dest, &vfs)) == 0) {
		avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
		keep = dg_size_limit_bytes(&p.keep_free, (uint64_t)vfs.f_blocks * vfs.f_frsize);
		need = dg_inject_dump_bytes_needed(ram) + keep;
		if (avail < need)
			snprintf(problem, sizeof(problem),
				 "dump destination %s has %llu MiB free, a dump of this %llu MiB guest needs %llu MiB "
				 "(KeepFree included)",
				 dest, (unsigned long long)(avail >> 20), (unsigned long long)(ram >> 20),
				 (unsigned long long)(need >> 20));
	}
	dg_dumpdir_free(dir);
	if (!problem[0])
		return 0;
	if (wc->hook_refuse_start) {
		hlog(LOG_ERR, "%s: refusing to start: %s (HookRefuseStart = yes)", name, problem);
		return 1;
	}
	hlog(LOG_WARNING, "%s: %s; starting anyway: a hang of this guest could not be captured", name, problem);
	return 0;
}

/* A datagram, never waiting: a watcher that is not running or not reading must not slow a start down. */
static void tell_watcher(const struct dg_config *cfg, const char *op, const char *name, const char *uuid)
{
	const char *path = getenv("DIAGINT_WATCH_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char msg[512];
	int fd, n;

	if (!path || !*path)
		path = dg_config_watch(cfg)->socket;
	if (!path[0] || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	n = snprintf(msg, sizeof(msg), "%s %s %s", op, uuid ? uuid : "-", name);
	/* A long name is cut, never read past the buffer (snprintf returns the length it wanted). */
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		n = (int)sizeof(msg) - 1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
	    errno != ENOENT && errno != ECONNREFUSED)
		hlog(LOG_WARNING, "%s: cannot tell the watcher at %s: %s", name, path, strerror(errno));
	close(fd);
}

int main(int argc, char **argv)
{
	static const char *const known[] = { "prepare", "start", "started", "stopped", "release", "migrate",
					     "restore", "reconnect", "attach", NULL };
	const char *op, *subop, *arg_name;
	struct dg_config *cfg = NULL;
	struct dg_error err = { 0 };
	struct dg_domxml x;
	char *xml;
	size_t len = 0;
	int i, rc = 0;

	/* diagint.conf may hold the etcd Password of [fleet]: no core dump of ours may carry it away. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	openlog("diagint-hook", LOG_PID, LOG_DAEMON);
	xml = read_stdin(&len);
	if (argc < 3) {
		hlog(LOG_WARNING, "called with %d argument%s, expected DOMAIN OP SUBOP EXTRA; ignoring", argc - 1,
		     argc == 2 ? "" : "s");
		goto out;
	}
	arg_name = argv[1];
	op = argv[2];
	subop = argc > 3 ? argv[3] : "-";
	for (i = 0; known[i] && strcmp(known[i], op); i++)
		;
	if (!known[i]) {
		hlog(LOG_WARNING, "%s: unknown operation '%s %s'; ignoring", arg_name, op, subop);
		goto out;
	}
	if (strcmp(op, "prepare") && strcmp(op, "started") && strcmp(op, "stopped") && strcmp(op, "release"))
		goto out; /* nothing to do for the others */

	if (dg_config_load(getenv("DIAGINT_CONFIG"), &cfg, &err) < 0) {
		hlog(LOG_WARNING, "%s: %s; ignoring this event", arg_name, err.message);
		goto out;
	}
	/* The reader the doctor and the watcher use (domxml.h). */
	if (!xml || !len || dg_domxml_parse_len(xml, len, &x, &err) < 0 || !x.name[0]) {
		hlog(LOG_WARNING, "%s: %s %s: the domain XML on stdin is missing or malformed; ignoring", arg_name, op,
		     subop);
		goto out;
	}

	if (!strcmp(op, "prepare")) {
		if (!strcmp(subop, "begin"))
			rc = check_destination(cfg, x.name, x.memory_bytes);
	} else {
		tell_watcher(cfg, op, x.name, x.uuid[0] ? x.uuid : NULL);
	}
out:
	free(xml);
	dg_config_free(cfg);
	closelog();
	return rc;
}
