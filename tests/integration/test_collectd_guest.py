"""diagint.so inside a real collectd against a real guest under a private libvirtd: the guest's console heartbeat
is relayed into collectd as values (PUTVAL), the guest stops beating (diagint.hang), the plugin sees the silence,
sends the NMI and captures the guest's memory (Capture). Asserts one dump, that it holds the guest's panic, and
the audit record that names it."""
import glob
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
            if n > seen:
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


class GuestTest(unittest.TestCase):
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
            self.assertRegex(rec["dump"]["sha256"], r"^[0-9a-f]{64}$")
            self.assertIn("g-cd", rec["evidence"])
        finally:
            if relay:
                relay.stop()
            self.assertEqual(cd.stop(), 0, cd.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
