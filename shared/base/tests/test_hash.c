/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SHA-256 of buffers and files against published vectors; sizes of sparse files. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diagint/hash.h"
#include "tap.h"

#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_448 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define SHA_MILLION_A "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

static char scratch[] = "/tmp/dg-test-hash-XXXXXX";

static int write_all(const char *path, const void *data, size_t len)
{
	const char *p = data;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w <= 0) {
			close(fd);
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return close(fd);
}

static void test_buffer(void)
{
	char hex[DG_SHA256_HEX_LEN + 1];
	const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	memset(hex, 'Z', sizeof(hex));
	dg_hash_buffer("", 0, hex);
	CHECK_STR(hex, SHA_EMPTY, "SHA-256 of the empty buffer");
	dg_hash_buffer("abc", 3, hex);
	CHECK_STR(hex, SHA_ABC, "SHA-256 of 'abc'");
	dg_hash_buffer(m448, strlen(m448), hex);
	CHECK_STR(hex, SHA_448, "SHA-256 of the 448-bit FIPS 180-2 message");
	CHECK(strlen(hex) == DG_SHA256_HEX_LEN, "hex is %d characters", DG_SHA256_HEX_LEN);
}

static void test_file(void)
{
	char path[sizeof(scratch) + 32], hex[DG_SHA256_HEX_LEN + 1], want[DG_SHA256_HEX_LEN + 1];
	struct dg_error err;
	uint64_t size = 12345, alloc = 12345;
	size_t big_len = 3 * (1 << 20) + 17; /* spans several of the reader's 1 MiB chunks, and a partial one */
	unsigned char *big;
	int r;

	snprintf(path, sizeof(path), "%s/abc", scratch);
	CHECK(write_all(path, "abc", 3) == 0, "wrote %s", path);
	memset(&err, 0, sizeof(err));
	r = dg_hash_file(path, hex, &size, &alloc, &err);
	CHECK(r == 0, "hash of a 3-byte file succeeds (%d: %s)", r, err.message);
	CHECK_STR(hex, SHA_ABC, "file containing 'abc' hashes like the buffer");
	CHECK(size == 3, "size 3 (got %llu)", (unsigned long long)size);
	CHECK(alloc > 0 && alloc % 512 == 0, "allocated counted in 512-byte blocks (got %llu)",
	      (unsigned long long)alloc);

	snprintf(path, sizeof(path), "%s/empty", scratch);
	CHECK(write_all(path, "", 0) == 0, "wrote %s", path);
	r = dg_hash_file(path, hex, &size, &alloc, &err);
	CHECK(r == 0 && size == 0 && alloc == 0, "empty file: size 0, nothing allocated (r=%d, size %llu, alloc %llu)",
	      r, (unsigned long long)size, (unsigned long long)alloc);
	CHECK_STR(hex, SHA_EMPTY, "empty file hash");

	big = malloc(big_len);
	CHECK(big != NULL, "allocated %zu bytes", big_len);
	if (!big)
		return;
	for (size_t i = 0; i < 1000000; i++)
		big[i] = 'a';
	snprintf(path, sizeof(path), "%s/million-a", scratch);
	CHECK(write_all(path, big, 1000000) == 0, "wrote %s", path);
	r = dg_hash_file(path, hex, NULL, NULL, &err);
	CHECK(r == 0, "size pointers may be NULL (%d)", r);
	CHECK_STR(hex, SHA_MILLION_A, "one million 'a' (FIPS 180-2 vector) from a file");

	for (size_t i = 0; i < big_len; i++)
		big[i] = (unsigned char)(i * 2654435761u >> 13);
	snprintf(path, sizeof(path), "%s/big", scratch);
	CHECK(write_all(path, big, big_len) == 0, "wrote %s", path);
	dg_hash_buffer(big, big_len, want);
	r = dg_hash_file(path, hex, &size, NULL, &err);
	CHECK(r == 0 && size == big_len, "multi-chunk file: size %zu (r=%d, got %llu)", big_len, r,
	      (unsigned long long)size);
	CHECK_STR(hex, want, "multi-chunk file hash equals the in-memory hash");
	free(big);
}

static void test_sparse(void)
{
	const uint64_t len = 64ull << 20;
	const char tail[] = "end-of-sparse-file";
	char path[sizeof(scratch) + 32], hex[DG_SHA256_HEX_LEN + 1], want[DG_SHA256_HEX_LEN + 1];
	struct dg_error err;
	uint64_t size = 0, alloc = 0;
	unsigned char *mem;
	int fd, r;

	snprintf(path, sizeof(path), "%s/sparse", scratch);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0, "created %s", path);
	if (fd < 0)
		return;
	r = ftruncate(fd, (off_t)len);
	CHECK(r == 0, "ftruncate to 64 MiB");
	CHECK(pwrite(fd, tail, sizeof(tail), (off_t)(len - sizeof(tail))) == (ssize_t)sizeof(tail),
	      "wrote %zu bytes at the end", sizeof(tail));
	close(fd);

	memset(&err, 0, sizeof(err));
	r = dg_hash_file(path, hex, &size, &alloc, &err);
	CHECK(r == 0, "hash of the sparse file succeeds (%d: %s)", r, err.message);
	CHECK(size == len, "sparse file size is 64 MiB (got %llu)", (unsigned long long)size);
	CHECK(alloc > 0 && alloc <= (1u << 20), "sparse file allocates at most 1 MiB of its 64 MiB (got %llu)",
	      (unsigned long long)alloc);

	mem = calloc(1, len);
	CHECK(mem != NULL, "allocated 64 MiB for the in-memory copy");
	if (!mem)
		return;
	memcpy(mem + len - sizeof(tail), tail, sizeof(tail));
	dg_hash_buffer(mem, len, want);
	free(mem);
	CHECK_STR(hex, want, "sparse file hash equals the hash of the same bytes in memory");
}

static void test_errors(void)
{
	char path[sizeof(scratch) + 32], hex[DG_SHA256_HEX_LEN + 1];
	struct dg_error err;
	int r;

	snprintf(path, sizeof(path), "%s/does-not-exist", scratch);
	memset(&err, 0, sizeof(err));
	r = dg_hash_file(path, hex, NULL, NULL, &err);
	CHECK(r == -DG_FAILED, "missing file gives -DG_FAILED (%d)", r);
	CHECK(err.status == DG_FAILED, "status DG_FAILED");
	CHECK(err.sys_errno == ENOENT, "sys_errno ENOENT (%d)", err.sys_errno);
	CHECK(strstr(err.message, path) != NULL, "message names the path: %s", err.message);

	r = dg_hash_file(path, hex, NULL, NULL, NULL);
	CHECK(r == -DG_FAILED, "missing file with NULL err still fails (%d)", r);

	memset(&err, 0, sizeof(err));
	r = dg_hash_file(scratch, hex, NULL, NULL, &err);
	CHECK(r == -DG_FAILED && err.sys_errno == EISDIR && strstr(err.message, scratch),
	      "a directory cannot be hashed (%d: %s)", r, err.message);
}

static void cleanup(void)
{
	static const char *names[] = { "abc", "empty", "million-a", "big", "sparse" };
	char path[sizeof(scratch) + 32];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", scratch, names[i]);
		unlink(path);
	}
	CHECK(rmdir(scratch) == 0, "scratch directory removed (nothing else left in it)");
}

int main(void)
{
	if (!mkdtemp(scratch)) {
		printf("not ok 1 - mkdtemp: %s\n1..1\n", strerror(errno));
		return 1;
	}
	test_buffer();
	test_file();
	test_sparse();
	test_errors();
	cleanup();
	return tap_done();
}
