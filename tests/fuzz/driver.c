/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The unit suite's fuzz run (gcc, no libFuzzer): links one harness (fuzz_NAME.c) and runs its
 * LLVMFuzzerTestOneInput over its corpus (tests/fuzz/corpus/NAME), then over a deterministic stream of mutations
 * of it: the same inputs on every run, so a failure reproduces. At most DG_FUZZ_RUNS mutations (default 20000)
 * and DG_FUZZ_SECONDS seconds (default 1.5). An input that breaks an invariant aborts; the input is saved as
 * fuzz-crash-NAME in the working directory first (reproduce: the test binary with the file as argument, or the
 * libFuzzer build's fuzz_NAME FILE). TAP output. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define DG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/common_interface_defs.h>
#define DG_ASAN 1
#endif
#endif

#ifndef FUZZ_NAME
#error "FUZZ_NAME: the harness's name (its corpus directory)"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEEDS 512
#define FZ_MAX_INPUT (256 * 1024)

static struct {
	uint8_t *data;
	size_t len;
} seeds[MAX_SEEDS];
static unsigned nseeds;

/* The input being run, for the crash handler. */
static const uint8_t *cur;
static size_t cur_len;

static void save_input(void)
{
	static const char msg[] = "fuzz driver: crashed; the input is in ./fuzz-crash-" FUZZ_NAME "\n";
	int fd;

	if (!cur)
		return;
	fd = open("fuzz-crash-" FUZZ_NAME, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		if (write(fd, cur, cur_len) < 0) {
		}
		close(fd);
	}
	if (write(2, msg, sizeof(msg) - 1) < 0) {
	}
}

static void on_crash(int sig)
{
	save_input();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void run(const uint8_t *data, size_t len)
{
	cur = data;
	cur_len = len;
	LLVMFuzzerTestOneInput(data, len);
	cur = NULL;
}

static uint8_t *read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	size_t n;

	if (!f)
		return NULL;
	p = malloc(FZ_MAX_INPUT);
	if (!p) {
		fclose(f);
		return NULL;
	}
	n = fread(p, 1, FZ_MAX_INPUT, f);
	fclose(f);
	*ret_len = n;
	return p;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The seeds in name order, so the mutation stream does not depend on readdir's order. */
static void load_corpus(const char *dir)
{
	char *names[MAX_SEEDS], path[4096 + 256];
	unsigned n = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d)) && n < MAX_SEEDS)
		if (de->d_name[0] != '.')
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_names);
	for (unsigned i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if ((seeds[nseeds].data = read_file(path, &seeds[nseeds].len)))
			nseeds++;
		free(names[i]);
	}
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static size_t pick(size_t n)
{
	return n ? (size_t)(next() % n) : 0;
}

/* Values parsers trip on: limits, separators, markup. */
static const char *const tokens[] = {
	"0", "-1", "18446744073709551615", "9223372036854775807", "-9223372036854775808", "4294967296", "1e308",
	"nan", "inf", "%", "%s%n", "\n", "\r\n", "\t", " ", "=", "[", "]", "\"", "\\", "\\u0000", "{", "}", "[]", "{}",
	":", ",", "null", "true", "false", "<", ">", "/>", "</", "&amp;", "&#0;", "<![CDATA[", "]]>", "'", "#", ";",
	"\x1b[31m", "\x7f", "\xff", "\xc3\xa9", "..", "/", "%%", "\n%%\n", "KiB", "TiB", "EiB", "10G", "1d", "25d",
	"2026-01-01T00:00:00Z",
};

/* One mutation of buf (len bytes, room for cap) in place; returns the new length. */
static size_t mutate(uint8_t *buf, size_t len, size_t cap)
{
	unsigned rounds = 1 + (unsigned)pick(4);

	while (rounds--) {
		size_t pos = pick(len + 1), n;

		switch (pick(8)) {
		case 0: /* flip a bit */
			if (len)
				buf[pick(len)] ^= (uint8_t)(1u << pick(8));
			break;
		case 1: /* a random byte */
			if (len)
				buf[pick(len)] = (uint8_t)next();
			break;
		case 2: /* insert a token */
		{
			const char *t = tokens[pick(sizeof(tokens) / sizeof(tokens[0]))];
			n = strlen(t);
			if (len + n <= cap) {
				memmove(buf + pos + n, buf + pos, len - pos);
				memcpy(buf + pos, t, n);
				len += n;
			}
			break;
		}
		case 3: /* delete a range */
			n = pick(len - pos + 1);
			if (n > 16)
				n = 1 + n % 16;
			memmove(buf + pos, buf + pos + n, len - pos - n);
			len -= n;
			break;
		case 4: /* duplicate a range */
			n = pick(len - pos + 1) % 64;
			if (len + n <= cap) {
				memmove(buf + pos + n, buf + pos, len - pos);
				len += n;
			}
			break;
		case 5: /* splice in a piece of another seed */
		{
			unsigned s = (unsigned)pick(nseeds);
			size_t from = pick(seeds[s].len + 1);
			n = pick(seeds[s].len - from + 1) % 256;
			if (len + n <= cap) {
				memmove(buf + pos + n, buf + pos, len - pos);
				memcpy(buf + pos, seeds[s].data + from, n);
				len += n;
			}
			break;
		}
		case 6: /* cut the tail */
			len = pos;
			break;
		default: /* a run of one byte */
			n = 1 + pick(32);
			if (len + n <= cap) {
				memmove(buf + pos + n, buf + pos, len - pos);
				memset(buf + pos, (int)(len ? buf[pick(len)] : 'A'), n);
				len += n;
			}
			break;
		}
	}
	return len;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *src = getenv("DG_SOURCE_DIR"), *e;
	unsigned long max_runs = (e = getenv("DG_FUZZ_RUNS")) ? strtoul(e, NULL, 10) : 20000;
	double seconds = (e = getenv("DG_FUZZ_SECONDS")) ? atof(e) : 1.5, start;
	unsigned long runs = 0;
	char dir[4000];
	uint8_t *buf;

	signal(SIGABRT, on_crash); /* a broken invariant */
#ifdef DG_ASAN
	__sanitizer_set_death_callback(save_input); /* ASan keeps its own SEGV report */
#else
	signal(SIGSEGV, on_crash);
	signal(SIGBUS, on_crash);
#endif
	if (argc > 1) { /* reproduce: run the given files */
		for (int i = 1; i < argc; i++) {
			size_t len;
			uint8_t *p = read_file(argv[i], &len);
			if (!p) {
				fprintf(stderr, "%s: cannot read\n", argv[i]);
				return 1;
			}
			run(p, len);
			free(p);
			printf("%s: ran\n", argv[i]);
		}
		return 0;
	}
	printf("1..2\n");
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/" FUZZ_NAME, src ? src : "../..");
	load_corpus(dir);
	if (!nseeds) {
		printf("not ok 1 - %s: no corpus in %s\n", FUZZ_NAME, dir);
		return 1;
	}
	for (unsigned i = 0; i < nseeds; i++)
		run(seeds[i].data, seeds[i].len);
	printf("ok 1 - %s: %u corpus inputs\n", FUZZ_NAME, nseeds);
	fflush(stdout);
	buf = malloc(FZ_MAX_INPUT);
	if (!buf)
		return 1;
	start = now();
	while (runs < max_runs && now() - start < seconds) {
		unsigned s = (unsigned)pick(nseeds);
		size_t len = seeds[s].len < FZ_MAX_INPUT / 2 ? seeds[s].len : FZ_MAX_INPUT / 2;
		memcpy(buf, seeds[s].data, len);
		len = mutate(buf, len, FZ_MAX_INPUT);
		run(buf, len);
		runs++;
	}
	printf("ok 2 - %s: %lu mutations in %.1f s, every invariant held\n", FUZZ_NAME, runs, now() - start);
	free(buf);
	for (unsigned i = 0; i < nseeds; i++)
		free(seeds[i].data);
	return 0;
}
