"""`diagint watch` policy keys against real QEMU guests under a private libvirtd: what test_watch.py does not cover.

One daemon; every guest boots at once in setUpModule; one watcher per policy, all running side by side, each
confined to its own guests by `Domains` (so a guest outside every glob is watched by nobody), all writing to the
same audit log (one chain for any number of writers: checked at the end):
  - cb  (cb-*):           CaptureBeforeNMI = yes, AfterCapture = destroy, heartbeat probe: cb-1's heartbeat stops
                          -> the hung state is captured, then NMI + capture of the panic, then the guest is destroyed;
  - wdc (wdc-*):          OnWatchdog = capture: wdc-1 starves its i6300esb -> captured, no NMI;
  - ign (wdi-* opi-*):    OnWatchdog = ignore, OnPanic = ignore: wdi-1's watchdog fires -> nothing; an operator's
                          `virsh inject-nmi` makes opi-1 panic -> nothing captured;
  - gl  (glx-* glin-*):   a glob list: glin-1 is watched (operator NMI -> captured), glout-1 is not (no dump);
  - pz  (pz-*):           heartbeat probe; pz-1 is paused (`virsh suspend`) for longer than interval x misses and
                          resumed: a paused guest is not a hung guest (no NMI, no dump, it runs on);
  - dr  (dr-*):           DryRun = yes, heartbeat probe: dr-1's heartbeat stops -> "would send an NMI", audited as a
                          dry run; its console counts no NMI, no dump is written.
The watchdog guests come last: i6300esb's default 30 s timeout runs while the others are tested. The guests that
must not be interrupted (wdc-1, wdi-1, pz-1) do not panic on an NMI: their consoles count NMIs (none)."""
import glob
import hashlib
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
import watchlab  # noqa: E402

diaglab.require_guest_or_skip()

LV = None
WORK = None
GUEST = None
WATCHERS = {}
EVENTS = None  # `virsh event --event watchdog --loop`: proof, independent of the watcher, that a watchdog fired
MIB = 128
FIGURES = {}
T0 = time.time()

BASE_CONFIG = """[capture]
Destination = {dumps}
[watch]
StateFile = {state}
Socket =
Domains = {domains}
Cooldown = 1h
MaxActions = 20
MaxCaptures = 1
StormMinDomains = 10
PanicTimeout = 20
ReconnectMax = 2
"""
HEARTBEAT = """Heartbeat = diagint-heartbeat
HeartbeatInterval = 1
HeartbeatMisses = {misses}
"""
POLICIES = {
    "cb": ("cb-*", "CaptureBeforeNMI = yes\nAfterCapture = destroy\n" + HEARTBEAT.format(misses=3)),
    "wdc": ("wdc-*", "OnWatchdog = capture\n"),
    "ign": ("wdi-* opi-*", "OnWatchdog = ignore\nOnPanic = ignore\n"),
    "gl": ("glx-* glin-*", ""),
    # 4 misses: a guest slowed down by 7 others booting on 2 cores must not look hung before the test pauses it.
    "pz": ("pz-*", HEARTBEAT.format(misses=4)),
    "dr": ("dr-*", "DryRun = yes\n" + HEARTBEAT.format(misses=3)),
}
PZ_INTERVAL, PZ_MISSES = 1, 4


def path(*p):
    return os.path.join(WORK, *p)


def console(name):
    return path("console-%s.log" % name)


def dumps_dir(tag):
    return path("dumps-" + tag)


def config_path(tag):
    return path("diagint-%s.conf" % tag)


def write_config(tag):
    domains, extra = POLICIES[tag]
    with open(config_path(tag), "w") as f:
        f.write(BASE_CONFIG.format(dumps=dumps_dir(tag), state=path("watch-%s.state" % tag), domains=domains) + extra)


class Watcher(watchlab.Watcher):
    def __init__(self, tag):
        super().__init__(path("watch-%s.log" % tag), config_path(tag), LV.uri, path("audit.jsonl"), tag)


def setUpModule():
    global LV, WORK, GUEST, EVENTS
    WORK = tempfile.mkdtemp(prefix="dg-watch-policy-")
    GUEST = diaglab.built_guest()
    for tag in POLICIES:
        os.makedirs(dumps_dir(tag))
        write_config(tag)
    LV = diaglab.PrivateLibvirtd(path("libvirt"))
    LV.start()
    print("# private libvirtd up in %.2f s" % LV.started_s, flush=True)
    for tag in POLICIES:
        WATCHERS[tag] = Watcher(tag)
    for w in WATCHERS.values():
        w.wait_for(r"connected to .*subscribed", 20)
    with open(path("virsh-events.log"), "w") as out:
        EVENTS = subprocess.Popen(["stdbuf", "-oL", "virsh", "-c", LV.uri, "event", "--event", "watchdog", "--loop",
                                   "--timestamp"], stdout=out, stderr=subprocess.STDOUT)
    # The watchdog guests first: their 30 s timers run while everything else is tested.
    LV.create(diaglab.domain_xml("wdc-1", GUEST, console("wdc-1"), memory_mib=MIB, watchdog_hang=True,
                                 nmi_panics=False))
    LV.create(diaglab.domain_xml("wdi-1", GUEST, console("wdi-1"), memory_mib=MIB, watchdog_hang=True,
                                 nmi_panics=False))
    # Persistent, so that AfterCapture = destroy leaves it defined and "shut off" for virsh domstate to say so.
    LV.define(diaglab.domain_xml("cb-1", GUEST, console("cb-1"), memory_mib=MIB, heartbeat_stop_after=5))
    LV.virsh("start", "cb-1")
    for name in ("glin-1", "glout-1", "opi-1"):
        LV.create(diaglab.domain_xml(name, GUEST, console(name), memory_mib=MIB))
    LV.create(diaglab.domain_xml("pz-1", GUEST, console("pz-1"), memory_mib=MIB, nmi_panics=False))
    LV.create(diaglab.domain_xml("dr-1", GUEST, console("dr-1"), memory_mib=MIB, nmi_panics=False,
                                 heartbeat_stop_after=8))


def tearDownModule():
    for w in WATCHERS.values():
        w.stop()
    if EVENTS and EVENTS.poll() is None:
        EVENTS.terminate()
        EVENTS.wait()
    if LV:
        LV.stop()
    FIGURES["total_s"] = round(time.time() - T0, 1)
    print("# figures: " + json.dumps(FIGURES), flush=True)
    if WORK and not os.environ.get("DG_KEEP_WORK"):
        shutil.rmtree(WORK, ignore_errors=True)


def dumps_of(name, tag=None):
    """Dumps of a domain in one watcher's directory, or in any of them."""
    return sorted(glob.glob(os.path.join(dumps_dir(tag) if tag else path("dumps-*"), name + "-*.gcore")))


def wait_dumps(name, tag, count, timeout):
    return watchlab.wait_dumps(dumps_dir(tag), name, count, timeout, WATCHERS[tag])


def wait_state(name, state, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline and LV.state(name) != state:
        time.sleep(0.1)
    return LV.state(name)


def beats(name):
    try:
        with open(console(name), errors="replace") as f:
            return f.read().count("diagint-heartbeat")
    except FileNotFoundError:
        return 0


def wait_beats(name, n, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if beats(name) >= n:
            return True
        time.sleep(0.1)
    return False


def audit_records(target=None):
    out = []
    try:
        with open(path("audit.jsonl")) as f:
            for line in f:
                rec = json.loads(line)
                if target is None or rec.get("target") == target:
                    out.append(rec)
    except FileNotFoundError:
        pass
    return out


def watcher_acts(name):
    return [(r["action"], r["result"]["status"]) for r in audit_records("libvirt:" + name)
            if r["actor"]["component"] == "watcher"]


sidecar = watchlab.sidecar


def sha256_of(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def elf_magic(p):
    with open(p, "rb") as f:
        return f.read(4) == b"\x7fELF"


def no_action_lines(text, name):
    """Log lines that would mean the watcher acted on (or decided to act on) this domain."""
    return [line for line in text.splitlines()
            if re.search(r"\b%s: (panicked|found crashed|hung|watchdog fired|sending|capturing|capture done|"
                         r"inject done|dry run|refused|after-action)" % re.escape(name), line)
            and not re.search(r"; On(Panic|Watchdog) = ignore: not (capturing it|acting)$", line)]


class WatchPolicy(unittest.TestCase):
    def check_dump_record(self, dump, name):
        """The sidecar describes this very file."""
        rec = sidecar(dump)
        self.assertEqual(rec["domain"]["name"], name)
        self.assertEqual(rec["trigger"], "watch")
        self.assertEqual(rec["dump"]["path"], dump)
        self.assertEqual(rec["dump"]["format"], "elf")
        self.assertEqual(rec["dump"]["size"], os.path.getsize(dump))
        self.assertEqual(rec["dump"]["sha256"], sha256_of(dump))
        self.assertTrue(elf_magic(dump), dump)
        return rec

    def test_1_domains_glob(self):
        gl = WATCHERS["gl"]
        gl.wait_for(r"glin-1: started; watching it", 20)
        for name in ("glin-1", "glout-1"):
            self.assertTrue(diaglab.wait_for_console(console(name), "diagint-heartbeat 1", 60), name + " booted")
        # The unwatched one first: when the watched one's capture is done, glout-1's CRASHED event (earlier on the
        # same connection) has long been handled.
        LV.virsh("inject-nmi", "glout-1")
        LV.virsh("inject-nmi", "glin-1")
        d = wait_dumps("glin-1", "gl", 1, 30)
        rec = self.check_dump_record(d[0], "glin-1")
        self.assertFalse(rec["nmi"]["sent"], "an operator's NMI: the watcher only captured")
        self.assertTrue(diaglab.file_contains(d[0], diaglab.NMI_PANIC_TEXT), "the panic is in the dump")
        self.assertIn(("capture", "ok"), watcher_acts("glin-1"))
        # glout-1 panicked as well, and nobody captured it: no watcher watches it.
        self.assertEqual(wait_state("glout-1", "crashed (panicked)", 20), "crashed (panicked)")
        self.assertEqual(dumps_of("glout-1"), [])
        self.assertEqual(watcher_acts("glout-1"), [])
        for w in WATCHERS.values():
            self.assertNotIn("glout-1", w.text(), "watcher %s mentions glout-1" % w.tag)
        watchlab.wait_quiet(WATCHERS["gl"], "glin-1")
        self.assertEqual(len(watchlab.dump_files(dumps_dir("gl"), "glin-1")), 2, "one dump and its sidecar")
        for name in ("glin-1", "glout-1"):
            LV.virsh("destroy", name)

    def test_2_on_panic_ignore(self):
        ign = WATCHERS["ign"]
        ign.wait_for(r"opi-1: started; watching it", 20)
        self.assertTrue(diaglab.wait_for_console(console("opi-1"), "diagint-heartbeat 1", 60), "opi-1 booted")
        LV.virsh("inject-nmi", "opi-1")
        self.assertEqual(wait_state("opi-1", "crashed (panicked)", 20), "crashed (panicked)")
        # Handled by now: the reload runs after the CRASHED event in the watcher's loop and looks at every domain
        # again (a crashed one is captured there too unless OnPanic = ignore).
        ign.reload()
        # It says what it saw and why it does nothing.
        ign.wait_for(r"opi-1: panicked \(CRASHED event, detail \d+\); OnPanic = ignore: not capturing it", 5)
        self.assertEqual(no_action_lines(ign.text(), "opi-1"), [], "the watcher captures nothing")
        self.assertEqual(dumps_of("opi-1"), [])
        self.assertEqual(watcher_acts("opi-1"), [], "nothing decided, nothing audited")
        self.assertEqual(LV.state("opi-1"), "crashed (panicked)", "left as it was")
        LV.virsh("destroy", "opi-1")

    def test_3_capture_before_nmi(self):
        cb = WATCHERS["cb"]
        cb.wait_for(r"cb-1: first heartbeat seen", 60)
        self.assertTrue(diaglab.wait_for_console(console("cb-1"), "heartbeat stops", 60))
        cb.wait_for(r"cb-1: inject done", 60)
        t_hung, t_first, t_second = (cb.line_time(r"cb-1: hung") or 0, cb.line_time(r"cb-1: capture done"),
                                     cb.line_time(r"cb-1: inject done"))
        FIGURES["cb_hung_to_hung_state_dump_s"] = round(t_first - t_hung, 2)
        FIGURES["cb_hung_state_dump_to_panic_dump_s"] = round(t_second - t_first, 2)
        d = wait_dumps("cb-1", "cb", 2, 30)
        self.assertEqual(len(d), 2, d)
        recs = sorted(((sidecar(p)["time"], p) for p in d))
        hung, panicked = recs[0][1], recs[1][1]
        r1 = self.check_dump_record(hung, "cb-1")
        r2 = self.check_dump_record(panicked, "cb-1")
        self.assertEqual(r1["domain"]["uuid"], r2["domain"]["uuid"])
        # The first is the hung state, taken before any NMI: no NMI, no panic, and no panic in its memory.
        self.assertFalse(r1["nmi"]["sent"], r1)
        self.assertFalse(r1["nmi"]["panic_seen"], r1)
        self.assertIsNone(r1["nmi"]["panic_event"], r1)
        self.assertFalse(diaglab.file_contains(hung, diaglab.NMI_PANIC_TEXT), "the hung state has no panic yet")
        # The second: after the watcher's NMI, the panic.
        self.assertTrue(r2["nmi"]["sent"], r2)
        self.assertTrue(r2["nmi"]["panic_seen"], r2)
        self.assertEqual(r2["nmi"]["panic_event"], "crashed/panicked")
        self.assertTrue(diaglab.file_contains(panicked, diaglab.NMI_PANIC_TEXT), "the panic is in the dump")
        text = cb.text()
        self.assertIn("cb-1: capture done: %s\n" % hung, text)
        self.assertIn("cb-1: inject done: %s (NMI sent, panic seen)" % panicked, text)
        self.assertLess(text.index("cb-1: capture done"), text.index("cb-1: inject done"))
        # Audited in order, each outcome with its own dump.
        recs = [r for r in audit_records("libvirt:cb-1") if r["actor"]["component"] == "watcher"]
        acts = [(r["action"], r["result"]["status"]) for r in recs]
        self.assertEqual(acts[:3], [("authorize", "ok"), ("capture", "ok"), ("inject", "ok")], acts)
        self.assertEqual((recs[1]["dump"]["path"], recs[1]["dump"]["sha256"]), (hung, r1["dump"]["sha256"]))
        self.assertEqual((recs[2]["dump"]["path"], recs[2]["dump"]["sha256"]), (panicked, r2["dump"]["sha256"]))
        self.assertIn("heartbeat", recs[0]["evidence"])

    def test_4_after_capture_destroy(self):
        cb = WATCHERS["cb"]
        cb.wait_for(r"cb-1: after-action destroy done", 30)
        self.assertEqual(LV.state("cb-1"), "shut off (destroyed)")
        self.assertIn("cb-1", LV.virsh("list", "--all", "--name").split(), "still defined")
        acts = watcher_acts("cb-1")
        self.assertEqual(acts[-1], ("destroy", "ok"), acts)
        rec = audit_records("libvirt:cb-1")[-1]
        self.assertEqual(rec["reason"], "watch: AfterCapture")
        cb.wait_for(r"cb-1: stopped; no longer watching it", 10)
        # Its own NMI's panic was not captured a third time (nor is a third being written).
        watchlab.wait_quiet(cb, "cb-1")
        self.assertEqual(len(watchlab.dump_files(dumps_dir("cb"), "cb-1")), 4, "two dumps, two sidecars")
        self.assertEqual([a for a in acts if a[0] in ("capture", "inject")], [("capture", "ok"), ("inject", "ok")])

    def test_5_paused_guest_is_not_a_hang(self):
        pz = WATCHERS["pz"]
        pz.wait_for(r"pz-1: first heartbeat seen", 60)
        n = beats("pz-1")
        self.assertTrue(wait_beats("pz-1", n + 1, 30), "pz-1 beats")
        LV.virsh("suspend", "pz-1")
        t_pause = time.time()
        self.assertEqual(LV.state("pz-1"), "paused (user)")
        # Paused for twice the hang window: a running guest that printed nothing this long would be hung.
        pause_s = 2 * PZ_INTERVAL * PZ_MISSES
        while time.time() - t_pause < pause_s:
            self.assertEqual(no_action_lines(pz.text(), "pz-1"), [], "acted on a paused guest")
            time.sleep(0.2)
        self.assertEqual(LV.state("pz-1"), "paused (user)")
        paused_beats = beats("pz-1")
        LV.virsh("resume", "pz-1")
        # Alive: its heartbeat goes on after the resume (3 more beats, longer than one hang window of checks).
        self.assertTrue(wait_beats("pz-1", paused_beats + PZ_MISSES, 60), "pz-1 beats again after the resume")
        self.assertTrue(LV.state("pz-1").startswith("running"), LV.state("pz-1"))
        self.assertEqual(no_action_lines(pz.text(), "pz-1"), [], "the watcher acted on a paused guest")
        self.assertEqual(dumps_of("pz-1"), [])
        self.assertEqual(watcher_acts("pz-1"), [], "nothing decided, nothing audited")
        # Counted by the guest (its console would say "Kernel panic" of nothing: see diaglab): no NMI reached it.
        self.assertEqual(diaglab.settle_nmis(console("pz-1")), 0, "NMIs on pz-1's console")
        LV.virsh("destroy", "pz-1")

    def test_6_on_watchdog_capture(self):
        wdc = WATCHERS["wdc"]
        # The guest opened /dev/watchdog at boot and never feeds it: i6300esb's default 30 s timeout.
        wdc.wait_for(r"wdc-1: watchdog fired", 90)
        d = wait_dumps("wdc-1", "wdc", 1, 30)
        FIGURES["watchdog_event_to_dump_s"] = round(wdc.line_time(r"wdc-1: capture done") -
                                                    wdc.line_time(r"wdc-1: watchdog fired"), 3)
        rec = self.check_dump_record(d[0], "wdc-1")
        self.assertFalse(rec["nmi"]["sent"], "OnWatchdog = capture: no NMI")
        self.assertFalse(rec["nmi"]["panic_seen"], rec)
        self.assertFalse(diaglab.file_contains(d[0], diaglab.NMI_PANIC_TEXT), "the guest never panicked")
        text = wdc.text()
        self.assertRegex(text, r"wdc-1: capturing \(the guest's watchdog fired")
        self.assertNotIn("wdc-1: sending", text)
        acts = watcher_acts("wdc-1")
        self.assertIn(("authorize", "ok"), acts)
        self.assertIn(("capture", "ok"), acts)
        self.assertNotIn("inject", [a for a, _ in acts])
        # Captured without being interrupted: it runs on.
        n = beats("wdc-1")
        self.assertTrue(wait_beats("wdc-1", n + 2, 30), "wdc-1 beats on after its capture")
        self.assertTrue(LV.state("wdc-1").startswith("running"), LV.state("wdc-1"))
        watchlab.wait_quiet(wdc, "wdc-1")
        self.assertEqual(diaglab.settle_nmis(console("wdc-1")), 0, "NMIs on wdc-1's console")
        self.assertEqual(len(watchlab.dump_files(dumps_dir("wdc"), "wdc-1")), 2, "one dump and its sidecar")

    def test_7_on_watchdog_ignore(self):
        # The watchdog fired (libvirt says so to anyone listening) ...
        deadline = time.time() + 90
        line = None
        while time.time() < deadline and not line:
            with open(path("virsh-events.log"), errors="replace") as f:
                line = next((x for x in f if "'watchdog' for domain 'wdi-1'" in x), None)
            time.sleep(0.2)
        self.assertIsNotNone(line, "no watchdog event for wdi-1 within 90 s")
        # ... and the watcher with OnWatchdog = ignore did nothing: the event came before the guest's next two
        # beats, and the loop handles an event within a tick.
        n = beats("wdi-1")
        self.assertTrue(wait_beats("wdi-1", n + 2, 30), "wdi-1 beats on")
        ign = WATCHERS["ign"]
        ign.wait_for(r"wdi-1: watchdog fired \(action \d+\); OnWatchdog = ignore: not acting", 5)
        self.assertEqual(no_action_lines(ign.text(), "wdi-1"), [], "the watcher acted on an ignored watchdog")
        self.assertEqual(watchlab.dump_files(path("dumps-ign"), "wdi-1"), [])
        self.assertEqual(diaglab.settle_nmis(console("wdi-1")), 0, "NMIs on wdi-1's console")
        self.assertEqual(watcher_acts("wdi-1"), [])
        self.assertTrue(LV.state("wdi-1").startswith("running"), LV.state("wdi-1"))
        with open(path("virsh-events.log"), errors="replace") as f:
            self.assertIn("'watchdog' for domain 'wdc-1'", f.read(), "the same event the other watcher acted on")

    def test_7b_dry_run(self):
        dr = WATCHERS["dr"]
        dr.wait_for(r"dr-1: first heartbeat seen", 60)
        self.assertTrue(diaglab.wait_for_console(console("dr-1"), "heartbeat stops", 90))
        dr.wait_for(r"dr-1: dry run: would send an NMI and capture", 30)
        # Judged by the guest, not by reading its state at once: its kernel runs on (only its heartbeat stopped),
        # so an NMI would be on its console within milliseconds; none came in 3 s of quiet.
        watchlab.wait_quiet(dr, "dr-1")
        self.assertEqual(diaglab.quiet_nmis(console("dr-1")), 0, "NMIs on dr-1's console")
        self.assertEqual(watchlab.dump_files(dumps_dir("dr"), "dr-1"), [])
        self.assertTrue(LV.state("dr-1").startswith("running"), LV.state("dr-1"))
        acts = watcher_acts("dr-1")
        self.assertTrue(acts, "the dry run is audited")
        self.assertEqual({status for _a, status in acts}, {"dry-run"}, acts)
        self.assertNotRegex(dr.text(), r"dr-1: (sending|capturing|capture done|inject done)")
        LV.virsh("destroy", "dr-1")

    def test_8_audit_chain(self):
        # Five watchers wrote to one audit log at once: one unbroken chain.
        self.assertTrue(audit_records(), "records written")
        r = subprocess.run([diaglab.diagint_bin(), "audit", "verify", path("audit.jsonl")], capture_output=True,
                           text=True, timeout=60, env=dict(os.environ, DIAGINT_AUDIT_LOG=path("audit.jsonl")))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for w in WATCHERS.values():
            self.assertIsNone(w.proc.poll(), "watcher %s still running" % w.tag)
            self.assertNotRegex(w.text(), r"cannot write the audit record")


if __name__ == "__main__":
    unittest.main(verbosity=2)
