"""diagint.so inside a real collectd against a real guest under a private libvirtd: the guest's console heartbeat
is relayed into collectd as values (PUTVAL), the guest stops beating (diagint.hang), the plugin sees the silence,
sends the NMI and captures the guest's memory (Capture). Asserts one dump, that it holds the guest's panic, its
hash recomputed, and the audit record that names it. On guests that do not panic on an NMI the console counts them:
exactly one for a Capture, none for DryRun (the relay goes quiet while the guest beats on)."""
import glob
import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
sys.path.insert(0, HERE)
import diaglab  # noqa: E402

diaglab.require_guest_or_skip()

import test_collectd as tc  # noqa: E402

LV = None
WORK = None


def setUpModule():
    global LV, WORK
    tc.setUpModule()
    WORK = tempfile.mkdtemp(prefix="dgcg-", dir="/tmp")
    LV = diaglab.PrivateLibvirtd(os.path.join(WORK, "libvirt"))
    LV.start()
    print("# private libvirtd up in %.2f s" % LV.started_s, flush=True)


def tearDownModule():
    if LV:
        LV.stop()
    if WORK:
        shutil.rmtree(WORK, ignore_errors=True)
    tc.tearDownModule()


class Relay:
    """Each new "diagint-heartbeat" line on the guest's console becomes one value of host `host`."""

    def __init__(self, cd, console, host):
        self.cd, self.console, self.host = cd, console, host
        self.stop_ev = threading.Event()
        self.muted = False  # True: beats are no longer relayed (collectd sees silence, the guest runs on)
        self.beats = 0
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        seen = 0
        while not self.stop_ev.is_set():
            try:
                with open(self.console, errors="replace") as f:
                    n = f.read().count("diagint-heartbeat")
            except FileNotFoundError:
                n = 0
            if n > seen and not self.muted:
                seen = n
                self.beats = n
                try:
                    self.cd.putval(self.host)
                except OSError:
                    pass
            self.stop_ev.wait(0.1)

    def stop(self):
        self.stop_ev.set()
        self.t.join()


def sha256_of(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def capture_plugin(name, dumps, extra=""):
    return ('  LibvirtURI "%s"\n  MaxUnhealthyPercent 100\n%s  <Target "%s">\n    Host "%s"\n'
            '    Interrupt "libvirt:%s"\n    Detect "missing"\n    Capture "%s"\n  </Target>\n'
            % (LV.uri, extra, name, name, name, dumps))


class GuestTest(unittest.TestCase):
    def run_muted(self, name, extra, wait_record):
        """A guest that does not panic on an NMI, its beats relayed into collectd until 3 arrived, then muted: the
        plugin sees a silent host while the guest runs on. Returns (collectd, console, dumps dir, NMIs before)."""
        console = os.path.join(WORK, "console-%s.log" % name)
        dumps = os.path.join(WORK, "dumps-" + name)
        os.makedirs(dumps)
        cd = tc.Collectd(name[:6], capture_plugin(name, dumps, extra)).start()
        relay = Relay(cd, console, name)
        try:
            LV.create(diaglab.domain_xml(name, diaglab.built_guest(), console, memory_mib=128, nmi_panics=False))
            self.assertTrue(tc.wait_for(lambda: relay.beats >= 3, 90), "the guest did not boot")
            before = diaglab.nmi_count(console)
            relay.muted = True
            self.assertTrue(tc.wait_for(lambda: wait_record(cd), 60), cd.log())
        except BaseException:
            relay.stop()
            cd.stop()
            raise
        self.addCleanup(lambda: self.assertEqual(cd.stop(), 0, cd.log()))
        self.addCleanup(relay.stop)
        return cd, console, dumps, before

    def test_capture_of_a_guest_that_does_not_panic_is_one_nmi(self):
        cd, console, dumps, before = self.run_muted(
            "g-cdn", "", lambda cd: [r for r in cd.records() if r["action"] == "inject"])
        # It beats on; by two more beats every NMI sent is on its console: one.
        self.assertEqual(diaglab.settle_nmis(console) - before, 1, "NMIs on the guest's console")
        time.sleep(3)   # a second (wrong) action has had time to start
        self.assertEqual(diaglab.settle_nmis(console) - before, 1, "NMIs on the guest's console")
        gcores = glob.glob(os.path.join(dumps, "*.gcore"))
        self.assertEqual(len(gcores), 1, os.listdir(dumps))
        # The dump, its sidecar and the analysis' kernel log (issue 14): nothing else, no second dump.
        self.assertEqual(sorted(os.listdir(dumps)), sorted([os.path.basename(gcores[0]),
                                                            os.path.basename(gcores[0]) + ".json",
                                                            os.path.basename(gcores[0]) + ".dmesg"]))
        recs = [r for r in cd.records() if r["action"] == "inject"]
        self.assertEqual(len(recs), 1, cd.records())
        self.assertEqual(recs[0]["result"]["status"], "ok", recs[0])
        with open(gcores[0] + ".json") as f:
            side = json.load(f)
        self.assertEqual((side["nmi"]["sent"], side["nmi"]["panic_seen"]), (True, False), side["nmi"])
        self.assertEqual(recs[0]["dump"]["sha256"], sha256_of(gcores[0]))
        self.assertEqual(side["dump"]["sha256"], sha256_of(gcores[0]))
        self.assertEqual(tc.auditcheck.verify(cd.audit), cd.records(), "the chain, read independently")
        self.assertFalse(diaglab.file_contains(gcores[0], diaglab.NMI_PANIC_TEXT), "it did not panic")
        self.assertTrue(LV.state("g-cdn").startswith("running"), LV.state("g-cdn"))
        LV.virsh("destroy", "g-cdn")

    def test_dry_run_sends_no_nmi(self):
        cd, console, dumps, before = self.run_muted(
            "g-cdd", "  DryRun true\n", lambda cd: [r for r in cd.records() if r["result"]["status"] == "dry-run"])
        time.sleep(3)   # were the dry run not dry, the NMI would have been sent by now
        self.assertEqual(diaglab.settle_nmis(console) - before, 0, "NMIs on the guest's console")
        self.assertEqual(os.listdir(dumps), [])
        self.assertEqual([r["result"]["status"] for r in cd.records()], ["dry-run"], cd.records())
        self.assertIn("DryRun: would interrupt libvirt:g-cdd now", cd.log())
        LV.virsh("destroy", "g-cdd")

    def test_hang_interrupt_and_capture(self):
        guest = diaglab.built_guest()
        console = os.path.join(WORK, "console-g-cd.log")
        dumps = os.path.join(WORK, "dumps")
        os.makedirs(dumps)
        plugin = ('  LibvirtURI "%s"\n  MaxUnhealthyPercent 100\n  <Target "g-cd">\n    Host "g-cd"\n'
                  '    Interrupt "libvirt:g-cd"\n    Detect "missing"\n    Capture "%s"\n  </Target>\n'
                  % (LV.uri, dumps))
        cd = tc.Collectd("guest", plugin).start()
        relay = None
        try:
            relay = Relay(cd, console, "g-cd")
            LV.create(diaglab.domain_xml("g-cd", guest, console, memory_mib=128, heartbeat_stop_after=6))
            self.assertTrue(diaglab.wait_for_console(console, "heartbeat stops", 90), "the guest did not boot")
            self.assertGreaterEqual(relay.beats, 3)
            self.assertTrue(tc.wait_for(lambda: glob.glob(os.path.join(dumps, "*.gcore")), 60), cd.log())
            self.assertTrue(tc.wait_for(lambda: [r for r in cd.records() if r["action"] == "inject"], 30),
                            cd.log())
            time.sleep(3)   # long enough for a second (wrong) action to show
            gcores = glob.glob(os.path.join(dumps, "*.gcore"))
            self.assertEqual(len(gcores), 1, gcores)
            self.assertTrue(diaglab.file_contains(gcores[0], diaglab.NMI_PANIC_TEXT))
            # collectd's captures are explained like the CLI's (issue 14)
            import json
            with open(gcores[0] + ".json") as f:
                self.assertEqual(json.load(f)["kernel"]["panic"], diaglab.NMI_PANIC_TEXT.decode())
            self.assertTrue(os.path.exists(gcores[0] + ".dmesg"))
            self.assertIn("crashed", LV.state("g-cd"))
            recs = [r for r in cd.records() if r["action"] == "inject"]
            self.assertEqual(len(recs), 1, cd.records())
            rec = recs[0]
            self.assertEqual((rec["actor"]["component"], rec["target"], rec["result"]["status"]),
                             ("collectd", "libvirt:g-cd", "ok"), rec)
            self.assertEqual(rec["dump"]["path"], gcores[0], rec)
            self.assertEqual(rec["dump"]["sha256"], sha256_of(gcores[0]), "the record's hash is the file's")
            self.assertEqual(tc.auditcheck.verify(cd.audit), cd.records(), "the chain, read independently")
            self.assertIn("g-cd", rec["evidence"])
        finally:
            if relay:
                relay.stop()
            self.assertEqual(cd.stop(), 0, cd.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
