"""The watcher's vCPU-time and guest-agent probes against real QEMU guests under a private libvirtd.

  - ct-1: probes = cputime; the guest halts itself (`halt -f`: its vCPUs stop, it stays "running", its console goes
    silent) -> 3 intervals without vCPU time -> NMI + capture with the panic in it (detection latency measured);
  - ag-1: probes = agent (a real qemu-ga inside); the guest halts -> guest-ping unanswered 3 times -> NMI + capture;
  - ag-2: probes = agent cputime; qemu-ga is killed inside a healthy guest -> the agent misses, the vCPU time does
    not: no NMI (the agent alone is a weak signal; with several probes a hang needs all of them);
  - ps-1: probes = cputime; the guest is paused (virsh suspend) for several intervals -> not a hang, no NMI.
The agent guests need /usr/sbin/qemu-ga on the host (scripts/deps installs qemu-guest-agent); without it those
tests are skipped, visibly, with the reason (and fail under DIAGINT_REQUIRE_GUEST=1, as in CI)."""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import diaglab  # noqa: E402
import watchlab  # noqa: E402

diaglab.require_guest_or_skip()

LV = None
WORK = None
WATCHER = None
AGENT_WHY = diaglab.agent_available()
MIB = 128
FIGURES = {}
NS = "https://diagint.dev/xmlns/watch/1"


def path(*p):
    return os.path.join(WORK, *p)


def console(name):
    return path("console-%s.log" % name)


def meta(attrs):
    return "<metadata><diagint:watch xmlns:diagint='%s' %s/></metadata>" % (NS, attrs)


CONFIG = """[capture]
Destination = %s
[watch]
StateFile = %s
Cooldown = 1h
MaxActions = 20
MaxCaptures = 2
StormMinDomains = 10
Probes = cputime
ProbeDomains = ct-* ps-*
ProbeInterval = 1
ProbeMisses = 3
AgentTimeout = 2
PanicTimeout = 10
Socket =
"""


class ConsoleClock(threading.Thread):
    """When each awaited line first appeared on a guest's console, polled every 50 ms from the start: the tests
    run one after another, the guests hang whenever they hang."""

    def __init__(self, wanted):
        super().__init__(daemon=True)
        self.wanted = wanted  # [(guest, text)]
        self.seen = {}
        self.done = False

    def run(self):
        while not self.done and len(self.seen) < len(self.wanted):
            for name, text in self.wanted:
                if (name, text) in self.seen:
                    continue
                try:
                    with open(console(name), errors="replace") as f:
                        if text in f.read():
                            self.seen[(name, text)] = time.time()
                except FileNotFoundError:
                    pass
            time.sleep(0.05)

    def when(self, name, text, timeout=90):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if (name, text) in self.seen:
                return self.seen[(name, text)]
            time.sleep(0.1)
        raise AssertionError("%s never printed %r" % (name, text))


CLOCK = None


def setUpModule():
    global LV, WORK, WATCHER, CLOCK
    WORK = tempfile.mkdtemp(prefix="dg-probes-")
    guest = diaglab.built_guest()
    os.makedirs(path("dumps"))
    with open(path("diagint.conf"), "w") as f:
        f.write(CONFIG % (path("dumps"), path("watch.state")))
    LV = diaglab.PrivateLibvirtd(path("libvirt"))
    LV.start()
    WATCHER = watchlab.Watcher(path("watch.log"), path("diagint.conf"), LV.uri, path("audit.jsonl"))
    WATCHER.wait_for(r"connected to .*subscribed", 20)
    CLOCK = ConsoleClock([("ct-1", "diagint-guest: halting"), ("ag-1", "diagint-guest: halting"),
                          ("ag-2", "diagint-guest: qemu-ga stopped")])
    CLOCK.start()
    # ct-1 halts after 6 beats: time for the probe to see vCPU time grow first.
    LV.create(diaglab.domain_xml("ct-1", guest, console("ct-1"), memory_mib=MIB, halt_after=6))
    LV.create(diaglab.domain_xml("ps-1", guest, console("ps-1"), memory_mib=MIB))
    if not AGENT_WHY:
        aguest = diaglab.build_agent_guest(os.path.join(os.environ["DG_GUEST_DIR"], "cache"))
        LV.create(diaglab.domain_xml("ag-1", aguest, console("ag-1"), memory_mib=MIB, agent=True, halt_after=12,
                                     metadata=meta("probes='agent'")))
        LV.create(diaglab.domain_xml("ag-2", aguest, console("ag-2"), memory_mib=MIB, agent=True,
                                     agent_stop_after=8, metadata=meta("probes='agent cputime'")))


def tearDownModule():
    if CLOCK:
        CLOCK.done = True
    if WATCHER:
        WATCHER.stop()
    if LV:
        LV.stop()
    if FIGURES:
        print("# figures: " + json.dumps(FIGURES), flush=True)
    if WORK and not os.environ.get("DG_KEEP_WORK"):
        shutil.rmtree(WORK, ignore_errors=True)


def dumps_of(name):
    return watchlab.dumps_in(path("dumps"), name)


def wait_dumps(name, count, timeout):
    return watchlab.wait_dumps(path("dumps"), name, count, timeout, WATCHER)


sidecar = watchlab.sidecar


def beats(name):
    with open(console(name), errors="replace") as f:
        return f.read().count("diagint-heartbeat")


def watcher_audit(target):
    out = []
    try:
        with open(path("audit.jsonl")) as f:
            for line in f:
                r = json.loads(line)
                if r["actor"]["component"] == "watcher" and r["target"] == target:
                    out.append((r["action"], r["result"]["status"]))
    except FileNotFoundError:
        pass
    return out


class Probes(unittest.TestCase):
    def assert_hang_captured(self, name, probe, onset):
        d = wait_dumps(name, 1, 60)
        rec = sidecar(d[0])
        self.assertTrue(rec["nmi"]["sent"], rec)
        self.assertTrue(rec["nmi"]["panic_seen"], "the halted guest panicked on the NMI: %s" % rec)
        self.assertTrue(diaglab.file_contains(d[0], diaglab.NMI_PANIC_TEXT), "panic text in the dump")
        t_nmi = WATCHER.line_time(r"%s: sending an NMI" % name)
        self.assertIsNotNone(t_nmi)
        hung = WATCHER.wait_for(r"%s: hung: ([^\n]*)" % name, 1).group(1)
        self.assertIn("%s probe:" % probe, hung)
        # Debounced: declared after exactly ProbeMisses checks, never on the first silent one.
        self.assertIn("3 checks in a row", hung)
        FIGURES["%s_onset_to_nmi_s" % probe] = round(t_nmi - onset, 2)
        # One action: no second NMI or capture once its panic arrives (not even a .partial being written).
        watchlab.wait_quiet(WATCHER, name)
        self.assertEqual([a for a in watcher_audit("libvirt:" + name) if a[0] in ("authorize", "inject", "capture")],
                         [("authorize", "ok"), ("inject", "ok")])
        self.assertEqual(watchlab.dump_files(path("dumps"), name), [d[0], d[0] + ".json"])
        # Generously bounded above as well (measured 3.1-3.6 s for 3 misses at 1 s).
        self.assertLess(t_nmi - onset, 20, "detection took %.1f s" % (t_nmi - onset))
        return t_nmi - onset

    def test_cputime_halted_guest(self):
        WATCHER.wait_for(r"ct-1: cputime probe on", 30)
        WATCHER.wait_for(r"ct-1: first vCPU time progress seen", 60)
        onset = CLOCK.when("ct-1", "diagint-guest: halting")
        latency = self.assert_hang_captured("ct-1", "cputime", onset)
        # 3 misses at 1 s cannot be declared sooner than 2 s after the vCPUs stopped (the figure is printed).
        self.assertGreater(latency, 1.5)

    def test_paused_guest_is_not_hung(self):
        WATCHER.wait_for(r"ps-1: first vCPU time progress seen", 60)
        LV.virsh("suspend", "ps-1")
        WATCHER.wait_for(r"ps-1: not running \(paused or suspended\)", 10)
        time.sleep(5)  # well over 3 intervals without vCPU time
        LV.virsh("resume", "ps-1")
        n = beats("ps-1")
        deadline = time.time() + 20
        while time.time() < deadline:
            if beats("ps-1") > n + 1:
                break
            time.sleep(0.2)
        else:
            self.fail("ps-1 does not run after resume")
        time.sleep(3.5)  # the probe looks at it again after the resume
        self.assertNotIn("ps-1: sending an NMI", WATCHER.text())
        self.assertNotIn("ps-1: hung", WATCHER.text())
        self.assertEqual(dumps_of("ps-1"), [])
        self.assertEqual(watcher_audit("libvirt:ps-1"), [], "nothing decided about a paused guest")
        self.assertIn("running", LV.state("ps-1"))

    def test_agent_halted_guest(self):
        if AGENT_WHY:
            diaglab.skip_or_fail(self, AGENT_WHY)
        WATCHER.wait_for(r"ag-1: agent probe on \(guest-ping answered within 1 s[^\n]*weak signal", 30)
        WATCHER.wait_for(r"ag-1: first guest-agent answer seen", 90)
        onset = CLOCK.when("ag-1", "diagint-guest: halting")
        latency = self.assert_hang_captured("ag-1", "agent", onset)
        self.assertGreater(latency, 1.5)

    def test_agent_alone_is_not_enough(self):
        if AGENT_WHY:
            diaglab.skip_or_fail(self, AGENT_WHY)
        WATCHER.wait_for(r"ag-2: probes cputime agent: a hang needs every one of them", 30)
        WATCHER.wait_for(r"ag-2: first guest-agent answer seen", 90)
        stopped = CLOCK.when("ag-2", "diagint-guest: qemu-ga stopped")
        WATCHER.wait_for(r"ag-2: agent probe: guest-ping: ", 15)
        # Twice the misses that would make a hang, had the agent been alone.
        time.sleep(max(0, stopped + 7 - time.time()))
        self.assertNotIn("ag-2: hung", WATCHER.text())
        self.assertEqual(dumps_of("ag-2"), [])
        self.assertEqual(WATCHER.text().count("ag-2: agent probe: guest-ping: "), 1, "said once per run of misses")
        self.assertIn("running", LV.state("ag-2"))

    def test_z_operator_inject_by_id(self):
        # An operator's `diagint inject ID` (the numeric id, as virsh allows) captures by itself: the watcher
        # finds its authorize record under the id and does not capture the panic a second time.
        WATCHER.wait_for(r"ps-1: first vCPU time progress seen", 60)
        dom_id = LV.virsh("domid", "ps-1").strip()
        self.assertTrue(dom_id.isdigit(), dom_id)
        os.makedirs(path("dumps-cli"), exist_ok=True)
        r = subprocess.run([diaglab.diagint_bin(), "inject", "-c", LV.uri, "-d", path("dumps-cli"), dom_id],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, DIAGINT_AUDIT_LOG=path("audit.jsonl")))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(glob.glob(path("dumps-cli", "ps-1-*.gcore"))), 1, "the CLI's own dump")
        WATCHER.wait_for(r"ps-1: an operator's diagint inject caused this panic", 10)
        watchlab.wait_quiet(WATCHER, "ps-1")
        self.assertEqual(watchlab.dump_files(path("dumps"), "ps-1"), [], "no second dump, not even a .partial")
        self.assertEqual([a for a in watcher_audit("libvirt:ps-1") if a[0] in ("inject", "capture")], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
