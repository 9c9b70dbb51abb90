"""`diagint watch` with no configuration at all, as after `apt install` + `systemctl start diagint-watch`.

The watcher runs in a mount namespace of its own where /etc/diagint, /var/lib/diagint, /run/diagint and
/var/log/diagint are empty tmpfs mounts (so the machine's own paths are never touched, and no configuration file
can exist), against a private libvirtd whose namespace is made from that one: like libvirtd and the watcher on a
real host, both see the same /run/diagint, where the dump's FIFO lives. An operator's plain `virsh inject-nmi` must end in a dump in the default
destination, found by a plain `diagint dumps list` (run inside the same namespace), with its audit record in the
default audit log; cooldown state goes to the default StateFile; SIGTERM stops it with status 0."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import diaglab  # noqa: E402

diaglab.require_guest_or_skip()

DEFAULT_DIRS = ["/etc/diagint", "/var/lib/diagint", "/run/diagint", "/var/log/diagint"]
LV = None
WORK = None
PROC = None
LOG = None
HOLDER = None  # holds the test's mount namespace
MADE = []  # mount points this test created on the machine: removed again, so the machine stays as it was


def path(*p):
    return os.path.join(WORK, *p)


def watcher_text():
    with open(LOG, errors="replace") as f:
        return f.read()


def wait_log(pattern, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(pattern, watcher_text())
        if m:
            return m
        if PROC.poll() is not None:
            raise AssertionError("watcher exited with %s:\n%s" % (PROC.returncode, watcher_text()))
        time.sleep(0.1)
    raise AssertionError("no %r in the watcher's log within %s s:\n%s" % (pattern, timeout, watcher_text()))


def inside(*argv):
    """A command in the watcher's mount namespace, with a clean diagint environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIAGINT_")}
    return subprocess.run(["nsenter", "-t", str(HOLDER.pid), "-m", "--"] + list(argv), capture_output=True,
                          text=True, timeout=60, env=env)


def setUpModule():
    global LV, WORK, PROC, LOG, HOLDER
    WORK = tempfile.mkdtemp(prefix="dg-defaults-")
    for d in DEFAULT_DIRS:
        if not os.path.exists(d):
            os.makedirs(d)  # mount points only: empty on the machine
            MADE.append(d)
    script = ["set -e"] + ["mount -t tmpfs -o size=1g,mode=0755 diagint-test '%s'" % d for d in DEFAULT_DIRS]
    script.append("echo mounted; exec sleep 100000")
    HOLDER = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(script)],
                              stdout=subprocess.PIPE, text=True)
    assert HOLDER.stdout.readline().strip() == "mounted", "could not make the test's mount namespace"
    LV = diaglab.PrivateLibvirtd(path("libvirt"), inside_ns_of=HOLDER.pid)
    LV.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIAGINT_") and k != "JOURNAL_STREAM"}
    LOG = path("watch.log")
    with open(LOG, "w") as f:
        PROC = subprocess.Popen(["nsenter", "-t", str(HOLDER.pid), "-m", "--", diaglab.diagint_bin(), "watch",
                                 "--connect", LV.uri], stdout=f, stderr=f, env=env)


def tearDownModule():
    if PROC and PROC.poll() is None:
        PROC.kill()
        PROC.wait()
    if LV:
        LV.stop()
    if HOLDER:
        HOLDER.kill()
        HOLDER.wait()
    for d in reversed(MADE):
        try:
            os.rmdir(d)
        except OSError:
            pass
    if WORK and not os.environ.get("DG_KEEP_WORK"):
        shutil.rmtree(WORK, ignore_errors=True)


class Defaults(unittest.TestCase):
    def test_no_configuration_captures_a_panic(self):
        wait_log(r"watcher started \(configuration: built-in defaults", 20)
        wait_log(r"connected to .*subscribed", 20)
        LV.create(diaglab.domain_xml("df-1", diaglab.built_guest(), path("console-df-1.log")))
        wait_log(r"df-1: started; watching it", 20)
        self.assertTrue(diaglab.wait_for_console(path("console-df-1.log"), "diagint-heartbeat 2", 60))
        self.assertNotIn("probe on", watcher_text(), "no probe runs without configuration")
        LV.virsh("inject-nmi", "df-1")
        wait_log(r"df-1: capture done", 60)

        # A plain `diagint dumps list`, no options: the default destination the watcher wrote to.
        r = inside(diaglab.diagint_bin(), "dumps", "list", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        dumps = json.loads(r.stdout)
        if isinstance(dumps, dict):
            dumps = dumps.get("dumps", [])
        self.assertEqual(len(dumps), 1, r.stdout)
        self.assertEqual(dumps[0]["domain"], "df-1")
        self.assertTrue(dumps[0]["sidecar"], dumps[0])
        self.assertTrue(dumps[0]["panic_seen"], "captured after its own panic: %s" % dumps[0])
        r = inside(diaglab.diagint_bin(), "dumps", "info", dumps[0]["name"], "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("/var/lib/diagint/dumps/%s" % dumps[0]["name"], r.stdout)
        # The dump itself, read back inside the namespace by an independent reader.
        # The whole printk line: "NMI: Not continuing" alone is a literal in the kernel's .rodata, in the dump of
        # every guest, panicked or not (test_cli_inject checks both ways on a guest that did not panic).
        r = inside("sh", "-c", "head -c 4 /var/lib/diagint/dumps/df-1-*.gcore | od -An -c; "
                   "grep -c -F -a '%s' /var/lib/diagint/dumps/df-1-*.gcore" % diaglab.NMI_PANIC_TEXT.decode())
        self.assertIn("E   L   F", r.stdout, r.stdout + r.stderr)
        self.assertGreaterEqual(int(r.stdout.split()[-1]), 1, "the NMI's panic line is in the dump")

        # Its decision and outcome in the default audit log; the brake state in the default StateFile.
        r = inside(diaglab.diagint_bin(), "audit", "list", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        recs = [json.loads(x) for x in r.stdout.splitlines() if x.strip()] if not r.stdout.lstrip().startswith(
            "[") else json.loads(r.stdout)
        acts = [(x["action"], x["target"], x["result"]["status"]) for x in recs
                if x["actor"]["component"] == "watcher"]
        self.assertIn(("capture", "libvirt:df-1", "ok"), acts)
        r = inside("sh", "-c", "test -s /var/lib/diagint/watch.state && test -S /run/diagint/watch.sock && "
                   "test -f /var/log/diagint/audit.jsonl && ls /etc/diagint | wc -l")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "0", "no configuration file anywhere")
        self.assertIn("crashed", LV.state("df-1"), "AfterCapture = preserve by default")

        PROC.send_signal(signal.SIGTERM)
        self.assertEqual(PROC.wait(timeout=30), 0, watcher_text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
