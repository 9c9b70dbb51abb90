/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Dump names: a domain name must never steer a dump out of its directory, and names follow qvm's pattern in host
 * local time. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "diagint/dumpname.h"
#include "tap.h"

/* 2023-11-14 22:13:20 UTC */
#define T0 ((time_t)1700000000)

static bool allowed(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '+' || c == '-';
}

/* Printable form of a test input: TAP descriptions are one line of text. */
static const char *show(const char *in, char *buf, size_t len)
{
	size_t n = 0;

	if (!in)
		return "(NULL)";
	for (; *in && n + 5 < len; in++) {
		unsigned char c = (unsigned char)*in;
		if (c >= 0x20 && c < 0x7f && c != '#' && c != '\\')
			buf[n++] = (char)c;
		else
			n += (size_t)snprintf(buf + n, len - n, "\\x%02x", c);
	}
	buf[n] = '\0';
	return buf;
}

static void prefix_case(const char *in, const char *want, int want_changed)
{
	char out[DG_DUMPNAME_PREFIX_MAX + 1], name[128];
	int r;

	memset(out, 'Z', sizeof(out));
	r = dg_dumpname_prefix(in, out, sizeof(out));
	CHECK_STR(out, want, "prefix of '%s'", show(in, name, sizeof(name)));
	CHECK(r == want_changed, "prefix of '%s' reports %d changed bytes (got %d)", show(in, name, sizeof(name)),
	      want_changed, r);
}

static void test_prefix_rules(void)
{
	char out[DG_DUMPNAME_PREFIX_MAX + 1];
	int r;

	/* Safe names are kept byte for byte. */
	prefix_case("vm1", "vm1", 0);
	prefix_case("web-01.prod_A+b", "web-01.prod_A+b", 0);
	prefix_case("a.b..c.", "a.b..c.", 0);
	prefix_case("-x", "-x", 0);

	/* Unsafe bytes become '_'. */
	prefix_case("a/b", "a_b", 1);
	prefix_case("/", "_", 1);
	prefix_case("a b\tc\n", "a_b_c_", 3);
	prefix_case("\x01x\x7f", "_x_", 2);
	prefix_case("caf\xc3\xa9", "caf__", 2);
	prefix_case("a\\b:c*d?e", "a_b_c_d_e", 4);

	/* All leading dots, not only the first. */
	prefix_case(".", "_", 1);
	prefix_case("..", "__", 2);
	prefix_case("...", "___", 3);
	prefix_case(".hidden", "_hidden", 1);
	prefix_case("..a", "__a", 2);
	prefix_case("../etc/passwd", "___etc_passwd", 4);
	/* Once a non-dot byte came, later dots are fine: the result starts with '_' already. */
	prefix_case("/.x", "_.x", 1);
	prefix_case(".\xff.", "__.", 2);

	/* Empty or missing: the default. */
	memset(out, 'Z', sizeof(out));
	r = dg_dumpname_prefix("", out, sizeof(out));
	CHECK_STR(out, DG_DUMPNAME_DEFAULT_PREFIX, "empty name gives the default prefix");
	CHECK(r > 0, "empty name is reported as changed (%d)", r);
	memset(out, 'Z', sizeof(out));
	r = dg_dumpname_prefix(NULL, out, sizeof(out));
	CHECK_STR(out, "guest", "NULL name gives 'guest'");
	CHECK(r > 0, "NULL name is reported as changed (%d)", r);

	r = dg_dumpname_prefix("vm", out, 0);
	CHECK(r == -EINVAL, "outlen 0 is rejected (%d)", r);
}

static void test_prefix_truncation(void)
{
	char in[512], want[DG_DUMPNAME_PREFIX_MAX + 1], out[DG_DUMPNAME_PREFIX_MAX + 64];
	int r;

	/* Exactly the maximum: kept. */
	memset(in, 'a', DG_DUMPNAME_PREFIX_MAX);
	in[DG_DUMPNAME_PREFIX_MAX] = '\0';
	r = dg_dumpname_prefix(in, out, sizeof(out));
	CHECK(r == 0 && strcmp(out, in) == 0, "a %d-byte name is kept as is (r=%d, len=%zu)", DG_DUMPNAME_PREFIX_MAX,
	      r, strlen(out));

	/* Longer: cut at the maximum even when the buffer is larger, and the cut bytes count as changed. */
	memset(in, 'b', 200);
	in[200] = '\0';
	memset(want, 'b', DG_DUMPNAME_PREFIX_MAX);
	want[DG_DUMPNAME_PREFIX_MAX] = '\0';
	memset(out, 'Z', sizeof(out));
	r = dg_dumpname_prefix(in, out, sizeof(out));
	CHECK_STR(out, want, "a 200-byte name is cut at %d", DG_DUMPNAME_PREFIX_MAX);
	CHECK(r == 200 - DG_DUMPNAME_PREFIX_MAX, "cut bytes are counted as changed (want %d, got %d)",
	      200 - DG_DUMPNAME_PREFIX_MAX, r);
	CHECK(out[DG_DUMPNAME_PREFIX_MAX + 1] == 'Z', "nothing written past the terminator");

	/* One byte over, and that byte is unsafe: still cut, one changed. */
	memset(in, 'c', DG_DUMPNAME_PREFIX_MAX);
	in[DG_DUMPNAME_PREFIX_MAX] = '/';
	in[DG_DUMPNAME_PREFIX_MAX + 1] = '\0';
	r = dg_dumpname_prefix(in, out, sizeof(out));
	CHECK(r == 1 && strlen(out) == DG_DUMPNAME_PREFIX_MAX && strchr(out, '/') == NULL,
	      "%d-byte name ending in '/' is cut before the '/' (r=%d, len=%zu)", DG_DUMPNAME_PREFIX_MAX + 1, r,
	      strlen(out));

	/* A smaller buffer than the maximum limits the output too. */
	memset(out, 'Z', sizeof(out));
	r = dg_dumpname_prefix("abcdef", out, 4);
	CHECK_STR(out, "abc", "output buffer of 4 holds 3 bytes");
	CHECK(r == 3, "3 bytes lost to a small buffer (got %d)", r);
	CHECK(out[4] == 'Z', "small buffer not overrun");
}

static void format_case(const char *prefix, time_t when, int n, const char *ext, const char *want)
{
	char out[DG_DUMPNAME_MAX];
	int r;

	memset(out, 'Z', sizeof(out));
	r = dg_dumpname_format(prefix, when, n, ext, out, sizeof(out));
	CHECK(r == 0, "format %s %lld n=%d ext '%s' returns 0 (%d)", prefix, (long long)when, n, ext, r);
	CHECK_STR(out, want, "format %s %lld n=%d ext '%s' in TZ=%s is %s", prefix, (long long)when, n, ext,
		  getenv("TZ"), want);
}

static void test_format(void)
{
	char out[DG_DUMPNAME_MAX], want[DG_DUMPNAME_MAX], prefix[DG_DUMPNAME_PREFIX_MAX + 1];
	size_t need;
	int r;

	setenv("TZ", "UTC", 1);
	tzset();
	format_case("vm1", T0, 0, ".gcore", "vm1-20231114-221320.gcore");
	format_case("vm1", T0, 1, ".gcore", "vm1-20231114-221320-1.gcore");
	format_case("vm1", T0, 5, ".gcore", "vm1-20231114-221320-5.gcore");
	format_case("vm1", T0, 9, ".gcore", "vm1-20231114-221320-9.gcore");
	format_case("vm1", T0, 0, "", "vm1-20231114-221320");
	format_case("guest", 0, 0, ".gcore", "guest-19700101-000000.gcore");
	/* Zero-padded fields. */
	format_case("g", (time_t)1704164645, 2, ".gcore", "g-20240102-030405-2.gcore");

	for (int n = 0; n <= 9; n++) {
		r = dg_dumpname_format("vm1", T0, n, ".gcore", out, sizeof(out));
		if (n == 0)
			snprintf(want, sizeof(want), "vm1-20231114-221320.gcore");
		else
			snprintf(want, sizeof(want), "vm1-20231114-221320-%d.gcore", n);
		CHECK(r == 0 && strcmp(out, want) == 0, "n=%d gives %s (got %s)", n, want, out);
	}

	r = dg_dumpname_format("vm1", T0, 10, ".gcore", out, sizeof(out));
	CHECK(r == -EINVAL, "n=10 rejected with -EINVAL (%d)", r);
	r = dg_dumpname_format("vm1", T0, -1, ".gcore", out, sizeof(out));
	CHECK(r == -EINVAL, "n=-1 rejected with -EINVAL (%d)", r);
	r = dg_dumpname_format("vm1", T0, 1000, ".gcore", out, sizeof(out));
	CHECK(r == -EINVAL, "n=1000 rejected with -EINVAL (%d)", r);

	/* Buffer size: exactly enough works, one byte less is -ENAMETOOLONG and stays inside the buffer. */
	need = strlen("vm1-20231114-221320-3.gcore") + 1;
	memset(out, 'Z', sizeof(out));
	r = dg_dumpname_format("vm1", T0, 3, ".gcore", out, need);
	CHECK(r == 0 && strcmp(out, "vm1-20231114-221320-3.gcore") == 0, "buffer of exactly %zu bytes suffices (%d)",
	      need, r);
	memset(out, 'Z', sizeof(out));
	r = dg_dumpname_format("vm1", T0, 3, ".gcore", out, need - 1);
	CHECK(r == -ENAMETOOLONG, "buffer of %zu bytes gives -ENAMETOOLONG (%d)", need - 1, r);
	CHECK(out[need - 1] == 'Z', "short buffer not overrun");
	r = dg_dumpname_format("vm1", T0, 0, ".gcore", out, 8);
	CHECK(r == -ENAMETOOLONG, "buffer of 8 bytes gives -ENAMETOOLONG (%d)", r);

	/* The longest prefix with the longest suffix fits in DG_DUMPNAME_MAX. */
	memset(prefix, 'p', DG_DUMPNAME_PREFIX_MAX);
	prefix[DG_DUMPNAME_PREFIX_MAX] = '\0';
	r = dg_dumpname_format(prefix, T0, 9, ".gcore", out, sizeof(out));
	CHECK(r == 0 && strlen(out) == DG_DUMPNAME_PREFIX_MAX + strlen("-20231114-221320-9.gcore"),
	      "longest prefix with -9 fits DG_DUMPNAME_MAX (%d)", r);

	/* Host local time, not UTC: POSIX zone strings need no tzdata. */
	setenv("TZ", "IST-5:30", 1);
	tzset();
	format_case("vm1", T0, 0, ".gcore", "vm1-20231115-034320.gcore");
	setenv("TZ", "UTC-5", 1); /* POSIX sign: 5 hours east of UTC */
	tzset();
	format_case("vm1", T0, 2, ".gcore", "vm1-20231115-031320-2.gcore");
	setenv("TZ", "EST5", 1);
	tzset();
	format_case("vm1", T0, 0, ".gcore", "vm1-20231114-171320.gcore");
	if (access("/usr/share/zoneinfo/Asia/Kolkata", R_OK) == 0) {
		setenv("TZ", "Asia/Kolkata", 1);
		tzset();
		format_case("vm1", T0, 0, ".gcore", "vm1-20231115-034320.gcore");
	} else {
		printf("# skip Asia/Kolkata check: no tzdata in /usr/share/zoneinfo\n");
	}
	setenv("TZ", "UTC", 1);
	tzset();
}

/* Deterministic pseudo-random bytes, so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static void test_prefix_property(void)
{
	const int rounds = 20000;
	int bad_slash = 0, bad_dot = 0, bad_char = 0, bad_len = 0, bad_model = 0, bad_count = 0;
	char first_bad[64] = "";

	for (int k = 0; k < rounds; k++) {
		char in[301], out[DG_DUMPNAME_PREFIX_MAX + 1], model[DG_DUMPNAME_PREFIX_MAX + 1];
		size_t len = rng() % 300, i, mlen;
		bool leading = true;
		int changed = 0, r;

		for (i = 0; i < len; i++) {
			uint64_t v = rng();
			/* Favour the interesting bytes: dots at the start, slashes, anything else 1..255. */
			switch (v % 8) {
			case 0:
			case 1:
				in[i] = '.';
				break;
			case 2:
				in[i] = '/';
				break;
			default:
				in[i] = (char)(1 + (v >> 8) % 255);
			}
		}
		in[len] = '\0';

		r = dg_dumpname_prefix(in, out, sizeof(out));

		/* Reference model of the documented rules. */
		if (len == 0) {
			snprintf(model, sizeof(model), "guest");
			mlen = 5;
		} else {
			mlen = len < DG_DUMPNAME_PREFIX_MAX ? len : DG_DUMPNAME_PREFIX_MAX;
			for (i = 0; i < mlen; i++) {
				unsigned char c = (unsigned char)in[i];
				if (!allowed(c) || (leading && c == '.')) {
					model[i] = '_';
					changed++;
				} else {
					model[i] = (char)c;
				}
				if (c != '.')
					leading = false;
			}
			model[mlen] = '\0';
			changed += (int)(len - mlen);
		}

		if (strchr(out, '/'))
			bad_slash++;
		if (out[0] == '.')
			bad_dot++;
		for (i = 0; out[i]; i++)
			if (!allowed((unsigned char)out[i]))
				break;
		if (out[i])
			bad_char++;
		if (strlen(out) == 0 || strlen(out) > DG_DUMPNAME_PREFIX_MAX)
			bad_len++;
		if (strcmp(out, model) != 0)
			bad_model++;
		if (len && r != changed)
			bad_count++;
		if (len && (r == 0) != (strcmp(in, out) == 0))
			bad_count++;
		if ((bad_slash || bad_dot || bad_char || bad_len || bad_model || bad_count) && !first_bad[0])
			snprintf(first_bad, sizeof(first_bad), "round %d, input length %zu", k, len);
	}
	CHECK(bad_slash == 0, "%d random names: no prefix contains '/' (%d bad)", rounds, bad_slash);
	CHECK(bad_dot == 0, "%d random names: no prefix starts with '.' (%d bad)", rounds, bad_dot);
	CHECK(bad_char == 0, "%d random names: prefixes only contain [A-Za-z0-9._+-] (%d bad)", rounds, bad_char);
	CHECK(bad_len == 0, "%d random names: prefix length in 1..%d (%d bad)", rounds, DG_DUMPNAME_PREFIX_MAX,
	      bad_len);
	CHECK(bad_model == 0, "%d random names: prefix equals the reference mapping (%d bad)", rounds, bad_model);
	CHECK(bad_count == 0, "%d random names: changed-byte count matches, 0 only when unchanged (%d bad)", rounds,
	      bad_count);
	if (first_bad[0])
		printf("# first failure: %s\n", first_bad);
}

int main(void)
{
	test_prefix_rules();
	test_prefix_truncation();
	test_format();
	test_prefix_property();
	return tap_done();
}
