"""diagint.so inside a real collectd 5.12, against the loopback AWS of tests/cloudlab.

Each test starts a private collectd (Interval 1, Timeout 2, logfile to stderr, unixsock, threshold, then the
plugin from the build directory), feeds it heartbeats through the unixsock plugin (PUTVAL), stops some of them
(silence) or sends PUTNOTIF, and asserts how many interrupt requests the lab received: a duplicate or a missing
interrupt cannot pass unnoticed. No timing is asserted except generous bounds on waits."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cloudlab"))
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import auditcheck  # noqa: E402
import cloudlab  # noqa: E402
from cloudlab import AWS_KEY, AWS_SECRET, AWS_TOKEN  # noqa: E402

COLLECTD = "/usr/sbin/collectd"
LAB = None
TMP = None


def inst(i):
    return "i-%017x" % (0xd1a9000 + i)


def plugin_dir():
    build = os.environ.get("DG_BUILD_DIR", os.path.join(HERE, "..", "..", "build"))
    return os.path.abspath(os.path.join(build, "collectd-plugin"))


def require_collectd_or_skip():
    """Skip visibly (exit 77, which meson shows as SKIP; a unittest.SkipTest would exit 0 and show as OK) where
    collectd or the plugin is missing; under DIAGINT_REQUIRE_GUEST=1 (CI) fail instead."""
    why = []
    if not os.path.exists(COLLECTD):
        why.append("collectd is not installed (scripts/deps collectd)")
    if not os.path.exists(os.path.join(plugin_dir(), "diagint.so")):
        why.append("diagint.so was not built (collectd-dev missing at setup)")
    if not why:
        return
    if os.environ.get("DIAGINT_REQUIRE_GUEST") == "1":
        print("FAIL: collectd is required here (DIAGINT_REQUIRE_GUEST=1) but: " + "; ".join(why), flush=True)
        raise SystemExit(1)
    print("SKIP: " + "; ".join(why), flush=True)
    raise SystemExit(77)


require_collectd_or_skip()


def setUpModule():
    global LAB, TMP
    # Short: the unixsock path must stay under 108 bytes.
    TMP = tempfile.mkdtemp(prefix="dgcd-", dir="/tmp")
    LAB = cloudlab.Lab(TMP).start()


def tearDownModule():
    if LAB:
        LAB.stop()
    if TMP:
        shutil.rmtree(TMP, ignore_errors=True)


def wait_for(cond, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


class Collectd:
    """A private collectd with the plugin; `plugin` is the body of <Plugin diagint>."""

    def __init__(self, tag, plugin, threshold=True, state_dir=None):
        self.dir = tempfile.mkdtemp(prefix=tag[:6] + "-", dir=TMP)
        state_dir = state_dir or self.dir
        self.sock = os.path.join(self.dir, "sock")
        self.conf = os.path.join(self.dir, "collectd.conf")
        self.logpath = os.path.join(self.dir, "stderr.log")
        self.audit = os.path.join(self.dir, "audit.jsonl")
        th = ""
        if threshold:
            th = ('LoadPlugin threshold\n<Plugin threshold>\n  <Plugin "hb">\n    <Type "gauge">\n'
                  '      FailureMin 0\n    </Type>\n  </Plugin>\n</Plugin>\n')
        text = ('Hostname "mon"\nFQDNLookup false\nBaseDir "%s"\nPIDFile "%s/pid"\nInterval 1\nTimeout 2\n'
                'AutoLoadPlugin false\nTypesDB "/usr/share/collectd/types.db"\nPluginDir "/usr/lib/collectd"\n'
                'LoadPlugin logfile\n<Plugin logfile>\n  LogLevel info\n  File STDERR\n  PrintSeverity true\n'
                '</Plugin>\nLoadPlugin unixsock\n<Plugin unixsock>\n  SocketFile "%s"\n  SocketGroup "root"\n'
                '</Plugin>\n%sPluginDir "%s"\nLoadPlugin diagint\n<Plugin diagint>\n  AuditLog "%s"\n'
                '  StateFile "%s/brakes.state"\n  Endpoint "aws" "%s/"\n  CACert "%s"\n'
                '  Environment "AWS_ACCESS_KEY_ID" "%s"\n  Environment "AWS_SECRET_ACCESS_KEY" "%s"\n'
                '  Environment "AWS_SESSION_TOKEN" "%s"\n  CheckAtStart false\n%s</Plugin>\n') % (
            self.dir, self.dir, self.sock, th, plugin_dir(), self.audit, state_dir, LAB.base, LAB.cacert,
            AWS_KEY, AWS_SECRET, AWS_TOKEN, plugin)
        with open(self.conf, "w") as f:
            f.write(text)
        self.env = LAB.env(self.dir)
        # Nothing of the lab's own AWS variables: the plugin's Endpoint/CACert/Environment must be enough.
        for k in ("AWS_ENDPOINT_URL_EC2", "AWS_CA_BUNDLE"):
            self.env.pop(k, None)
        self.env["DIAGINT_AUDIT_LOG"] = os.environ.get("DIAGINT_AUDIT_LOG", os.path.join(self.dir, "default.jsonl"))
        # To run the plugin from a sanitizer build inside the (uninstrumented) daemon: LD_PRELOAD=libasan.so.
        for k in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS"):
            if k in os.environ:
                self.env[k] = os.environ[k]
        self.proc = None
        self.prefix = []   # a command collectd runs under (unshare ...)
        self.hb_hosts = set()
        self.hb_stop = threading.Event()
        self.hb_thread = None

    # -- life cycle --
    def start(self):
        self.logf = open(self.logpath, "w")
        self.proc = subprocess.Popen(self.prefix + [COLLECTD, "-f", "-C", self.conf], stdout=self.logf,
                                     stderr=self.logf, env=self.env)
        ok = wait_for(lambda: os.path.exists(self.sock) and "Initialization complete" in self.log(), 20)
        assert ok, "collectd did not start:\n" + self.log()
        assert "watching" in self.log(), "the plugin did not initialize:\n" + self.log()
        return self

    def stop(self, timeout=20):
        self.heartbeat_stop()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()
        return self.proc.returncode if self.proc else None

    def log(self):
        try:
            with open(self.logpath) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def records(self):
        try:
            with open(self.audit) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    # -- unixsock --
    def command(self, line):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(self.sock)
        s.sendall((line + "\n").encode())
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        s.close()
        assert buf.startswith(b"0 "), (line, buf)
        return buf.decode()

    def putval(self, host, plugin="hb", type_="gauge", value=1):
        return self.command("PUTVAL %s/%s/%s interval=1 N:%s" % (host, plugin, type_, value))

    def putnotif(self, host, plugin, type_, severity="failure", message="scripted by the test"):
        return self.command('PUTNOTIF severity=%s time=%d host=%s plugin=%s type=%s message="%s"' % (
            severity, int(time.time()), host, plugin, type_, message))

    # -- heartbeats: every host in hb_hosts gets a value each second --
    def heartbeat(self, hosts):
        self.hb_hosts = set(hosts)
        if not self.hb_thread:
            self.hb_thread = threading.Thread(target=self._hb, daemon=True)
            self.hb_thread.start()

    def _hb(self):
        while not self.hb_stop.is_set():
            for h in sorted(self.hb_hosts):
                try:
                    self.putval(h)
                except OSError:
                    pass
            self.hb_stop.wait(0.5)

    def heartbeat_stop(self):
        self.hb_stop.set()
        if self.hb_thread:
            self.hb_thread.join()
            self.hb_thread = None


def targets(n, extra=""):
    return "".join('  <Target "web-%d">\n    Host "web-%d"\n    Interrupt "aws:us-east-1/%s"\n    Detect "missing"\n'
                   '    Hits 1\n%s  </Target>\n' % (i, i, inst(i), extra) for i in range(1, n + 1))


def interrupts(i=None):
    return LAB.count("aws.interrupt", inst(i) if i else None)


class CollectdTest(unittest.TestCase):
    def setUp(self):
        LAB.reset()
        self.cd = None

    def tearDown(self):
        if self.cd:
            rc = self.cd.stop()
            self.assertEqual(rc, 0, self.cd.log())
            # Every record the plugin wrote, its chain checked by a reader independent of diagint's code.
            if os.path.exists(self.cd.audit):
                self.assertEqual(auditcheck.verify(self.cd.audit), self.cd.records())

    def start(self, tag, plugin, **kw):
        self.cd = Collectd(tag, plugin, **kw).start()
        return self.cd

    def hang_and_wait(self, host_index, alive, expect_total, timeout=15):
        """Stop host_index's heartbeat and wait until the lab has seen expect_total interrupts in all."""
        self.cd.heartbeat(alive)
        t0 = time.monotonic()
        wait_for(lambda: interrupts() >= expect_total, timeout)
        return time.monotonic() - t0

    def settle(self, seconds=3.0):
        """Long enough for any further (wrong) interrupt to arrive: Timeout 2 x Interval 1 plus margin."""
        time.sleep(seconds)

    def results(self, result):
        """The outcome records (the "authorize" record written before each action aside)."""
        return [r for r in self.cd.records() if r["result"]["status"] == result and r["action"] != "authorize"]


class Detection(CollectdTest):
    def test_one_hang_one_interrupt_then_none_inside_cooldown(self):
        cd = self.start("cool", "  Cooldown 600\n  MaxActions 10\n  ActionWindow 600\n  MaxUnhealthyPercent 50\n"
                        + targets(4))
        everyone = ["web-1", "web-2", "web-3", "web-4"]
        cd.heartbeat(everyone)
        self.settle(2)
        self.assertEqual(interrupts(), 0, cd.log())   # heartbeats alone never interrupt
        took = self.hang_and_wait(1, everyone[1:], 1)
        # Silence is declared after Timeout 2 x Interval 1 (measured 2.9-3.0 s): bounded on both sides, generously.
        self.assertGreater(took, 1.5, "interrupted before the silence could be declared")
        self.assertLess(took, 12, "detection took %.1f s" % took)
        self.settle()
        self.assertEqual((interrupts(1), interrupts()), (1, 1), cd.log())
        ok = self.results("ok")
        self.assertEqual(len(ok), 1, cd.records())
        rec = ok[0]
        self.assertEqual((rec["actor"]["component"], rec["actor"]["uid"], rec["action"], rec["target"]),
                         ("collectd", os.getuid(), "send", "aws:us-east-1/" + inst(1)))
        self.assertIn("web-1", rec["evidence"])
        self.assertRegex(rec["evidence"], r"last value from web-1 at \S+Z; detected at \S+Z")
        self.assertRegex(rec["result"]["request_id"], r"^[0-9a-f-]{36}$")
        self.assertIn("type_instance = sent", cd.log())
        # No record, no action: the authorizing record comes before the request, the outcome after it.
        actions = [(r["action"], r["result"]["status"]) for r in cd.records()]
        self.assertEqual(actions, [("authorize", "ok"), ("send", "ok")], cd.records())

        # Back, then hung again inside the cooldown: no second interrupt, one suppression on record.
        cd.heartbeat(everyone)
        self.assertTrue(wait_for(lambda: "web-1 (web-1) looks alive again" in cd.log(), 10), cd.log())
        self.hang_and_wait(1, everyone[1:], 2, timeout=6)
        self.settle()
        self.assertEqual(interrupts(), 1, cd.log())
        sup = self.results("suppressed")
        self.assertEqual(len(sup), 1, cd.records())
        self.assertIn("cooldown", sup[0]["result"]["error"])
        self.assertIn("type_instance = suppressed", cd.log())

    def test_recovery_and_new_hang_after_cooldown_gives_a_second(self):
        cd = self.start("again", "  Cooldown 5\n  MaxActions 10\n  MaxUnhealthyPercent 50\n" + targets(4))
        everyone = ["web-1", "web-2", "web-3", "web-4"]
        cd.heartbeat(everyone)
        self.settle(2)
        self.hang_and_wait(1, everyone[1:], 1)
        self.assertEqual(interrupts(1), 1, cd.log())
        first = time.monotonic()
        cd.heartbeat(everyone)
        self.assertTrue(wait_for(lambda: "looks alive again" in cd.log(), 10), cd.log())
        # Past the 5 s cooldown before the next silence can be reported (2 s timeout + 1 interval).
        time.sleep(max(0.0, 5.5 - (time.monotonic() - first)))
        self.hang_and_wait(1, everyone[1:], 2)
        self.settle()
        self.assertEqual((interrupts(1), interrupts()), (2, 2), cd.log())
        self.assertEqual(len(self.results("ok")), 2, cd.records())
        self.assertEqual(self.results("suppressed"), [], cd.records())

    def test_cooldown_outlives_a_restart(self):
        plugin = "  Cooldown 600\n  MaxUnhealthyPercent 100\n" + targets(1)
        cd = self.start("rst", plugin)
        cd.heartbeat(["web-1"])
        self.settle(2)
        self.hang_and_wait(1, [], 1)
        self.assertEqual(interrupts(), 1, cd.log())
        self.assertEqual(cd.stop(), 0)
        # Same state file, new daemon: the guest that was just interrupted hangs again at once.
        cd2 = self.cd = Collectd("rst2", plugin, state_dir=cd.dir).start()
        cd2.heartbeat(["web-1"])
        self.settle(2)
        self.hang_and_wait(1, [], 2, timeout=6)
        self.settle()
        self.assertEqual(interrupts(), 1, cd2.log())
        self.assertIn("cooldown", cd2.log())

    def test_storm_acts_on_none_and_notifies_once(self):
        cd = self.start("storm", "  Cooldown 600\n  MaxActions 10\n  MaxUnhealthyPercent 50\n" + targets(4))
        cd.heartbeat(["web-1", "web-2", "web-3", "web-4"])
        self.settle(2)
        cd.heartbeat(["web-4"])   # three of four silent at once: the network, not three hung machines
        self.assertTrue(wait_for(lambda: len(self.results("suppressed")) == 3, 15), cd.log())
        self.settle()
        self.assertEqual(interrupts(), 0, cd.log())
        self.assertEqual(cd.log().count("type_instance = storm"), 1, cd.log())
        for rec in self.results("suppressed"):
            self.assertIn("storm brake", rec["result"]["error"])
        self.assertEqual(self.results("ok"), [])

    def test_max_actions_per_window(self):
        cd = self.start("rate", "  Cooldown 0\n  MaxActions 1\n  ActionWindow 600\n  MaxUnhealthyPercent 100\n"
                        + targets(3))
        cd.heartbeat(["web-1", "web-2", "web-3"])
        self.settle(2)
        self.hang_and_wait(1, ["web-2", "web-3"], 1)
        self.hang_and_wait(2, ["web-3"], 2, timeout=6)
        self.settle()
        self.assertEqual((interrupts(1), interrupts()), (1, 1), cd.log())
        sup = self.results("suppressed")
        self.assertEqual(len(sup), 1, cd.records())
        self.assertIn("rate limit", sup[0]["result"]["error"])

    def test_dry_run_sends_none(self):
        cd = self.start("dry", "  DryRun true\n  Cooldown 600\n  MaxUnhealthyPercent 100\n" + targets(2))
        cd.heartbeat(["web-1", "web-2"])
        self.settle(2)
        cd.heartbeat(["web-2"])
        self.assertTrue(wait_for(lambda: len(self.results("dry-run")) == 1, 15), cd.log())
        self.settle()
        self.assertEqual((interrupts(), LAB.count("aws.dryrun")), (0, 0), cd.log())
        self.assertEqual(self.results("dry-run")[0]["target"], "aws:us-east-1/" + inst(1))
        self.assertIn("type_instance = dry_run", cd.log())

    def test_notification_match_with_hits(self):
        extra = '  <Target "db-1">\n    Host "db-1"\n    Interrupt "aws:us-east-1/%s"\n    Detect "notification"\n' \
                '    NotificationPlugin "mysql"\n    Hits 2\n  </Target>\n' % inst(9)
        cd = self.start("notif", "  MaxUnhealthyPercent 100\n" + extra)
        cd.putnotif("db-1", "mysql", "gauge", "okay")      # an OKAY with no FAILURE before: nothing
        cd.putnotif("db-1", "disk", "gauge")               # another plugin: not ours to match
        cd.putnotif("db-1", "mysql", "gauge")              # hit 1 of 2
        self.settle(1.5)
        self.assertEqual(interrupts(), 0, cd.log())
        cd.putnotif("db-1", "mysql", "gauge", "okay")      # recovery resets the count
        cd.putnotif("db-1", "mysql", "gauge")
        self.settle(1.5)
        self.assertEqual(interrupts(), 0, cd.log())
        cd.putnotif("db-1", "mysql", "gauge")              # hit 2 of 2
        self.assertTrue(wait_for(lambda: interrupts(9) == 1, 10), cd.log())
        self.settle(1.5)
        self.assertEqual(interrupts(), 1, cd.log())
        self.assertIn("notification FAILURE host=db-1 plugin=mysql", self.results("ok")[0]["evidence"])

    def test_ping_drop_rate_for_n_intervals(self):
        extra = '  <Target "db-2">\n    Host "db-2"\n    Interrupt "aws:us-east-1/%s"\n    Detect "ping"\n' \
                '    PingMaxDropRate 0.5\n    Hits 3\n  </Target>\n' % inst(10)
        cd = self.start("ping", "  MaxUnhealthyPercent 100\n" + extra, threshold=False)

        def ping(rate):
            cd.command("PUTVAL mon/ping/ping_droprate-db-2 interval=1 N:%s" % rate)
            time.sleep(0.05)

        for rate in (1, 1, 0, 1, 1):                       # a good round in between resets the count
            ping(rate)
        self.settle(1.5)
        self.assertEqual(interrupts(), 0, cd.log())
        ping(0.75)                                         # third bad round in a row
        self.assertTrue(wait_for(lambda: interrupts(10) == 1, 10), cd.log())
        ping(1)
        self.settle(1.5)
        self.assertEqual(interrupts(), 1, cd.log())
        self.assertIn("drop rate", self.results("ok")[0]["evidence"])


class AuditFirst(CollectdTest):
    def test_full_audit_log_sends_nothing_and_says_why(self):
        """No record, no action: with its audit log on a full filesystem the plugin sends nothing and says why."""
        cd = Collectd("full", "  Cooldown 0\n  MaxUnhealthyPercent 100\n" + targets(2))
        full = os.path.join(cd.dir, "full")
        os.mkdir(full)
        with open(cd.conf) as f:
            text = f.read()
        with open(cd.conf, "w") as f:
            f.write(text.replace('AuditLog "%s"' % cd.audit, 'AuditLog "%s/audit.jsonl"' % full))
        # A tiny tmpfs in collectd's own mount namespace: nothing outside it sees the mount.
        cd.prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                     'mount -t tmpfs -o size=64k,mode=0700 tmpfs "$0" && exec "$@"', full]
        self.cd = cd.start()
        cd.heartbeat(["web-1", "web-2"])
        self.settle(2)
        # Fill it from inside the namespace: from now on every write there fails with ENOSPC.
        df = subprocess.run(["nsenter", "-t", str(cd.proc.pid), "-m", "sh", "-c",
                             'dd if=/dev/zero of="%s/fill" bs=4k 2>/dev/null; df -k "%s" | tail -n 1' % (full, full)],
                            check=True, timeout=30, capture_output=True, text=True).stdout
        self.assertIn(" 100% ", df)
        cd.heartbeat(["web-2"])
        self.assertTrue(wait_for(lambda: "nothing is sent" in cd.log(), 15), cd.log())
        self.settle()
        self.assertEqual(interrupts(), 0, cd.log())
        line = [ln for ln in cd.log().splitlines() if "nothing is sent" in ln][0]
        self.assertIn("web-1", line)
        self.assertIn("No space left on device", line)
        self.assertIn("type_instance = failed", cd.log())   # and a FAILURE notification says it too
        self.assertEqual(cd.log().count("nothing is sent"), 1, "said once per episode, although asked again")


class ResendGuard(CollectdTest):
    def test_reused_connection_closed_unanswered_is_not_resent(self):
        # The plugin keeps one sender (and its connections) for its whole life: the second hang's interrupt goes
        # out on the connection the first one opened. The lab reads it and closes the connection unanswered, which
        # is when libcurl would send it again by itself; the guard in http.c stops that, so the lab sees it once,
        # and the record says it may have been delivered. Without the guard: 2 requests for web-2.
        for i in (1, 2):
            LAB.script(inst(i), [{"drop": "reused", "status": 200}])
        cd = self.start("resend", "  Cooldown 600\n  MaxActions 10\n  MaxUnhealthyPercent 100\n" + targets(3))
        cd.heartbeat(["web-1", "web-2", "web-3"])
        self.settle(2)
        self.hang_and_wait(1, ["web-2", "web-3"], 1)
        self.assertTrue(wait_for(lambda: len(self.results("ok")) == 1, 10), cd.log())
        self.hang_and_wait(2, ["web-3"], 2)
        self.assertTrue(wait_for(lambda: len([r for r in cd.records() if r["action"] != "authorize"]) == 2, 10),
                        cd.records())
        self.settle()
        self.assertEqual((interrupts(1), interrupts(2), interrupts()), (1, 1, 2), (LAB.drops, cd.log()))
        self.assertEqual(LAB.drops, [(inst(2), True)], "web-2's interrupt came on a reused connection")
        failed = self.results("failed")
        self.assertEqual(len(failed), 1, cd.records())
        self.assertEqual(failed[0]["target"], "aws:us-east-1/" + inst(2))
        self.assertIn("the connection closed and libcurl wanted to resend it): the interrupt may have been "
                      "delivered. Not resent", failed[0]["result"]["error"])
        self.assertEqual([r["target"] for r in self.results("ok")], ["aws:us-east-1/" + inst(1)])


class Lifecycle(CollectdTest):
    def test_readiness_checks_at_start(self):
        # diagint doctor's checks run once per target when the plugin starts: dry runs and reads only.
        cd = self.start("ready", "  CheckAtStart true\n" + targets(2))
        self.assertTrue(wait_for(lambda: cd.log().count("readiness: aws:") >= 2, 30), cd.log())
        self.assertIn("web-1: readiness: aws:us-east-1/", cd.log())
        self.assertEqual(interrupts(), 0, "the checks interrupt nothing")

    def test_sigterm_with_a_request_in_flight(self):
        LAB.script(inst(1), [{"stall": 60}])   # the provider never answers
        cd = self.start("term", "  RequestTimeout 30\n  ShutdownTimeout 1\n  MaxUnhealthyPercent 100\n"
                        + targets(2))
        cd.heartbeat(["web-1", "web-2"])
        self.settle(2)
        cd.heartbeat(["web-2"])
        self.assertTrue(wait_for(lambda: interrupts(1) == 1, 15), cd.log())
        time.sleep(0.3)
        cd.heartbeat_stop()
        t0 = time.monotonic()
        cd.proc.send_signal(signal.SIGTERM)
        rc = cd.proc.wait(10)
        took = time.monotonic() - t0
        self.cd = None
        cd.logf.close()
        self.assertEqual(rc, 0, cd.log())
        self.assertLess(took, 5, "collectd took %.1f s to stop" % took)   # ShutdownTimeout 1 plus margin
        # The request in flight is aborted (not waited for), the worker joins, and the record says it may have
        # reached the provider.
        self.assertIn("stopped: the caller is shutting down", cd.log())
        self.assertNotIn("still in flight after ShutdownTimeout", cd.log(), "joined, not abandoned")
        failed = self.results_of(cd, "failed")
        self.assertEqual(len(failed), 1, cd.records())
        self.assertIn("may have been delivered", failed[0]["result"]["error"])
        self.assertEqual(interrupts(), 1)

    def results_of(self, cd, result):
        return [r for r in cd.records() if r["result"]["status"] == result]

    def check_bad(self, body, key, *words):
        cd = Collectd("bad", body)
        p = subprocess.run([COLLECTD, "-T", "-C", cd.conf], capture_output=True, text=True, timeout=30, env=cd.env)
        out = p.stdout + p.stderr
        self.assertNotEqual(p.returncode, 0, out)
        line = [ln for ln in out.splitlines() if "diagint plugin" in ln]
        self.assertTrue(line, out)
        self.assertIn(key, line[0], out)
        for w in words:
            self.assertIn(w, line[0], out)

    def test_bad_configuration_fails_collectd_T_naming_the_key(self):
        self.check_bad('  Cooldown "soon"\n' + targets(1), "Cooldown", "number")
        self.check_bad("  MaxUnhealthyPercent 150\n" + targets(1), "MaxUnhealthyPercent", "0 to 100")
        self.check_bad("  Cooldwn 60\n" + targets(1), "Cooldwn", "unknown option")
        self.check_bad('  <Target "x">\n    Interrupt "aws:nowhere/i-1"\n  </Target>\n', "Interrupt", "aws:nowhere")
        self.check_bad('  <Target "x">\n    Host "x"\n  </Target>\n', "Interrupt is missing")
        self.check_bad('  <Target "x">\n    Interrupt "aws:us-east-1/%s"\n    Detect "vibes"\n  </Target>\n'
                       % inst(1), "Detect", "vibes")
        self.check_bad('  <Target "x">\n    Interrupt "aws:us-east-1/%s"\n    Capture "/srv"\n  </Target>\n'
                       % inst(1), "Capture", "libvirt")
        self.check_bad("  DryRun true\n", "no <Target>")

    def test_plain_http_endpoint_fails_collectd_T(self):
        # Credentials and interrupts go over https only: a plain http:// Endpoint is refused when collectd reads the
        # configuration, naming the key, the value and the fix, not at the first interrupt.
        self.check_bad('  Endpoint "aws" "http://127.0.0.1:9/"\n' + targets(1), 'Endpoint "aws" "http://127.0.0.1:9/"',
                       "https only", "https://127.0.0.1:9/")

    def test_unusable_audit_log_fails_collectd_T(self):
        # An action that cannot be recorded does not happen: the plugin does not start (init fails).
        self.check_bad('  AuditLog "/proc/version/audit.jsonl"\n' + targets(1), "AuditLog", "/proc/version")

    def test_unwritable_state_fails_collectd_T_even_in_dry_run(self):
        # A cooldown that cannot be kept refuses every action: that shows at start (init, collectd -T), also in
        # the suggested first trial with DryRun, never at the first hang.
        self.check_bad('  DryRun true\n  StateFile "/proc/version/brakes.state"\n' + targets(1), "StateFile",
                       "/proc/version/brakes.state", "set StateFile")
        # A missing directory is made (0755) and the state written there at start.
        cd = Collectd("fresh", "  DryRun true\n" + targets(1), state_dir=os.path.join(TMP, "fresh-lib", "diagint"))
        p = subprocess.run([COLLECTD, "-T", "-C", cd.conf], capture_output=True, text=True, timeout=30, env=cd.env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        state = os.path.join(TMP, "fresh-lib", "diagint", "brakes.state")
        self.assertTrue(os.path.isfile(state), "the state is written at start")
        self.assertEqual(os.stat(os.path.dirname(state)).st_mode & 0o777, 0o755)

    def test_example_configuration_passes_collectd_T(self):
        with open(os.path.join(HERE, "..", "..", "collectd-plugin", "diagint.conf.example")) as f:
            text = f.read()
        body = text.split("<Plugin diagint>\n", 1)[1].rsplit("</Plugin>", 1)[0]
        cd = Collectd("example", "")
        body = body.replace('"/var/log/diagint/audit.jsonl"', '"%s"' % cd.audit)
        cd = Collectd("example", body)
        p = subprocess.run([COLLECTD, "-T", "-C", cd.conf], capture_output=True, text=True, timeout=30, env=cd.env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("watching 4 targets (DryRun", p.stdout + p.stderr)

    def test_good_configuration_passes_collectd_T(self):
        cd = Collectd("good", "  DryRun true\n" + targets(3))
        p = subprocess.run([COLLECTD, "-T", "-C", cd.conf], capture_output=True, text=True, timeout=30, env=cd.env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
