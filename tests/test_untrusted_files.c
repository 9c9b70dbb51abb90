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
#include "diagint/config.h"
#include "diagint/keyfile.h"
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
	alarm(0);

	unlink(fifo);
	rmdir(scratch);
	return tap_done();
}
