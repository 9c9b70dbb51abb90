"""Removing evidence is an action like any other: `diagint dumps remove` and `dumps gc` are authorized (PAM, target
dump:NAME) and recorded before anything is deleted; a refused removal keeps the dump."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

BUILD = os.environ.get("DG_BUILD_DIR", "build")
DIAGINT = os.path.join(BUILD, "cli", "diagint")
NAME = "web-1-20261206-100000.gcore"


class DumpsRemove(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0 or os.path.exists("/etc/pam.d/diagint"):
            self.skipTest("needs root acting directly with no PAM service diagint installed")
        self.dir = tempfile.mkdtemp(prefix="dg-rm-")
        self.dumps = os.path.join(self.dir, "dumps")
        os.makedirs(self.dumps, mode=0o700)
        with open(os.path.join(self.dumps, NAME), "wb") as f:
            f.write(b"\x7fELF" + b"\0" * 60)
        with open(os.path.join(self.dumps, NAME + ".json"), "w") as f:
            json.dump({"domain": {"name": "web-1"}}, f)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("SUDO_", "DIAGINT_"))}
        self.env["DIAGINT_AUDIT_LOG"] = os.path.join(self.dir, "audit.jsonl")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_cli(self, *args):
        return subprocess.run([DIAGINT] + list(args), capture_output=True, text=True, timeout=60, env=self.env,
                              stdin=subprocess.DEVNULL)

    def records(self):
        with open(self.env["DIAGINT_AUDIT_LOG"]) as f:
            return [json.loads(x) for x in f]

    def test_remove_is_authorized_and_recorded(self):
        r = self.run_cli("dumps", "--dump-dir", self.dumps, "remove", NAME)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dumps, NAME)))
        recs = [(x["action"], x["target"], x["result"]["status"]) for x in self.records()]
        self.assertEqual(recs, [("authorize", "dump:" + NAME, "ok"), ("dump-remove", "dump:" + NAME, "ok")])

    def test_unrecordable_removal_does_not_happen(self):
        self.env["DIAGINT_AUDIT_LOG"] = "/proc/diagint-cannot-be-here/audit.jsonl"
        r = self.run_cli("dumps", "--dump-dir", self.dumps, "remove", NAME)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("audit log", r.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.dumps, NAME)), "no record, no removal")

    def test_gc_is_authorized_and_recorded(self):
        conf = os.path.join(self.dir, "diagint.conf")
        with open(conf, "w") as f:
            f.write("[capture]\nMaxUse = 1\n")
        r = self.run_cli("dumps", "--dump-dir", self.dumps, "--config", conf, "gc", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["evicted"], 1)
        recs = self.records()
        self.assertEqual([(x["action"], x["result"]["status"]) for x in recs], [("authorize", "ok"), ("dump-gc", "ok")])
        self.assertIn("1 dump(s) removed", recs[1]["evidence"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
