/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The |COMMAND destination, as QNX qvm's dump option has it: the dump goes to the standard input of a shell
 * command. Names reach the command through its environment, never through its text. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "diagint/clock.h"
#include "capture/sink.h"

extern char **environ;

struct command_sink {
	struct dg_sink base;
	char *command;
	pid_t pid;
	int in;  /* write end of the command's stdin, non-blocking */
	int out; /* read end of its stdout+stderr, non-blocking */
	double stall;
	dg_log_fn log;
	void *ud;
	char line[1024];
	size_t line_len;
	bool reaped;
	int status;
};

static void emit_line(struct command_sink *c)
{
	char msg[1200];

	if (!c->line_len)
		return;
	c->line[c->line_len] = '\0';
	snprintf(msg, sizeof(msg), "destination command: %s", c->line);
	if (c->log)
		c->log(c->ud, DG_LOG_INFO, msg);
	c->line_len = 0;
}

/* Forward what the command printed, a line at a time; false at EOF. */
static bool drain_output(struct command_sink *c)
{
	char buf[512];
	ssize_t n;

	while ((n = read(c->out, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' || c->line_len == sizeof(c->line) - 1)
				emit_line(c);
			if (buf[i] != '\n')
				c->line[c->line_len++] = buf[i];
		}
	}
	if (n == 0) {
		emit_line(c);
		return false;
	}
	return true;
}

static void describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "ended with wait status %d", status);
}

static bool reap(struct command_sink *c, bool block)
{
	pid_t r;

	if (c->reaped)
		return true;
	do
		r = waitpid(c->pid, &c->status, block ? 0 : WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == c->pid || (r < 0 && errno == ECHILD)) {
		/* ECHILD: the host process ignores SIGCHLD (collectd does), the kernel reaped it; status unknown. */
		if (r < 0)
			c->status = 0;
		c->reaped = true;
	}
	return c->reaped;
}

/* A write to a pipe whose reader is gone raises SIGPIPE; the library must not kill its host process, nor change
 * the process-wide disposition. Block it on this thread and swallow the pending one. */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t len)
{
	sigset_t set, old;
	ssize_t n;
	int e;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	n = write(fd, buf, len);
	e = errno;
	if (n < 0 && e == EPIPE) {
		struct timespec zero = { 0, 0 };
		sigtimedwait(&set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return n;
}

static int cmd_write(struct dg_sink *s, const void *buf, size_t len, struct dg_error *err)
{
	struct command_sink *c = (struct command_sink *)s;
	const char *p = buf;
	double last = dg_clock_mono();

	while (len > 0) {
		struct pollfd fds[2] = { { .fd = c->in, .events = POLLOUT }, { .fd = c->out, .events = POLLIN } };
		int wait_ms = dg_clock_left_ms(last + c->stall, 1000);

		if (wait_ms <= 0)
			return dg_error_set(err, DG_FAILED,
					    "destination command '%s' stopped reading the dump (nothing taken for %.3g s)",
					    c->command, c->stall);
		if (poll(fds, c->out >= 0 ? 2 : 1, wait_ms) < 0 && errno != EINTR)
			return dg_error_set_errno(err, DG_FAILED, errno, "poll");
		if (c->out >= 0 && (fds[1].revents & (POLLIN | POLLHUP)) && !drain_output(c)) {
			close(c->out);
			c->out = -1;
		}
		if (fds[0].revents & (POLLOUT | POLLERR)) {
			ssize_t n = write_nosigpipe(c->in, p, len);
			if (n < 0) {
				char st[128] = "closed its input";
				if (errno == EAGAIN)
					continue;
				if (errno != EPIPE)
					return dg_error_set_errno(err, DG_FAILED, errno, "cannot write to '%s'", c->command);
				/* Give the command a moment to exit so that its status can be named. */
				for (int i = 0; i < 20 && !reap(c, false); i++)
					usleep(10000);
				if (c->reaped)
					describe_status(c->status, st, sizeof(st));
				return dg_error_set(err, DG_FAILED,
						    "destination command '%s' %s before it read the whole dump "
						    "(%llu bytes taken)", c->command, st,
						    (unsigned long long)s->written);
			}
			p += n;
			len -= (size_t)n;
			s->written += (uint64_t)n;
			last = dg_clock_mono();
		}
	}
	return 0;
}

static int cmd_finish(struct dg_sink *s, struct dg_error *err)
{
	struct command_sink *c = (struct command_sink *)s;
	double deadline = dg_clock_mono() + c->stall;
	char st[128];

	close(c->in);
	c->in = -1;
	while (!reap(c, false)) {
		struct pollfd fd = { .fd = c->out, .events = POLLIN };
		if (dg_clock_left(deadline) == 0) {
			kill(-c->pid, SIGKILL);
			reap(c, true);
			return dg_error_set(err, DG_FAILED,
					    "destination command '%s' did not exit within %.3g s after the dump ended; "
					    "killed", c->command, c->stall);
		}
		if (c->out >= 0) {
			if (poll(&fd, 1, 100) > 0 && !drain_output(c)) {
				close(c->out);
				c->out = -1;
			}
		} else {
			usleep(10000);
		}
	}
	if (c->out >= 0)
		drain_output(c);
	if (!WIFEXITED(c->status) || WEXITSTATUS(c->status) != 0) {
		describe_status(c->status, st, sizeof(st));
		return dg_error_set(err, DG_FAILED, "destination command '%s' %s", c->command, st);
	}
	return 0;
}

static void cmd_abort(struct dg_sink *s)
{
	struct command_sink *c = (struct command_sink *)s;

	if (c->in >= 0) {
		close(c->in);
		c->in = -1;
	}
	if (!reap(c, false)) {
		kill(-c->pid, SIGTERM);
		for (int i = 0; i < 100 && !reap(c, false); i++)
			usleep(10000);
		if (!reap(c, false)) {
			kill(-c->pid, SIGKILL);
			reap(c, true);
		}
	}
	/* The shell may be gone while what it started still runs. */
	kill(-c->pid, SIGKILL);
	if (c->out >= 0)
		drain_output(c);
}

static void cmd_free(struct dg_sink *s)
{
	struct command_sink *c = (struct command_sink *)s;

	if (!c->reaped)
		cmd_abort(s);
	if (c->in >= 0)
		close(c->in);
	if (c->out >= 0)
		close(c->out);
	free(c->command);
	free(c);
}

static const struct dg_sink_ops command_ops = {
	.write = cmd_write,
	.pwrite = NULL,
	.finish = cmd_finish,
	.abort = cmd_abort,
	.free = cmd_free,
};

int dg_sink_command_new(const char *command, char *const env[], double stall_timeout, dg_log_fn log,
			void *log_userdata, struct dg_sink **ret, struct dg_error *err)
{
	struct command_sink *c;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };
	size_t nextra = 0;
	char **childenv = NULL;
	int e;

	while (*command == '|' || *command == ' ' || *command == '\t')
		command++;
	if (!*command)
		return dg_error_set(err, DG_USAGE, "destination '|' has no command after the pipe");
	c = calloc(1, sizeof(*c));
	if (!c || !(c->command = strdup(command)))
		goto oom;
	c->base.ops = &command_ops;
	c->stall = stall_timeout > 0 ? (stall_timeout < 86400 ? stall_timeout : 86400) : 60;
	c->log = log;
	c->ud = log_userdata;
	c->in = c->out = -1;

	/* A minimal environment: PATH and our DIAGINT_* variables. Nothing else of ours (cloud keys, tokens, proxy
	 * and CA settings) reaches the command; what it needs, the configuration's command text says itself. */
	while (env && env[nextra])
		nextra++;
	childenv = calloc(nextra + 2, sizeof(*childenv));
	if (!childenv)
		goto oom;
	for (size_t i = 0; i < nextra; i++)
		childenv[i] = env[i];
	childenv[nextra] = (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	for (size_t i = 0; environ[i]; i++)
		if (!strncmp(environ[i], "PATH=", 5))
			childenv[nextra] = environ[i];

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		e = errno;
		goto fail_errno;
	}
	c->pid = fork();
	if (c->pid < 0) {
		e = errno;
		goto fail_errno;
	}
	if (c->pid == 0) {
		sigset_t none;
		/* Its own process group, so that stopping it stops whatever the shell started too. */
		setpgid(0, 0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		dup2(out[1], STDERR_FILENO);
		execve("/bin/sh", (char *const[]){ "sh", "-c", c->command, NULL }, childenv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	c->in = in[1];
	c->out = out[0];
	fcntl(c->in, F_SETFL, fcntl(c->in, F_GETFL) | O_NONBLOCK);
	fcntl(c->out, F_SETFL, fcntl(c->out, F_GETFL) | O_NONBLOCK);
	/* Bigger pipe, fewer wake-ups: a dump streams hundreds of MiB. */
	fcntl(c->in, F_SETPIPE_SZ, 1 << 20);
	free(childenv);
	*ret = &c->base;
	return 0;

fail_errno:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	free(childenv);
	free(c->command);
	free(c);
	return dg_error_set_errno(err, DG_FAILED, e, "cannot start destination command '%s'", command);
oom:
	if (c)
		free(c->command);
	free(c);
	return dg_error_set(err, DG_FAILED, "out of memory");
}
