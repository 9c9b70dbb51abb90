/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* diagint watch: the hung-domain watcher in the foreground (a systemd service in production). */
#include <getopt.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dg_config.h"
#include "diagint/config.h"
#include "watch/watch.h"
#include "diagint/watch_config.h"

static volatile sig_atomic_t stop_flag, reload_flag;

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void on_hup(int sig)
{
	(void)sig;
	reload_flag = 1;
}

void dg_cmd_watch_help(void)
{
	printf("Usage: diagint watch [--config FILE] [--connect URI] [--dry-run]\n\n"
	       "Watch every running libvirt domain and act without anyone awake:\n"
	       "  - a guest that panics (libvirt CRASHED event, or found crashed on connect) is captured;\n"
	       "  - a guest whose watchdog fires (WATCHDOG event), or whose active probes all miss\n"
	       "    ProbeMisses times in a row while it runs, gets an NMI and is captured. Probes, per\n"
	       "    domain ([watch] Probes + ProbeDomains, or probes=\"...\" in its <metadata>):\n"
	       "      heartbeat  a text (Heartbeat) must keep appearing in its serial log file\n"
	       "      cputime    its vCPUs must keep using CPU time (a halted guest uses none)\n"
	       "      agent      the QEMU guest agent must answer guest-ping (weak alone: combine it)\n"
	       "    A paused guest is never hung; a probe counts only after it saw the guest alive once;\n"
	       "  - every automatic NMI passes the brakes first: per-domain cooldown (kept in StateFile across\n"
	       "    restarts), at most MaxActions per ActionWindow on the host, no NMI while more than\n"
	       "    StormPercent of the watched domains look hung at once, MaxCaptures at a time.\n"
	       "Runs in the foreground, logs to stderr (the journal under systemd), tells systemd when ready.\n"
	       "Reconnects with backoff when libvirt goes away. SIGHUP reloads the configuration; SIGTERM\n"
	       "stops, aborting a capture in flight cleanly. Every action and every refusal goes to the audit log.\n\n"
	       "Options:\n"
	       "  -C, --config FILE   configuration (default %s; missing: built-in defaults)\n"
	       "  -c, --connect URI   libvirt URI (default: libvirt's default, qemu:///system as root)\n"
	       "  -n, --dry-run       evaluate everything, log and audit what would be done, do nothing\n"
	       "  -h, --help          this help\n\n"
	       "Dumps go where [capture] Destination says (default %s), as with 'diagint inject'.\n"
	       "Example [watch]: Probes = heartbeat cputime / Heartbeat = diagint-heartbeat /\n"
	       "ProbeInterval = 5s / ProbeMisses = 3 -- a hang is both silent for three looks in a row.\n"
	       "See diagint-watch(8) and diagint.conf(5) for the [watch] keys.\n\n",
	       DG_CONFIG_DEFAULT_PATH, DG_DEFAULT_DUMP_DIR);
	dg_cli_print_exit_statuses();
}

/* sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET (an abstract socket when it starts with '@'). */
static void notify(void *ud, const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	(void)ud;
	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
	close(fd);
}

/* The journal stamps every line itself; elsewhere a time with milliseconds makes the log readable later. */
static void watch_log(void *ud, enum dg_log_level level, const char *message)
{
	bool journal = ud != NULL;
	struct timespec ts;
	struct tm tm;
	char stamp[32];

	if (journal) {
		fprintf(stderr, "%s%s\n", level == DG_LOG_WARNING ? "<4>" : "<6>", message);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld %s watch: %s%s\n", stamp, ts.tv_nsec / 1000000, dg_cli_prog,
		level == DG_LOG_WARNING ? "warning: " : "", message);
}

/* What the command line asks for: the watcher's options without the callbacks run() adds. */
struct watch_args {
	struct dg_watch_opts o;
	bool help;
};

/* The options into *a; prints nothing but usage errors. Returns 0 or the status to exit with. */
static int parse_args(int argc, char **argv, struct watch_args *a)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'C' },
		{ "connect", required_argument, NULL, 'c' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*a = (struct watch_args){ 0 };
	optind = 1;
	opterr = 0; /* one message, ours, as in every other command */
	while ((c = getopt_long(argc, argv, "C:c:nh", longopts, NULL)) != -1) {
		switch (c) {
		case 'C':
			dg_cli_override("config", optarg);
			a->o.config_path = optarg;
			break;
		case 'c':
			dg_cli_override("uri", optarg);
			a->o.uri = optarg;
			break;
		case 'n':
			a->o.dry_run = true;
			break;
		case 'h':
			a->help = true; /* whatever follows */
			return 0;
		default:
			return dg_cli_bad_option("watch", optopt, argv, optind);
		}
	}
	if (optind < argc)
		return dg_cli_usage_error("watch", "unexpected argument '%s'", argv[optind]);
	return 0;
}

static int run(const struct watch_args *a)
{
	struct dg_watch_opts o = a->o;
	struct sigaction sa = { 0 };
	struct dg_error err = { 0 };

	if (dg_cli_refuse_overrides("watch", &err) < 0)
		return dg_cli_fail(&err);

	o.stop = &stop_flag;
	o.reload = &reload_flag;
	o.notify = notify;
	o.log = watch_log;
	/* systemd sets JOURNAL_STREAM when stderr is the journal: then <N> prefixes set the priority. */
	o.log_userdata = getenv("JOURNAL_STREAM") ? (void *)1 : NULL;
	setvbuf(stderr, NULL, _IOLBF, 0);

	/* No SA_RESTART: the loop wakes within a tick anyway; the flags are all a handler may touch. */
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (dg_watch_run(&o, &err) < 0)
		return dg_cli_fail(&err);
	return 0;
}

int dg_cmd_watch(int argc, char **argv)
{
	struct watch_args a;
	int r = parse_args(argc, argv, &a);

	if (r)
		return r;
	if (a.help) {
		dg_cmd_watch_help();
		return 0;
	}
	return run(&a);
}
