/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "base/keyfile.h"

#define SECRET_MAX (1u << 20)

int dg_path_expand(const char *path, char **ret, struct dg_error *err)
{
	const char *home;
	char *s;

	if (path[0] == '~' && (path[1] == '/' || !path[1])) {
		home = getenv("HOME");
		if (!home || !*home)
			return dg_error_set(err, DG_USAGE, "cannot expand '%s': HOME is not set", path);
		if (asprintf(&s, "%s%s", home, path + 1) < 0)
			return dg_error_set(err, DG_FAILED, "out of memory");
	} else if (!(s = strdup(path))) {
		return dg_error_set(err, DG_FAILED, "out of memory");
	}
	*ret = s;
	return 0;
}


void dg_secret_free(char *s, size_t len)
{
	if (!s)
		return;
	OPENSSL_cleanse(s, len);
	free(s);
}

static int read_file(const char *path, const char *what, bool check_mode, char **ret, size_t *ret_len,
		     struct dg_error *err)
{
	struct stat st;
	size_t len = 0;
	char *buf = NULL;
	int fd, r = 0;

	/* O_NONBLOCK: a FIFO put in a credential's place must not hang the open; it is refused just below. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return dg_error_set_errno(err, DG_USAGE, errno, "cannot read %s %s (check the path, or the setting that "
					  "names it)", what, path);
	if (fstat(fd, &st) < 0) {
		r = dg_error_set_errno(err, DG_USAGE, errno, "cannot stat %s %s", what, path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = dg_error_set(err, DG_USAGE, "%s %s is not a regular file (a FIFO, a device or a directory): name the "
				 "file itself", what, path);
		goto out;
	}
	/* Checked on the open descriptor: what is read is what was checked. */
	if (check_mode && (st.st_mode & 077)) {
		r = dg_error_set(err, DG_USAGE,
				 "%s %s is accessible by others (mode %04o): it holds a secret, so diagint refuses it, "
				 "as ssh does; fix with: chmod 600 %s",
				 what, path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if (st.st_size > SECRET_MAX) {
		r = dg_error_set(err, DG_USAGE, "%s %s is too large (%lld bytes, at most %u) to be a key or credentials "
				 "file: name the file itself", what, path, (long long)st.st_size, SECRET_MAX);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		r = dg_error_set(err, DG_FAILED, "out of memory");
		goto out;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = dg_error_set_errno(err, DG_USAGE, errno, "cannot read %s %s", what, path);
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	buf = NULL;
out:
	if (buf)
		dg_secret_free(buf, (size_t)st.st_size + 1);
	close(fd);
	return r;
}

struct pass {
	const char *phrase;
	bool asked;
};

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
	struct pass *p = u;
	size_t len;

	(void)rwflag;
	p->asked = true;
	if (!p->phrase)
		return -1;
	len = strlen(p->phrase);
	if (len > (size_t)size)
		return -1;
	memcpy(buf, p->phrase, len);
	return (int)len;
}

int dg_key_load_pem(const char *pem, size_t len, const char *passphrase, const char *what, const char *pass_hint,
		    EVP_PKEY **ret, struct dg_error *err)
{
	struct pass p = { .phrase = passphrase && *passphrase ? passphrase : NULL };
	EVP_PKEY *key = NULL;
	BIO *bio;

	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return dg_error_set(err, DG_FAILED, "out of memory");
	ERR_clear_error();
	key = PEM_read_bio_PrivateKey(bio, NULL, pass_cb, &p);
	BIO_free(bio);
	if (!key) {
		char detail[256];
		ERR_error_string_n(ERR_peek_last_error(), detail, sizeof(detail));
		ERR_clear_error();
		if (p.asked && !p.phrase)
			return dg_error_set(err, DG_USAGE, "%s is encrypted and no pass phrase is configured: set %s",
					    what, pass_hint);
		if (p.asked)
			return dg_error_set(err, DG_USAGE, "cannot decrypt %s: wrong pass phrase? check %s", what,
					    pass_hint);
		return dg_error_set(err, DG_USAGE, "%s is not a PEM private key (%s): give the key as it was issued "
				    "(-----BEGIN ... PRIVATE KEY-----)", what, detail);
	}
	*ret = key;
	return 0;
}

int dg_keyfile_read(const char *path, const char *what, char **ret, size_t *ret_len, struct dg_error *err)
{
	return read_file(path, what, true, ret, ret_len, err);
}

int dg_file_read(const char *path, const char *what, char **ret, size_t *ret_len, struct dg_error *err)
{
	return read_file(path, what, false, ret, ret_len, err);
}
