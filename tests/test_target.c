/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The target grammar: every provider's form, the errors a user sees, and a deterministic fuzz run (the corpus
 * of tests/fuzz plus seeded mutations) checking the invariants the libFuzzer harness checks. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagint/provider.h"
#include "diagint/target.h"
#include "fuzz/target_check.h"
#include "tap.h"

static void ok(const char *text, const char *provider, unsigned n, const char *last)
{
	struct dg_target t;
	struct dg_error err = { 0 };
	int r = dg_target_parse(text, &t, &err);

	CHECK(r == 0, "%s parses (%s)", text, err.message);
	if (r == 0) {
		CHECK_STR(t.provider->name, provider, "%s: provider", text);
		CHECK(t.n_parts == n, "%s: %u parts", text, n);
		CHECK_STR(t.part[n - 1], last, "%s: last part", text);
		CHECK_STR(t.text, text, "%s: canonical text is the input", text);
	}
}

static void bad(const char *text, const char *words)
{
	struct dg_target t;
	struct dg_error err = { 0 };
	int r = dg_target_parse(text, &t, &err);

	CHECK(r == -DG_USAGE && err.status == DG_USAGE, "'%s' refused with DG_USAGE", text);
	CHECK(strstr(err.message, words) != NULL, "'%s': message names the problem ('%s' in: %s)", text, words,
	      err.message);
}

static void test_valid(void)
{
	ok("gcp:my-project/us-central1-a/web-1", "gcp", 3, "web-1");
	ok("gcp:example.com:proj/europe-west4-b/1234567890123", "gcp", 3, "1234567890123");
	ok("aws:us-east-1/i-0123456789abcdef0", "aws", 2, "i-0123456789abcdef0");
	ok("aws:us-gov-west-1/i-01234567", "aws", 2, "i-01234567");
	ok("oci:us-ashburn-1/ocid1.instance.oc1.iad.anuwcljrabc", "oci", 2, "ocid1.instance.oc1.iad.anuwcljrabc");
	ok("openstack:4f2a6c1e-5b7d-4e21-9a0b-3c8d2e1f0a9b", "openstack", 1, "4f2a6c1e-5b7d-4e21-9a0b-3c8d2e1f0a9b");
	ok("libvirt:web-1", "libvirt", 1, "web-1");
	ok("libvirt:7", "libvirt", 1, "7");
}

static void test_errors(void)
{
	bad("", "empty target");
	bad("web-1", "names no provider");
	bad("web-1", "libvirt:web-1");
	bad("azure:vm1", "unknown provider 'azure'");
	bad("aws:us-east-1", "INSTANCE_ID is missing");
	bad("aws:us-east-1/", "INSTANCE_ID is empty");
	bad("aws:/i-0123456789abcdef0", "REGION is empty");
	/* Dot segments would move the request path to another resource (gcp:../ZONE/NAME collapsed before). */
	bad("gcp:../us-central1-a/web-1", "dot segment");
	bad("gcp:./us-central1-a/web-1", "dot segment");
	bad("gcp:my-project/../web-1", "dot segment");
	bad("gcp:my-project//web-1", "ZONE is empty");
	bad("aws:us-east-1/i-XYZ", "INSTANCE_ID 'i-XYZ' is not valid");
	bad("aws:us-east-1/i-0123456789ABCDEF0", "hex digits");
	bad("aws:us-east-1/i-0123456789abcdef0/x", "too many parts");
	bad("gcp:p/z", "INSTANCE is missing");
	bad("gcp:p/z/Web", "INSTANCE 'Web' is not valid");
	bad("oci:us-ashburn-1/ocid1.volume.oc1..x", "INSTANCE_OCID");
	bad("openstack:web-1", "SERVER_ID 'web-1' is not valid");
	bad("libvirt:a b", "space or control character");
	bad("libvirt:a\nb", "space or control character");
	bad("libvirt:a/b", "too many parts");
	bad("libvirt:", "DOMAIN is empty");
	{
		char longt[700];
		memset(longt, 'a', sizeof(longt) - 1);
		memcpy(longt, "libvirt:", 8);
		longt[sizeof(longt) - 1] = '\0';
		bad(longt, "too long");
	}
}

static void test_helpers(void)
{
	struct dg_buf b = DG_BUF_INIT;

	CHECK(dg_target_charset("ab-9", 4, "a-z0-9-"), "charset: ranges and a literal '-'");
	CHECK(!dg_target_charset("aB", 2, "a-z"), "charset: upper case is outside a-z");
	CHECK(dg_target_charset("", 0, "a"), "charset: empty is fine");
	CHECK(dg_target_grammar(&b, "  "), "grammar text built");
	for (unsigned i = 0; dg_provider_at(i); i++)
		CHECK(strstr(dg_buf_str(&b), dg_provider_at(i)->example) != NULL, "grammar shows %s's example",
		      dg_provider_at(i)->name);
	dg_buf_free(&b);
	CHECK(dg_provider_find("aws", 3) && !dg_provider_find("aw", 2) && !dg_provider_find("awsx", 4),
	      "registry finds exact names only");
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

static void mutate(char *s, size_t cap)
{
	static const char alphabet[] = "aws:gcpoci/libvirt-openstack.0123456789abcdef \t\n\x01\x7f\xff:/%_";
	size_t len = strlen(s);
	unsigned ops = 1 + next() % 4;

	for (unsigned k = 0; k < ops; k++) {
		size_t pos = len ? next() % (len + 1) : 0;
		switch (next() % 5) {
		case 0: /* replace */
			if (len)
				s[pos % len] = alphabet[next() % (sizeof(alphabet) - 1)];
			break;
		case 1: /* insert */
			if (len + 1 < cap) {
				memmove(s + pos + 1, s + pos, len - pos + 1);
				s[pos] = alphabet[next() % (sizeof(alphabet) - 1)];
				len++;
			}
			break;
		case 2: /* delete */
			if (len) {
				memmove(s + pos % len, s + pos % len + 1, len - pos % len);
				len--;
			}
			break;
		case 3: /* truncate */
			s[pos] = '\0';
			len = pos;
			break;
		default: /* repeat the tail */
			if (len && len * 2 < cap) {
				memmove(s + len, s, len);
				s[2 * len] = '\0';
				len *= 2;
			}
			break;
		}
	}
}

static void test_fuzz_corpus(void)
{
	const char *src = getenv("DG_SOURCE_DIR");
	char dir[4096], path[4400], seeds[64][DG_TARGET_MAX];
	unsigned n = 0, runs = 0, broken = 0;
	const char *first = NULL;
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/target", src ? src : "..");
	d = opendir(dir);
	CHECK(d != NULL, "corpus directory %s", dir);
	while (d && (de = readdir(d)) && n < 64) {
		FILE *f;
		size_t len;
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		f = fopen(path, "rb");
		if (!f)
			continue;
		len = fread(seeds[n], 1, DG_TARGET_MAX - 1, f);
		seeds[n][len] = '\0';
		fclose(f);
		n++;
	}
	if (d)
		closedir(d);
	CHECK(n >= 10, "corpus has seeds (%u)", n);
	for (unsigned i = 0; i < n; i++) {
		const char *why = dg_target_check(seeds[i]);
		runs++;
		if (why && !broken++)
			first = why;
	}
	/* Seeded mutations: the same 40000 inputs on every run, so a failure reproduces. */
	for (unsigned i = 0; n && i < 40000; i++) {
		char buf[DG_TARGET_MAX * 2];
		const char *why;
		snprintf(buf, sizeof(buf), "%s", seeds[next() % n]);
		mutate(buf, sizeof(buf));
		why = dg_target_check(buf);
		runs++;
		if (why && !broken++)
			first = why;
	}
	CHECK(broken == 0, "%u inputs, grammar invariants hold (%s)", runs, first ? first : "none broken");
}

int main(void)
{
	test_valid();
	test_errors();
	test_helpers();
	test_fuzz_corpus();
	return tap_done();
}
