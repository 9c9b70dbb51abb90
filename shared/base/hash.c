/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/encode.h"
#include "diagint/hash.h"

void dg_hash_buffer(const void *data, size_t len, char hex[DG_SHA256_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	dg_hex(md, mdlen, hex);
}

int dg_hash_file(const char *path, char hex[DG_SHA256_HEX_LEN + 1], uint64_t *ret_size, uint64_t *ret_allocated,
		 struct dg_error *err)
{
	const size_t bufsize = 1 << 20;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_MD_CTX *ctx = NULL;
	unsigned char *buf = NULL;
	struct stat st;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dg_error_set_errno(err, DG_FAILED, errno, "cannot read %s", path);
	if (fstat(fd, &st) < 0) {
		r = dg_error_set_errno(err, DG_FAILED, errno, "cannot stat %s", path);
		goto out;
	}
	/* The dump was just written: reading it once, sequentially, should not evict the host's page cache. */
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	buf = malloc(bufsize);
	ctx = EVP_MD_CTX_new();
	if (!buf || !ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		r = dg_error_set(err, DG_FAILED, "cannot start SHA-256 (out of memory?)");
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf, bufsize);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = dg_error_set_errno(err, DG_FAILED, errno, "cannot read %s", path);
			goto out;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	dg_hex(md, mdlen, hex);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	if (ret_size)
		*ret_size = (uint64_t)st.st_size;
	if (ret_allocated)
		*ret_allocated = (uint64_t)st.st_blocks * 512;
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	close(fd);
	return r;
}
