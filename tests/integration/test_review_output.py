"""What a reviewer reads is what was recorded: `diagint audit list` and `audit report` show control characters
from records (an operator's --reason, a target's name) as \\xNN, so CR or ESC cannot redraw the terminal and
forge a row. The JSON outputs keep the exact bytes (json-c escapes them)."""
import json
import os
import subprocess
import tempfile
import unittest

BUILD = os.environ.get("DG_BUILD_DIR", "build")
DIAGINT = os.path.join(BUILD, "cli", "diagint")
NOWHERE = "qemu:///system?socket=/nonexistent/diagint-review-test.sock"
FORGED = "\r\x1b[2K1      2026-01-01 00:00:00 mallory    inject     libvirt:web-1            denied   \x1b[8m\u0085"


class ReviewOutput(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="dg-review-")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("SUDO_", "DIAGINT_"))}
        self.env["DIAGINT_AUDIT_LOG"] = os.path.join(self.dir, "audit.jsonl")

    def run_cli(self, *args):
        return subprocess.run([DIAGINT] + list(args), capture_output=True, text=True, timeout=60, env=self.env,
                              stdin=subprocess.DEVNULL)

    def test_control_characters_are_escaped_for_humans_and_kept_for_machines(self):
        if os.geteuid() != 0:
            self.skipTest("needs root acting directly (no PAM service decides for others)")
        r = self.run_cli("send", "--reason", FORGED, "-c", NOWHERE, "libvirt:web-1")
        self.assertNotEqual(r.returncode, 0, "nothing to reach: the send fails, its records stay")
        with open(self.env["DIAGINT_AUDIT_LOG"]) as f:
            recs = [json.loads(x) for x in f]
        self.assertTrue(any(x.get("reason") == FORGED for x in recs), "the record holds the exact text")
        # A record whose shown fields carry the forgery (the reason is shown when there is no error).
        rec = dict(recs[-1], seq=len(recs) + 1, reason=FORGED, target="libvirt:web-1\x1b[31m")
        rec["result"] = {"status": "ok"}
        with open(self.env["DIAGINT_AUDIT_LOG"], "a") as f:
            f.write(json.dumps(rec) + "\n")
        for argv in (["audit", "list"], ["audit", "report"]):
            out = self.run_cli(*argv)
            self.assertEqual(out.returncode, 0, out.stderr)
            for bad in ("\r", "\x1b", "\u0085"):
                self.assertNotIn(bad, out.stdout, (argv, bad))
        listing = self.run_cli("audit", "list").stdout
        self.assertIn("\\x0d\\x1b[2K", listing, "shown, escaped")
        self.assertIn("libvirt:web-1\\x1b[31m", listing)
        self.assertIn("libvirt:web-1\\x1b[31m", self.run_cli("audit", "report").stdout)
        as_json = json.loads(self.run_cli("audit", "list", "--json").stdout)
        self.assertIn(FORGED, [x.get("reason") for x in as_json], "--json keeps the bytes")


if __name__ == "__main__":
    unittest.main(verbosity=2)
