/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Files named by someone else (a configuration, credentials, the audit key): a FIFO, a device or an endless file in
 * their place fails at once with a message, never hangs or eats memory. alarm() turns a hang into a failure. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diagint/audit.h"
#include "diagint/audit_verify.h"
#include "diagint/config.h"
#include "base/keyfile.h"
#include "tap.h"

static char scratch[] = "/tmp/dg-test-untrusted-XXXXXX";

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "not ok - hung reading a file (alarm)\n";
	(void)!write(STDOUT_FILENO, msg, sizeof(msg) - 1);
	_exit(1);
}

int main(void)
{
	struct dg_config *cfg = NULL;
	struct dg_error err = { 0 };
	unsigned char key[1024];
	char fifo[256], *text = NULL;
	size_t len = 0;

	if (!mkdtemp(scratch))
		SKIP_ALL("cannot create a scratch directory in /tmp: %s", strerror(errno));
	signal(SIGALRM, on_alarm);
	snprintf(fifo, sizeof(fifo), "%s/fifo", scratch);
	CHECK(mkfifo(fifo, 0600) == 0, "a FIFO where a file should be");

	alarm(5);
	CHECK(dg_config_load(fifo, &cfg, &err) == -DG_USAGE && strstr(err.message, "not a regular file"),
	      "configuration: a FIFO is refused at once: %s", err.message);
	CHECK(dg_config_load("/dev/zero", &cfg, &err) == -DG_USAGE && strstr(err.message, "not a regular file"),
	      "configuration: /dev/zero is refused (no endless read)");
	CHECK(dg_keyfile_read(fifo, "the AWS shared credentials file", &text, &len, &err) == -DG_USAGE &&
		      strstr(err.message, "not a regular file"), "credentials: a FIFO is refused at once: %s", err.message);
	CHECK(dg_file_read(fifo, "the AWS config file", &text, &len, &err) == -DG_USAGE, "config file: the same");
	CHECK(dg_audit_key_load(fifo, key, sizeof(key), &len, &err) < 0 && strstr(err.message, "not a regular file"),
	      "audit key: a FIFO is refused at once: %s", err.message);
	{
		struct dg_audit_verify_opts vo = { 0 };
		struct dg_audit_verify_result vr = { 0 };
		struct dg_audit_head h;
		char head[300];
		const char *files[] = { fifo };

		CHECK(dg_audit_verify(files, 1, &vo, &vr, &err) == -DG_USAGE && strstr(err.message, "not a regular file"),
		      "audit verify: a FIFO in the log's place is refused at once: %s", err.message);
		snprintf(head, sizeof(head), "%s.head", fifo);
		CHECK(mkfifo(head, 0600) == 0 && dg_audit_head_read(fifo, &h, &err) < 0 &&
			      strstr(err.message, "not a regular file"), "the head: the same: %s", err.message);
		unlink(head);
	}
	alarm(0);

	{
		char path[300];
		FILE *f;

		snprintf(path, sizeof(path), "%s/nul.conf", scratch);
		f = fopen(path, "w");
		fwrite("[capture]\nFormat = elf\n\0[capture]\nFormat = nonsense\n", 1, 52, f);
		fclose(f);
		CHECK(dg_config_load(path, &cfg, &err) == -DG_USAGE && strstr(err.message, ":3: a NUL byte"),
		      "configuration: a NUL byte is refused, not the rest of the file ignored: %s", err.message);
		unlink(path);
	}

	unlink(fifo);
	rmdir(scratch);
	return tap_done();
}
