/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Dump sinks: a sparse file that reads back byte for byte, and a |COMMAND that gets the dump on its standard
 * input, has its output logged, is judged by its exit status, and never takes the host process down with it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "diagint/sink.h"
#include "tap.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static char scratch[] = "/tmp/dg-test-sink-XXXXXX";

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pattern(unsigned char *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16) | 1;
	}
}

static const char *at(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", scratch, name);
	return buf;
}

static int new_file(const char *path)
{
	return open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
}

/* File content equals want[0..len) and nothing more. */
static bool file_is(int fd, const unsigned char *want, size_t len)
{
	struct stat st;
	unsigned char *got;
	bool same;

	if (fstat(fd, &st) < 0 || (size_t)st.st_size != len)
		return false;
	got = malloc(len ? len : 1);
	if (!got)
		return false;
	same = pread(fd, got, len, 0) == (ssize_t)len && memcmp(got, want, len) == 0;
	free(got);
	return same;
}

static bool path_is(const char *path, const void *want, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool same;

	if (fd < 0)
		return false;
	same = file_is(fd, want, len);
	close(fd);
	return same;
}

static uint64_t allocated(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? (uint64_t)st.st_blocks * 512 : UINT64_MAX;
}

static off_t size_of(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? st.st_size : -1;
}

/* 8 MiB, almost all zero: a non-zero first block, one in the middle, a lone byte, a non-zero last byte. */
static unsigned char *mostly_zero(size_t len)
{
	unsigned char *b = calloc(1, len);

	if (!b)
		abort();
	pattern(b, 4096, 1);
	pattern(b + 4 * MiB, 4096, 2);
	b[6 * MiB + 123] = 0x77;
	b[len - 1] = 0x42;
	return b;
}

/* Write `buf` through a new file sink in pieces of `piece` bytes (0: one write); finish. */
static int write_file(const char *path, bool sparse, const unsigned char *buf, size_t len, size_t piece, int *fd_out,
		      uint64_t *written)
{
	struct dg_sink *s = NULL;
	struct dg_error err;
	int fd = new_file(path), r;

	*fd_out = fd;
	memset(&err, 0, sizeof(err));
	if (fd < 0 || dg_sink_file_new(fd, sparse, path, &s, &err) < 0)
		return -100;
	r = 0;
	for (size_t off = 0; off < len && r == 0;) {
		size_t n = piece && piece < len - off ? piece : len - off;
		r = dg_sink_write(s, buf + off, n, &err);
		off += n;
	}
	if (r == 0)
		r = dg_sink_finish(s, &err);
	*written = s->written;
	dg_sink_free(s);
	return r;
}

static void test_file_sparse(void)
{
	const size_t len = 8 * MiB;
	unsigned char *buf = mostly_zero(len), *tail;
	char path[512];
	uint64_t written;
	int fd, r;

	/* One write: zero blocks become holes. */
	r = write_file(at("sparse.gcore", path, sizeof(path)), true, buf, len, 0, &fd, &written);
	CHECK(r == 0 && written == len, "sparse, one 8 MiB write: accepted (%d, %llu written)", r,
	      (unsigned long long)written);
	CHECK(size_of(fd) == (off_t)len, "size is 8 MiB (%lld)", (long long)size_of(fd));
	CHECK(allocated(fd) <= 256 * KiB, "mostly zero: only %llu bytes allocated (of 8 MiB)",
	      (unsigned long long)allocated(fd));
	CHECK(file_is(fd, buf, len), "reads back byte-identical");
	close(fd);

	/* 64 KiB pieces: still aligned blocks, still holes. */
	r = write_file(path, true, buf, len, 64 * KiB, &fd, &written);
	CHECK(r == 0 && written == len, "sparse, 64 KiB pieces: accepted (%d)", r);
	CHECK(allocated(fd) <= 256 * KiB && file_is(fd, buf, len), "holes, byte-identical (%llu allocated)",
	      (unsigned long long)allocated(fd));
	close(fd);

	/* 1000-byte pieces: blocks never arrive whole, but the content is the same. */
	r = write_file(path, true, buf, len, 1000, &fd, &written);
	CHECK(r == 0 && written == len, "sparse, 1000-byte pieces: accepted (%d, %llu)", r,
	      (unsigned long long)written);
	CHECK(size_of(fd) == (off_t)len && file_is(fd, buf, len), "unaligned pieces: byte-identical");
	close(fd);

	/* 4097-byte pieces: never aligned after the first one. */
	r = write_file(path, true, buf, len, 4097, &fd, &written);
	CHECK(r == 0 && file_is(fd, buf, len), "sparse, 4097-byte pieces: byte-identical (%d)", r);
	close(fd);

	/* Not sparse: every block allocated. */
	r = write_file(path, false, buf, len, 0, &fd, &written);
	CHECK(r == 0 && written == len, "not sparse: accepted (%d)", r);
	CHECK(allocated(fd) >= len, "not sparse: fully allocated (%llu)", (unsigned long long)allocated(fd));
	CHECK(file_is(fd, buf, len), "not sparse: byte-identical");
	close(fd);

	/* Trailing zero blocks: only finish can give the file its size. */
	tail = calloc(1, 4096 + MiB);
	pattern(tail, 4096, 3);
	r = write_file(path, true, tail, 4096 + MiB, 0, &fd, &written);
	CHECK(r == 0, "sparse, trailing 1 MiB of zeros: accepted (%d)", r);
	CHECK(size_of(fd) == (off_t)(4096 + MiB), "size includes the trailing hole (%lld)", (long long)size_of(fd));
	CHECK(allocated(fd) <= 64 * KiB && file_is(fd, tail, 4096 + MiB), "trailing zeros are a hole (%llu), content right",
	      (unsigned long long)allocated(fd));
	close(fd);
	/* All zeros. */
	memset(tail, 0, 4096 + MiB);
	r = write_file(path, true, tail, MiB, 0, &fd, &written);
	CHECK(r == 0 && size_of(fd) == (off_t)MiB && file_is(fd, tail, MiB),
	      "sparse, 1 MiB of zeros only: 1 MiB file of zeros (%d, %lld)", r, (long long)size_of(fd));
	close(fd);
	unlink(path);
	free(tail);
	free(buf);
}

static void test_file_pwrite(void)
{
	unsigned char want[24581], blk[4096], zeros[8192];
	char path[512];
	struct dg_sink *s = NULL;
	struct dg_error err;
	int fd, r;

	for (int sparse = 1; sparse >= 0; sparse--) {
		memset(want, 0, sizeof(want));
		memset(zeros, 0, sizeof(zeros));
		pattern(blk, sizeof(blk), 4);
		fd = new_file(at("pwrite.kdump", path, sizeof(path)));
		memset(&err, 0, sizeof(err));
		r = dg_sink_file_new(fd, sparse, path, &s, &err);
		CHECK(r == 0 && s && dg_sink_seekable(s), "sparse=%d: file sink is seekable (%d)", sparse, r);
		if (r < 0) {
			close(fd);
			continue;
		}
		r = dg_sink_pwrite(s, "abc", 3, 10000, &err);
		memcpy(want + 10000, "abc", 3);
		r |= dg_sink_pwrite(s, blk, sizeof(blk), 0, &err);
		memcpy(want, blk, sizeof(blk));
		r |= dg_sink_pwrite(s, zeros, sizeof(zeros), 16384, &err);
		/* write() continues after the highest byte so far */
		r |= dg_sink_write(s, "tail!", 5, &err);
		memcpy(want + 24576, "tail!", 5);
		r |= dg_sink_finish(s, &err);
		CHECK(r == 0, "sparse=%d: pwrites, a write and finish succeed (%s)", sparse, r ? err.message : "ok");
		CHECK(file_is(fd, want, sizeof(want)), "sparse=%d: data at its offsets, gaps zero, write appended at 24576",
		      sparse);
		CHECK(s->written == 3 + 4096 + 8192 + 5, "sparse=%d: written counts every byte given (%llu)", sparse,
		      (unsigned long long)s->written);
		dg_sink_free(s);
		close(fd);

		/* Zeros written over data must replace it, as in any file. */
		fd = new_file(path);
		memset(&err, 0, sizeof(err));
		r = dg_sink_file_new(fd, sparse, path, &s, &err);
		r |= dg_sink_pwrite(s, blk, sizeof(blk), 0, &err);
		r |= dg_sink_pwrite(s, zeros, 4096, 0, &err);
		r |= dg_sink_finish(s, &err);
		CHECK(r == 0 && file_is(fd, zeros, 4096), "sparse=%d: a zero block written over data reads back as "
		      "zeros (%d)", sparse, r);
		dg_sink_free(s);
		close(fd);
		unlink(path);
	}
}

static void test_file_full(void)
{
	char dir[512], path[600], cmd[700];
	unsigned char *buf;
	struct dg_sink *s = NULL;
	struct dg_error err;
	int fd, r;

	at("full", dir, sizeof(dir));
	mkdir(dir, 0700);
	snprintf(cmd, sizeof(cmd), "mount -t tmpfs -o size=1m tmpfs '%s' 2>/dev/null", dir);
	if (geteuid() != 0 || system(cmd) != 0) {
		SKIP_ONE("full filesystem: needs root to mount a 1 MiB tmpfs");
		rmdir(dir);
		return;
	}
	snprintf(path, sizeof(path), "%s/big.gcore", dir);
	fd = new_file(path);
	buf = malloc(2 * MiB);
	pattern(buf, 2 * MiB, 5);
	memset(&err, 0, sizeof(err));
	r = fd < 0 ? -100 : dg_sink_file_new(fd, true, path, &s, &err);
	if (r == 0)
		r = dg_sink_write(s, buf, 2 * MiB, &err);
	CHECK(r == -DG_FAILED && err.status == DG_FAILED && err.sys_errno == ENOSPC,
	      "2 MiB into a 1 MiB tmpfs: DG_FAILED, ENOSPC (%d, errno %d)", r, err.sys_errno);
	CHECK(strstr(err.message, "No space left on device") && strstr(err.message, path) &&
		      strstr(err.message, "cannot write the dump to"),
	      "message names the path and the cause: %s", err.message);
	dg_sink_abort(s);
	dg_sink_free(s);
	free(buf);
	if (fd >= 0)
		close(fd);
	snprintf(cmd, sizeof(cmd), "umount '%s'", dir);
	CHECK(system(cmd) == 0, "tmpfs unmounted");
	rmdir(dir);
}

/* Log lines from the command. */
struct logs {
	int n;
	enum dg_log_level level[16];
	char msg[16][1200];
};

static void collect(void *ud, enum dg_log_level level, const char *message)
{
	struct logs *l = ud;

	if (l->n < 16) {
		l->level[l->n] = level;
		snprintf(l->msg[l->n], sizeof(l->msg[0]), "%s", message);
	}
	l->n++;
}

static struct dg_sink *start(const char *command, char *const env[], double stall, struct logs *logs)
{
	struct dg_sink *s = NULL;
	struct dg_error err;
	int r;

	if (logs)
		memset(logs, 0, sizeof(*logs));
	memset(&err, 0, sizeof(err));
	r = dg_sink_command_new(command, env, stall, logs ? collect : NULL, logs, &s, &err);
	CHECK(r == 0 && s, "started '%s' (%d: %s)", command, r, err.message);
	return r == 0 ? s : NULL;
}

static int read_pid(const char *path)
{
	char buf[32] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC), pid;
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	pid = atoi(buf);
	return pid > 1 ? pid : -1;
}

static bool gone(int pid)
{
	return pid > 1 && kill(pid, 0) < 0 && errno == ESRCH;
}

static void test_command_data_and_env(void)
{
	const size_t len = 3 * MiB;
	char out[512], envfile[600], env_out[600], want_env[64];
	char *env[] = { env_out, "DG_TEST_VAR=given", "DG_TEST_EXTRA=extra value", NULL };
	unsigned char *buf = malloc(len);
	struct dg_sink *s;
	struct dg_error err;
	unsigned seed = 7;
	int r = 0, calls = 0;

	pattern(buf, len, 6);
	at("piped.gcore", out, sizeof(out));
	snprintf(env_out, sizeof(env_out), "OUT=%s", out);
	snprintf(envfile, sizeof(envfile), "%s.env", out);
	setenv("DG_TEST_VAR", "ours", 1);
	setenv("DG_TEST_INHERITED", "inherited", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t", 1);
	s = start("printf '%s|%s|%s|%s\\n' \"$DG_TEST_VAR\" \"$DG_TEST_EXTRA\" \"$DG_TEST_INHERITED\" "
		  "\"$AWS_SECRET_ACCESS_KEY\" > \"$OUT.env\"; "
		  "env | grep -c '^DG_TEST_VAR=' >> \"$OUT.env\"; exec cat > \"$OUT\"",
		  env, 10, NULL);
	if (!s) {
		free(buf);
		return;
	}
	CHECK(!dg_sink_seekable(s), "a command sink is not seekable");
	memset(&err, 0, sizeof(err));
	for (size_t off = 0; off < len && r == 0; calls++) {
		size_t n;
		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 8) % 300000;
		if (n > len - off)
			n = len - off;
		r = dg_sink_write(s, buf + off, n, &err);
		off += n;
	}
	CHECK(r == 0, "3 MiB written in %d pieces (%d: %s)", calls, r, err.message);
	CHECK(s->written == len, "written counts 3 MiB (%llu)", (unsigned long long)s->written);
	r = dg_sink_finish(s, &err);
	CHECK(r == 0, "finish: the command exited 0 (%d: %s)", r, r ? err.message : "");
	dg_sink_free(s);
	CHECK(path_is(out, buf, len), "the command received the dump byte for byte");
	/* A minimal environment: the given variables and PATH; nothing of ours (a cloud key above all). */
	snprintf(want_env, sizeof(want_env), "given|extra value||\n1\n");
	CHECK(path_is(envfile, want_env, strlen(want_env)),
	      "env reached the command: given values only, none of ours (no secret key), a given name once");
	CHECK_STR(getenv("DG_TEST_VAR"), "ours", "our own environment unchanged");
	unlink(out);
	unlink(envfile);
	unsetenv("DG_TEST_VAR");
	unsetenv("DG_TEST_INHERITED");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	free(buf);
}

static void test_command_output(void)
{
	unsigned char buf[100 * 1024];
	char want[1100];
	struct logs logs;
	struct dg_sink *s;
	struct dg_error err;
	int r;

	memset(buf, 'd', sizeof(buf));
	s = start("echo hello; echo oops >&2; cat > /dev/null; printf 'last words'", NULL, 10, &logs);
	if (s) {
		memset(&err, 0, sizeof(err));
		r = dg_sink_write(s, buf, sizeof(buf), &err);
		r |= dg_sink_finish(s, &err);
		CHECK(r == 0, "command with output: success (%d: %s)", r, err.message);
		CHECK(logs.n == 3, "three lines logged (%d)", logs.n);
		CHECK_STR(logs.msg[0], "destination command: hello", "stdout line logged");
		CHECK_STR(logs.msg[1], "destination command: oops", "stderr line logged, in order");
		CHECK_STR(logs.msg[2], "destination command: last words", "last line without newline logged at exit");
		CHECK(logs.level[0] == DG_LOG_INFO && logs.level[1] == DG_LOG_INFO, "logged as info");
		dg_sink_free(s);
	}

	/* A very long line is split, nothing lost. */
	s = start("head -c 1500 /dev/zero | tr '\\0' x; echo; cat > /dev/null", NULL, 10, &logs);
	if (s) {
		memset(&err, 0, sizeof(err));
		r = dg_sink_write(s, buf, 10, &err);
		r |= dg_sink_finish(s, &err);
		CHECK(r == 0 && logs.n == 2, "1500-byte line: two log messages (%d, %d)", r, logs.n);
		memcpy(want, "destination command: ", 21);
		memset(want + 21, 'x', 1023);
		want[21 + 1023] = '\0';
		CHECK(logs.n >= 1 && strcmp(logs.msg[0], want) == 0, "first part: 1023 bytes");
		CHECK(logs.n >= 2 && strncmp(logs.msg[1], "destination command: ", 21) == 0 &&
			      strlen(logs.msg[1]) == 21 + 477 && strspn(logs.msg[1] + 21, "x") == 477,
		      "second part: the other 477 bytes");
		dg_sink_free(s);
	}

	/* A command that does not exist: the shell says so, and the status is 127. */
	s = start("/nonexistent/diagint-test-cmd", NULL, 10, &logs);
	if (s) {
		memset(&err, 0, sizeof(err));
		r = dg_sink_finish(s, &err);
		CHECK(r == -DG_FAILED && strstr(err.message, "'/nonexistent/diagint-test-cmd' exited with status 127"),
		      "missing program: exit status 127 named (%d: %s)", r, err.message);
		CHECK(logs.n >= 1 && strstr(logs.msg[0], "destination command: ") == logs.msg[0] &&
			      strstr(logs.msg[0], "not found"),
		      "the shell's complaint is logged: %s", logs.n ? logs.msg[0] : "(nothing)");
		dg_sink_free(s);
	}
}

static void test_command_status(void)
{
	unsigned char buf[64 * 1024];
	struct dg_sink *s = NULL;
	struct dg_error err;
	double t;
	int r;

	memset(buf, 'e', sizeof(buf));
	memset(&err, 0, sizeof(err));
	r = dg_sink_command_new("| \t ", NULL, 10, NULL, NULL, &s, &err);
	CHECK(r == -DG_USAGE && err.status == DG_USAGE && s == NULL && strstr(err.message, "no command after the pipe"),
	      "'|' and blanks: DG_USAGE (%d: %s)", r, err.message);

	s = start("|cat > /dev/null; exit 3", NULL, 10, NULL);
	if (s) {
		memset(&err, 0, sizeof(err));
		r = dg_sink_write(s, buf, sizeof(buf), &err);
		CHECK(r == 0, "exit 3 after reading: the write succeeds (%d)", r);
		r = dg_sink_finish(s, &err);
		CHECK(r == -DG_FAILED && err.status == DG_FAILED, "exit 3: finish fails (%d)", r);
		CHECK_STR(err.message, "destination command 'cat > /dev/null; exit 3' exited with status 3",
			  "message names the command (without the pipe) and the status");
		dg_sink_free(s);
	}

	s = start("head -c 1000 > /dev/null; kill -9 $$", NULL, 10, NULL);
	if (s) {
		memset(&err, 0, sizeof(err));
		r = dg_sink_write(s, buf, 10000, &err);
		CHECK(r == 0, "killed command: the write fitted the pipe (%d: %s)", r, err.message);
		r = dg_sink_finish(s, &err);
		CHECK(r == -DG_FAILED && strstr(err.message, "'head -c 1000 > /dev/null; kill -9 $$' was killed by "
							     "signal 9"),
		      "killed by SIGKILL: named (%d: %s)", r, err.message);
		dg_sink_free(s);
	}

	/* A command that does not exit after its input ended is killed after stall_timeout. */
	s = start("cat > /dev/null; exec sleep 30", NULL, 0.3, NULL);
	if (s) {
		memset(&err, 0, sizeof(err));
		r = dg_sink_write(s, buf, 100, &err);
		t = now();
		r |= dg_sink_finish(s, &err);
		t = now() - t;
		CHECK(r == -DG_FAILED && strstr(err.message, "did not exit within 0.3 s after the dump ended; killed"),
		      "no exit after the end: killed (%d: %s)", r, err.message);
		CHECK(t >= 0.25 && t < 2, "finish gave up after ~0.3 s (%.2f s)", t);
		dg_sink_free(s);
	}
}

static void test_command_sigpipe(void)
{
	const size_t len = 8 * MiB;
	unsigned char *buf = calloc(1, len);
	struct sigaction sa;
	sigset_t mask, pending;
	struct dg_sink *s;
	struct dg_error err;
	int r;

	/* Make sure a stray SIGPIPE would kill us. */
	signal(SIGPIPE, SIG_DFL);
	s = start("true", NULL, 10, NULL);
	if (s) {
		usleep(100000);
		memset(&err, 0, sizeof(err));
		r = dg_sink_write(s, buf, len, &err);
		CHECK(r == -DG_FAILED && err.status == DG_FAILED, "8 MiB to 'true': the write fails (%d)", r);
		CHECK(strstr(err.message, "destination command 'true' exited with status 0 before it read the whole "
					  "dump") != NULL,
		      "message: %s", err.message);
		CHECK(strstr(err.message, "bytes taken)") != NULL, "message says how much was taken");
		dg_sink_abort(s);
		dg_sink_free(s);
	}
	CHECK(true, "still alive after writing into a closed pipe");
	CHECK(sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL, "SIGPIPE disposition still SIG_DFL");
	CHECK(sigprocmask(SIG_BLOCK, NULL, &mask) == 0 && !sigismember(&mask, SIGPIPE), "SIGPIPE not left blocked");
	CHECK(sigpending(&pending) == 0 && !sigismember(&pending, SIGPIPE), "no SIGPIPE left pending");

	/* One that reads part of it first. */
	s = start("head -c 100000 > /dev/null", NULL, 10, NULL);
	if (s) {
		memset(&err, 0, sizeof(err));
		r = dg_sink_write(s, buf, len, &err);
		CHECK(r == -DG_FAILED && strstr(err.message, "exited with status 0 before it read the whole dump"),
		      "a command that stops after 100000 bytes: write fails (%d: %s)", r, err.message);
		CHECK(s->written >= 100000 && s->written < len, "written counts what the pipe took (%llu)",
		      (unsigned long long)s->written);
		dg_sink_abort(s);
		dg_sink_free(s);
	}
	CHECK(sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL, "SIGPIPE still SIG_DFL");
	free(buf);
}

/* Live processes whose command line is exactly argv[0..argc) (zombies excluded); up to max pids into pids. */
static int find_procs(const char *const *argv, int argc, int *pids, int max)
{
	char want[256], path[64], buf[256], state[256];
	size_t wlen = 0;
	struct dirent *de;
	DIR *d = opendir("/proc");
	int n = 0;

	for (int i = 0; i < argc; i++) {
		size_t l = strlen(argv[i]) + 1;
		memcpy(want + wlen, argv[i], l);
		wlen += l;
	}
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		int pid = atoi(de->d_name), fd;
		ssize_t len;
		char *st;

		if (pid <= 1)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf));
		close(fd);
		if (len != (ssize_t)wlen || memcmp(buf, want, wlen) != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, state, sizeof(state) - 1);
		close(fd);
		state[len > 0 ? len : 0] = '\0';
		st = strrchr(state, ')');
		if (!st || st[1] != ' ' || st[2] == 'Z')
			continue;
		if (n < max)
			pids[n] = pid;
		n++;
	}
	closedir(d);
	return n;
}

static void test_command_stall(void)
{
	const size_t len = 8 * MiB;
	unsigned char *buf = calloc(1, len);
	char pidfile[512], env_pid[600], cmd[64], secs[32], want[256];
	char *env[] = { env_pid, NULL };
	const char *argv[2] = { "sleep", secs };
	struct dg_sink *s;
	struct dg_error err;
	double t;
	int r, pid, pids[8], left;

	/* A plain `sleep`, with an argument no other process has, so that we can look for it afterwards. */
	snprintf(secs, sizeof(secs), "30.%d", (int)getpid());
	snprintf(cmd, sizeof(cmd), "sleep %s", secs);
	s = start(cmd, NULL, 0.5, NULL);
	if (s) {
		memset(&err, 0, sizeof(err));
		t = now();
		r = dg_sink_write(s, buf, len, &err);
		t = now() - t;
		CHECK(r == -DG_FAILED && err.status == DG_FAILED, "command that never reads: the write fails (%d)", r);
		snprintf(want, sizeof(want), "destination command '%s' stopped reading the dump (nothing taken for 0.5 s)",
			 cmd);
		CHECK_STR(err.message, want, "message names the command and the timeout");
		CHECK(t >= 0.45 && t < 3, "gave up after about 0.5 s (%.2f s)", t);
		CHECK(find_procs(argv, 2, pids, 8) == 1, "'%s' is running", cmd);
		t = now();
		dg_sink_abort(s);
		dg_sink_free(s);
		t = now() - t;
		CHECK(t < 2, "abort and free return quickly (%.2f s)", t);
		usleep(100000);
		left = find_procs(argv, 2, pids, 8);
		/* dash forks the command rather than exec it: killing the shell alone would leave it running. */
		CHECK(left == 0, "after abort no '%s' is left, though the shell forked it (%d left)", cmd, left);
		/* Our own grandchild: do not leave it running for 30 s. */
		for (int i = 0; i < left && i < 8; i++)
			kill(pids[i], SIGKILL);
	}

	/* The same for a command that does not exit after the dump ended: finish kills all of it. */
	snprintf(secs, sizeof(secs), "31.%d", (int)getpid());
	snprintf(cmd, sizeof(cmd), "cat > /dev/null; sleep %s", secs);
	s = start(cmd, NULL, 0.3, NULL);
	if (s) {
		memset(&err, 0, sizeof(err));
		r = dg_sink_write(s, buf, 100, &err);
		t = now();
		r |= dg_sink_finish(s, &err);
		t = now() - t;
		CHECK(r == -DG_FAILED && strstr(err.message, "did not exit within 0.3 s after the dump ended; killed"),
		      "'%s' not exiting: finish fails (%d: %s)", cmd, r, err.message);
		CHECK(t < 2, "within %.2f s", t);
		dg_sink_free(s);
		usleep(100000);
		left = find_procs(argv, 2, pids, 8);
		CHECK(left == 0, "after finish gave up no '%s' is left (%d left)", cmd, left);
		for (int i = 0; i < left && i < 8; i++)
			kill(pids[i], SIGKILL);
	}

	/* The shell replaced by the command (exec): abort kills it. */
	at("pid", pidfile, sizeof(pidfile));
	snprintf(env_pid, sizeof(env_pid), "PIDF=%s", pidfile);
	s = start("echo $$ > \"$PIDF\"; exec sleep 30", env, 0.5, NULL);
	if (s) {
		memset(&err, 0, sizeof(err));
		r = dg_sink_write(s, buf, len, &err);
		CHECK(r == -DG_FAILED && strstr(err.message, "stopped reading"), "stalled again (%d)", r);
		pid = read_pid(pidfile);
		CHECK(pid > 1 && kill(pid, 0) == 0, "the command runs as pid %d", pid);
		t = now();
		dg_sink_abort(s);
		dg_sink_free(s);
		t = now() - t;
		CHECK(gone(pid), "after abort the command is gone (pid %d)", pid);
		CHECK(t < 2, "within %.2f s", t);
	}
	unlink(pidfile);
	free(buf);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int main(void)
{
	struct stat st;

	if (!mkdtemp(scratch)) {
		printf("not ok 1 - mkdtemp: %s\n1..1\n", strerror(errno));
		return 1;
	}
	test_file_sparse();
	test_file_pwrite();
	test_file_full();
	test_command_data_and_env();
	test_command_output();
	test_command_status();
	test_command_sigpipe();
	test_command_stall();
	CHECK(nftw(scratch, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) == 0 && lstat(scratch, &st) < 0,
	      "scratch directory removed");
	return tap_done();
}
