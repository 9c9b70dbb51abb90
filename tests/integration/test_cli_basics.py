"""The diagint CLI's contract without a guest: help, version, usage errors and their exit statuses."""
import os
import subprocess
import sys
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
