"""The diagint CLI's contract without a guest: help, version, usage errors and their exit statuses."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import diaglab  # noqa: E402


def diagint(*args, env=None):
    return subprocess.run([diaglab.diagint_bin()] + list(args), capture_output=True, text=True, timeout=60,
                          env=env)


class Basics(unittest.TestCase):
    def test_version(self):
        r = diagint("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^diagint \d+\.\d+\.\d+\n$")

    def test_help_lists_commands_and_statuses(self):
        r = diagint("--help")
        self.assertEqual(r.returncode, 0)
        for word in ("inject", "capture", "Exit status", "6  refused"):
            self.assertIn(word, r.stdout)
        for cmd in ("inject", "capture"):
            a = diagint(cmd, "--help")
            b = diagint("help", cmd)
            self.assertEqual(a.returncode, 0)
            self.assertEqual(a.stdout, b.stdout)
            self.assertIn("Usage: diagint %s" % cmd, a.stdout)
            self.assertIn("Exit status", a.stdout)
        self.assertIn("--timeout", diagint("inject", "--help").stdout)
        self.assertIn("-9.gcore", diagint("inject", "--help").stdout)

    def test_no_arguments_is_usage(self):
        r = diagint()
        self.assertEqual(r.returncode, 2)

    def test_unknown_command(self):
        r = diagint("frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown command 'frobnicate'", r.stderr)

    def test_missing_domain(self):
        r = diagint("inject")
        self.assertEqual(r.returncode, 2)
        self.assertIn("missing DOMAIN", r.stderr)

    def test_two_domains(self):
        r = diagint("inject", "a", "b")
        self.assertEqual(r.returncode, 2)
        self.assertIn("one DOMAIN at a time", r.stderr)

    def test_bad_timeouts(self):
        for bad in ("abc", "0", "-1", "1e9", "10s", "", "nan", "inf"):
            r = diagint("inject", "--timeout", bad, "x")
            self.assertEqual(r.returncode, 2, bad)
            self.assertIn("bad --timeout", r.stderr, bad)

    def test_unknown_option(self):
        r = diagint("inject", "--frob", "x")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--frob", r.stderr)

    def test_contradiction(self):
        r = diagint("inject", "--no-capture", "--dump-dir", "/tmp", "x")
        self.assertEqual(r.returncode, 2)

    def test_unreachable_uri(self):
        r = diagint("inject", "-c", "qemu:///system?socket=/nonexistent/diagint-test.sock", "x")
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertIn("cannot connect to libvirt", r.stderr)
        self.assertIn("--connect", r.stderr)
        self.assertEqual(r.stderr.count("\n"), 1, "one-line error")

    def test_default_uri_from_environment(self):
        env = dict(os.environ, LIBVIRT_DEFAULT_URI="qemu:///system?socket=/nonexistent/env.sock")
        r = diagint("capture", "x", env=env)
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertIn("/nonexistent/env.sock", r.stderr, "LIBVIRT_DEFAULT_URI is honoured")

    def test_bad_uri_scheme(self):
        r = diagint("inject", "-c", "frob://nowhere/", "x")
        self.assertIn(r.returncode, (2, 5), r.stderr)
        self.assertIn("frob://nowhere/", r.stderr)


class OptionSafety(unittest.TestCase):
    """-n is --dry-run in every command that acts; options are taken after operands too."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dg-basics-")
        self.env = dict(os.environ, DIAGINT_AUDIT_LOG=os.path.join(self.tmp, "audit.jsonl"))
        self.env.pop("LIBVIRT_DEFAULT_URI", None)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_dry_run_is_n_everywhere(self):
        for cmd in ("inject", "capture", "send", "watch"):
            self.assertRegex(diagint(cmd, "--help").stdout, r"-n, --dry-run", cmd)
        text = diagint("inject", "--help").stdout
        self.assertRegex(text, r"\n\s+--no-capture", "--no-capture has no short option")
        self.assertNotRegex(text, r"-n, --no-capture")

    def test_dry_run_still_checks_and_is_audited(self):
        # A dry run goes through authorization and the audit log, then needs libvirt like a real run.
        for args in (["inject", "-n", "x"], ["inject", "x", "-n"], ["capture", "x", "--dry-run"]):
            r = diagint(*(args + ["-c", "qemu:///system?socket=/nonexistent/diagint-test.sock"]), env=self.env)
            self.assertEqual(r.returncode, 5, (args, r.stderr))
            self.assertIn("cannot connect to libvirt", r.stderr)
        r = diagint("audit", "list", "--json", env=self.env)
        recs = json.loads(r.stdout)
        self.assertEqual([x["action"] for x in recs], ["authorize", "inject"] * 2 + ["authorize", "capture"])
        self.assertIn("dry run", recs[0]["evidence"])

    def test_no_capture_keeps_no_short_option(self):
        r = diagint("capture", "x", "--no-capture")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--no-capture applies to inject only", r.stderr)
        r = diagint("inject", "x", "--dry-run", "--no-capture", "--dump-dir", "/tmp")
        self.assertEqual(r.returncode, 2, "checked after the operand too")

    def test_options_after_operands(self):
        # Every command: an option after an operand is taken (here --help), an unknown one is named.
        for args in (["inject", "x"], ["capture", "x"], ["send", "aws:us-east-1/i-0123456789abcdef0"],
                     ["doctor", "libvirt:x"], ["watch"], ["dumps", "list"], ["audit", "list"], ["audit", "report"],
                     ["audit", "verify", "/nonexistent"]):
            r = diagint(*(args + ["--help"]), env=self.env)
            self.assertEqual(r.returncode, 0, (args, r.stderr))
            self.assertIn("Usage: diagint %s" % args[0], r.stdout, args)
            r = diagint(*(args + ["--frob"]), env=self.env)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn("--frob", r.stderr, args)
        r = diagint("inject", "x", "--timeout", "abc")
        self.assertEqual(r.returncode, 2)
        self.assertIn("bad --timeout", r.stderr)
        r = diagint("inject", "-c", "qemu:///system?socket=/nonexistent/diagint-test.sock", "--", "-n",
                    env=self.env)
        self.assertEqual(r.returncode, 5, "after --, '-n' is a DOMAIN: %s" % r.stderr)

    def test_audit_log_option_anywhere(self):
        other = os.path.join(self.tmp, "other.jsonl")
        r = diagint("audit", "list", "--json", "--audit-log", other)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "[]"), r.stderr)
        self.assertIn(other, r.stderr)


class FreshHost(unittest.TestCase):
    """Listings where nothing was written yet: empty, status 0."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dg-fresh-")
        self.log = os.path.join(self.tmp, "log", "audit.jsonl")
        self.env = dict(os.environ, DIAGINT_AUDIT_LOG=self.log)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_dumps_list_empty_and_missing(self):
        empty = os.path.join(self.tmp, "empty")
        os.makedirs(empty)
        missing = os.path.join(self.tmp, "dumps")
        conf = os.path.join(self.tmp, "diagint.conf")
        with open(conf, "w") as f:
            f.write("[capture]\nDestination = %s\n" % missing)
        for args in (["--dump-dir", empty], ["--dump-dir", missing], ["--config", conf]):
            r = diagint("dumps", "list", *args)
            self.assertEqual(r.returncode, 0, (args, r.stderr))
            self.assertEqual(r.stdout.split(), ["TIME", "DOMAIN", "DISK", "SIZE", "PANIC", "NAME"], args)
            self.assertIn("0 dump(s)", r.stderr)
            r = diagint("dumps", "list", "--json", *args)
            self.assertEqual((r.returncode, json.loads(r.stdout)), (0, []), (args, r.stderr))
        r = diagint("dumps", "gc", "--json", "--config", conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["evicted"], 0)
        self.assertIn("does not exist", r.stderr)
        self.assertFalse(os.path.exists(missing), "a listing creates nothing")
        r = diagint("dumps", "info", "x.gcore", "--config", conf)
        self.assertEqual(r.returncode, 2, "info of a missing directory is still an error: %s" % r.stderr)

    def test_watch_fails_at_start_on_unwritable_state(self):
        # Dry run too: the trial run shows an unwritable StateFile, before any libvirt connection.
        conf = os.path.join(self.tmp, "diagint.conf")
        with open(conf, "w") as f:
            f.write("[watch]\nStateFile = /proc/version/watch.state\nSocket = %s\n" % os.path.join(self.tmp, "s"))
        r = diagint("watch", "-n", "--config", conf, "-c", "qemu:///system?socket=/nonexistent/x.sock", env=self.env)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("/proc/version/watch.state", r.stderr)
        self.assertIn("set StateFile", r.stderr)
        self.assertNotIn("connect", r.stderr, "failed before connecting")

    def test_audit_listings_without_a_log(self):
        r = diagint("audit", "list", env=self.env)
        self.assertEqual((r.returncode, r.stdout), (0, ""), r.stderr)
        self.assertIn("no audit log at %s yet" % self.log, r.stderr)
        r = diagint("audit", "list", "--json", "--result", "dry-run", env=self.env)
        self.assertEqual((r.returncode, json.loads(r.stdout)), (0, []), r.stderr)
        r = diagint("audit", "export", env=self.env)
        self.assertEqual((r.returncode, r.stdout), (0, ""), r.stderr)
        r = diagint("audit", "report", env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0 records", r.stdout)
        r = diagint("audit", "report", "--json", env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["records"], 0)
        r = diagint("--audit-log", self.log, "audit", "list", "--json")
        self.assertEqual((r.returncode, json.loads(r.stdout)), (0, []), r.stderr)
        self.assertFalse(os.path.exists(os.path.dirname(self.log)), "reading creates nothing")
        r = diagint("audit", "show", "1", env=self.env)
        self.assertEqual(r.returncode, 4, "no such record: %s" % r.stderr)


class TimeGrammar(unittest.TestCase):
    """`dumps list` and `audit` read --since/--until with one grammar (systemd.time(7)'s): the same inputs select
    the same moments in both, and a bad one is refused by both with the same message."""

    # Events this long before now: the dumps' names and the audit records' times.
    AGES = (20 * 86400, 8 * 86400, 6 * 86400, 3 * 3600, 2 * 3600, 600)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dg-time-")
        self.dumps = os.path.join(self.tmp, "dumps")
        os.makedirs(self.dumps, mode=0o700)
        self.log = os.path.join(self.tmp, "audit.jsonl")
        self.env = dict(os.environ, TZ="UTC", DIAGINT_AUDIT_LOG=self.log)
        now = int(time.time())
        with open(self.log, "w") as f:
            for i, age in enumerate(self.AGES):
                t = time.gmtime(now - age)
                with open(os.path.join(self.dumps, time.strftime("web-1-%Y%m%d-%H%M%S.gcore", t)), "wb") as d:
                    d.write(b"\x7fELF" + b"\0" * 60)
                f.write(json.dumps({"seq": i + 1, "time": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", t),
                                    "action": "inject", "target": "libvirt:web-1", "result": {"status": "ok"}},
                                   separators=(",", ":")) + "\n")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def counts(self, *args):
        d = diagint("dumps", "list", "--dump-dir", self.dumps, "--json", *args, env=self.env)
        a = diagint("audit", "report", "--json", *args, env=self.env)
        self.assertEqual((d.returncode, a.returncode), (0, 0), (args, d.stderr, a.stderr))
        return len(json.loads(d.stdout)), json.loads(a.stdout)["records"]

    def test_same_inputs_same_selection(self):
        old = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - 7 * 86400))
        for args, n in ((["--since", "7d"], 4), (["--since", "-7d"], 4), (["--since", "7d ago"], 4),
                        (["--since", "-2h30min"], 2), (["--since", "150min ago"], 2), (["--since", "-1w"], 4),
                        (["--since", "@0"], 6), (["--since", "1970-01-01T00:00:00Z"], 6),
                        (["--since", old], 4), (["--since", "-30d", "--until", "-7d"], 2),
                        (["--until", "-7d"], 2), (["--until", "now"], 6), (["--since", "tomorrow"], 0),
                        (["--since", "-2h30min", "--until", "-5min"], 2), (["--until", "1970-01-02"], 0)):
            self.assertEqual(self.counts(*args), (n, n), args)
        # today/yesterday: local midnights, UTC's here (TZ=UTC).
        now = time.time()
        midnight = now - now % 86400
        for word, start in (("today", midnight), ("yesterday", midnight - 86400)):
            n = sum(1 for age in self.AGES if now - age >= start)
            self.assertEqual(self.counts("--since", word), (n, n), word)

    def test_same_refusal(self):
        for bad in ("last tuesday", "-5x", "2026-02-30", "1969-12-31", "-99999999999999999999d"):
            for opt in ("--since", "--until"):
                d = diagint("dumps", "list", "--dump-dir", self.dumps, opt, bad, env=self.env)
                a = diagint("audit", "list", opt, bad, env=self.env)
                self.assertEqual((d.returncode, a.returncode), (2, 2), (bad, d.stderr, a.stderr))
                dmsg = d.stderr.splitlines()[0].split(": ", 1)[1]
                amsg = a.stderr.splitlines()[0].split(": ", 1)[1]
                self.assertEqual(dmsg, amsg, bad)
                self.assertIn("%s: " % opt, dmsg)
                self.assertIn("'%s'" % bad, dmsg)
                self.assertIn("systemd.time(7)", dmsg)

    def test_help_names_the_grammar(self):
        for cmd in ("dumps", "audit"):
            r = diagint(cmd, "--help")
            self.assertIn("systemd.time(7)", r.stdout, cmd)
            self.assertIn("--until", r.stdout, cmd)


def default_dump_dir():
    """The built-in default destination, as the binary says it (meson option dump_dir)."""
    m = re.search(r"Default: Destination= in the configuration, else (\S+)", diagint("inject", "--help").stdout)
    return m.group(1)


class HookAnswer(unittest.TestCase):
    """The libvirt hook at a guest's start gives inject's and doctor's answer about a missing default directory."""

    XML = "<domain><name>web-1</name><uuid>3f2a6c1e-5b7d-4e21-9a0b-3c8d2e1f0a9b</uuid>" \
          "<memory unit='KiB'>131072</memory></domain>"

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dg-hook-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def hook(self, dest, refuse=False):
        conf = os.path.join(self.tmp, "diagint.conf")
        with open(conf, "w") as f:
            f.write("[capture]\nDestination = %s\n[watch]\nHookRefuseStart = %s\nSocket = %s\n"
                    % (dest, "yes" if refuse else "no", os.path.join(self.tmp, "watch.sock")))
        hook = os.path.join(os.environ.get("DG_BUILD_DIR", "build"), "libvirt-hook", "diagint-hook")
        return subprocess.run([hook, "web-1", "prepare", "begin", "-"], input=self.XML, capture_output=True,
                              text=True, timeout=30, env={"DIAGINT_CONFIG": conf})

    def test_missing_named_directory_warns(self):
        r = self.hook(os.path.join(self.tmp, "missing"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("could not be captured", r.stderr)
        r = self.hook(os.path.join(self.tmp, "missing"), refuse=True)
        self.assertEqual(r.returncode, 1, r.stderr)

    def test_missing_default_is_created_by_the_first_capture(self):
        if os.path.exists(default_dump_dir()):
            self.skipTest("%s exists on this host" % default_dump_dir())
        for refuse in (False, True):
            r = self.hook(default_dump_dir() + "/", refuse=refuse)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("does not exist yet: the first capture creates it", r.stderr)
            self.assertNotIn("could not be captured", r.stderr)
        self.assertFalse(os.path.exists(default_dump_dir()), "the hook creates nothing")


if __name__ == "__main__":
    unittest.main(verbosity=2)
