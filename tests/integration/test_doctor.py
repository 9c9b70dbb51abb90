"""`diagint doctor` against real QEMU guests under a private libvirtd: ready and unready variants, an agent that
does not answer, a domain that does not exist, a shut-off domain; every guest keeps running through doctor (its
state before == after, its heartbeat goes on, no panic on its console).

Where /usr/sbin/qemu-ga exists (scripts/deps installs qemu-guest-agent) the agent variant of the guest
(diaglab.build_agent_guest: qemu-ga inside the initramfs) runs too, so the in-guest checks (unknown_nmi_panic,
crashkernel=, kdump) are read for real through the agent; DIAGINT_DOCTOR_AGENT=0 leaves it out. With
DIAGINT_REQUIRE_GUEST=1 a missing qemu-ga is a failure, not a skip."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import diaglab  # noqa: E402

diaglab.require_guest_or_skip()

LV = None
WORK = None
DUMPS = None
AGENT_CHANNEL = ("<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>")
GUESTS = {
    # name: domain_xml keyword arguments (+ "channel": an agent channel with nothing behind it)
    "d-ready": {},
    "d-nopanic": {"panic": False},
    "d-destroy": {"on_crash": "destroy"},
    "d-coredump": {"on_crash": "coredump-destroy"},
    "d-nonmi": {"nmi_panics": False},
    "d-deaf": {"channel": True},
}
AGENT_GUESTS = {}


def agent_variant():
    return os.environ.get("DIAGINT_DOCTOR_AGENT") != "0" and diaglab.agent_available() is None


def console(name):
    return os.path.join(WORK, "console-%s.log" % hashlib.sha1(name.encode()).hexdigest()[:8])


def xml_for(name, guest, kw):
    kw = dict(kw)
    channel = kw.pop("channel", False)
    x = diaglab.domain_xml(name, guest, console(name), memory_mib=128, **kw)
    if channel:
        x = x.replace("</devices>", "  %s\n  </devices>" % AGENT_CHANNEL)
    return x


def setUpModule():
    global LV, WORK, DUMPS
    WORK = tempfile.mkdtemp(prefix="dg-doctor-")
    DUMPS = os.path.join(WORK, "dumps")
    os.makedirs(DUMPS)
    guest = diaglab.built_guest()
    LV = diaglab.PrivateLibvirtd(os.path.join(WORK, "libvirt"))
    LV.start()
    for name, kw in GUESTS.items():
        LV.create(xml_for(name, guest, kw))
    LV.define(diaglab.domain_xml("d-off", guest, console("d-off"), memory_mib=128))
    if agent_variant():
        aguest = diaglab.build_agent_guest(os.path.join(os.environ["DG_GUEST_DIR"], "cache"))
        AGENT_GUESTS.update({"a-ready": {}, "a-nonmi": {"nmi_panics": False}})
        for name, kw in AGENT_GUESTS.items():
            LV.create(diaglab.domain_xml(name, aguest, console(name), memory_mib=128, agent=True, **kw))
    for name in list(GUESTS) + list(AGENT_GUESTS):
        assert diaglab.wait_for_console(console(name), "diagint-heartbeat 1", 120), "guest %r did not boot" % name


def tearDownModule():
    if LV:
        LV.stop()
    if WORK:
        shutil.rmtree(WORK, ignore_errors=True)


def doctor(*args, timeout=120):
    return subprocess.run([diaglab.diagint_bin(), "doctor", "-c", LV.uri, "-D", DUMPS] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def doctor_json(*targets):
    p = doctor("--json", *targets)
    docs = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    return p, docs


def checks(doc):
    return {c["check"]: c for c in doc["checks"]}


def heartbeat(name):
    with open(console(name), errors="replace") as f:
        text = f.read()
    beats = [int(line.split()[1]) for line in text.splitlines() if line.startswith("diagint-heartbeat ")]
    return (beats[-1] if beats else 0), text


class Doctor(unittest.TestCase):
    def assert_untouched(self, name, before_state, before_beat):
        self.assertEqual(LV.state(name), before_state, "%s: state before == after" % name)
        deadline = time.time() + 30
        while time.time() < deadline and heartbeat(name)[0] <= before_beat:
            time.sleep(0.2)
        beat, text = heartbeat(name)
        self.assertGreater(beat, before_beat, "%s: the heartbeat goes on after doctor" % name)
        self.assertNotIn("Kernel panic", text, "%s: no panic on the console" % name)
        self.assertNotIn("NMI received", text, "%s: no NMI reached the guest" % name)

    def test_ready(self):
        before = (LV.state("d-ready"), heartbeat("d-ready")[0])
        p, docs = doctor_json("libvirt:d-ready")
        self.assertEqual(p.returncode, 0, p)
        d = docs[0]
        self.assertTrue(d["ready"])
        self.assertEqual(d["status"], "ok")
        c = checks(d)
        for name in ("domain", "panic-device", "on-crash", "dump-destination", "dump-room"):
            self.assertEqual(c[name]["level"], "ok", c[name])
        # No agent channel in the default guest: said, not hidden.
        self.assertEqual(c["guest-agent"]["level"], "warn")
        self.assertIn("fix", c["guest-agent"])
        self.assertIn("cannot check without the guest agent", c["unknown-nmi-panic"]["message"])
        self.assertEqual(c["crashkernel"]["level"], "warn")  # read from the direct-boot <cmdline>
        self.assertIn("<cmdline>", c["crashkernel"]["message"])
        self.assertEqual(d["fail"], 0)
        self.assert_untouched("d-ready", *before)

    def test_text_output(self):
        p = doctor("libvirt:d-nopanic")
        self.assertEqual(p.returncode, 1, p)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0], "libvirt:d-nopanic")
        fail = [x for x in lines if x.split()[:2] == ["FAIL", "panic-device"]]
        self.assertEqual(len(fail), 1, p.stdout)
        after = lines[lines.index(fail[0]) + 1]
        self.assertIn("fix: add <panic model='isa'>", after)
        self.assertTrue(lines[-1].startswith("  => libvirt:d-nopanic: NOT READY"), lines[-1])
        self.assertNotIn("\033[", p.stdout, "no colours when stdout is not a terminal")

    def test_unready_variants(self):
        before = {n: (LV.state(n), heartbeat(n)[0]) for n in ("d-nopanic", "d-destroy", "d-coredump")}
        p, docs = doctor_json("libvirt:d-nopanic", "libvirt:d-destroy", "libvirt:d-coredump")
        self.assertEqual(p.returncode, 1, p)
        self.assertEqual(len(docs), 3)
        nopanic, destroy, coredump = (checks(d) for d in docs)
        self.assertEqual(nopanic["panic-device"]["level"], "fail")
        self.assertFalse(docs[0]["ready"])
        self.assertEqual(destroy["on-crash"]["level"], "fail")
        self.assertIn("preserve", destroy["on-crash"]["fix"])
        self.assertEqual(coredump["on-crash"]["level"], "warn", "libvirt dumps by itself: warn")
        self.assertTrue(docs[2]["ready"], "coredump-destroy is a warning only")
        for n, b in before.items():
            self.assert_untouched(n, *b)

    def test_nmi_off_without_agent(self):
        """unknown_nmi_panic=0 is readable only through an agent: without one it is a warning that says so."""
        before = (LV.state("d-nonmi"), heartbeat("d-nonmi")[0])
        p, docs = doctor_json("libvirt:d-nonmi")
        self.assertEqual(p.returncode, 0, p)
        c = checks(docs[0])
        self.assertEqual(c["unknown-nmi-panic"]["level"], "warn")
        self.assertIn("cannot check without the guest agent", c["unknown-nmi-panic"]["message"])
        self.assert_untouched("d-nonmi", *before)

    def test_agent_unreachable(self):
        """A channel with no agent behind it: a warning with the fix, within the agent timeout."""
        before = (LV.state("d-deaf"), heartbeat("d-deaf")[0])
        t = time.time()
        p, docs = doctor_json("--agent-timeout", "2", "libvirt:d-deaf")
        took = time.time() - t
        self.assertEqual(p.returncode, 0, p)
        c = checks(docs[0])
        self.assertEqual(c["guest-agent"]["level"], "warn", c["guest-agent"])
        self.assertRegex(c["guest-agent"]["message"], "no agent connected|unreachable")
        self.assertIn("qemu-guest-agent", c["guest-agent"]["fix"])
        for name in ("unknown-nmi-panic", "kdump-service", "vmcore-space"):
            self.assertIn("cannot check without the guest agent", c[name]["message"])
        self.assertLess(took, 30)
        self.assert_untouched("d-deaf", *before)

    def test_not_found(self):
        p, docs = doctor_json("libvirt:no-such-guest")
        self.assertEqual(p.returncode, 4, p)
        self.assertEqual(docs[0]["status"], "not-found")
        self.assertEqual(checks(docs[0])["domain"]["level"], "fail")
        p = doctor("libvirt:no-such-guest")
        self.assertEqual(p.returncode, 4, p)
        self.assertIn("NOT CHECKED", p.stdout)

    def test_libvirt_unreachable(self):
        p = subprocess.run([diaglab.diagint_bin(), "doctor", "-c", "qemu:///system?socket=%s/no-sock" % WORK,
                            "libvirt:d-ready"], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 5, p)
        self.assertRegex(p.stdout, r"FAIL +libvirt +cannot connect")

    def test_first_status_wins(self):
        p = doctor("libvirt:d-ready", "libvirt:no-such-guest", "libvirt:d-nopanic")
        self.assertEqual(p.returncode, 4, p)
        self.assertIn("1 of 3 targets ready", p.stderr)

    def test_shut_off(self):
        p, docs = doctor_json("libvirt:d-off")
        self.assertEqual(p.returncode, 1, p)
        c = checks(docs[0])
        self.assertEqual(c["domain"]["level"], "fail")
        self.assertIn("virsh start", c["domain"]["fix"])
        self.assertEqual(LV.state("d-off").split()[0], "shut", "doctor did not start it")

    def test_destination_problems(self):
        p = subprocess.run([diaglab.diagint_bin(), "doctor", "--json", "-c", LV.uri, "-D",
                            os.path.join(WORK, "missing"), "libvirt:d-ready"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1, p)
        c = checks(json.loads(p.stdout))
        self.assertEqual(c["dump-destination"]["level"], "fail")
        conf = os.path.join(WORK, "tight.conf")
        with open(conf, "w") as f:
            f.write("[capture]\nDestination = %s\nMaxUse = 16M\n" % DUMPS)
        p = subprocess.run([diaglab.diagint_bin(), "doctor", "--json", "-c", LV.uri, "--config", conf,
                            "libvirt:d-ready"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1, p)
        c = checks(json.loads(p.stdout))
        self.assertEqual(c["dump-room"]["level"], "fail")
        self.assertIn("MaxUse", c["dump-room"]["message"])
        self.assertEqual(os.listdir(DUMPS), [], "doctor writes nothing into the destination")

    def test_usage(self):
        p = doctor()
        self.assertEqual(p.returncode, 2, p)
        p = doctor("nosuchprovider:x")
        self.assertEqual(p.returncode, 2, p)
        p = subprocess.run([diaglab.diagint_bin(), "doctor", "--help"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn("Nothing doctor does interrupts, pauses, restarts or changes anything", p.stdout)

    def test_agent_in_guest(self):
        if not agent_variant():
            why = diaglab.agent_available() or "DIAGINT_DOCTOR_AGENT=0"
            if os.environ.get("DIAGINT_REQUIRE_GUEST") == "1" and os.environ.get("DIAGINT_DOCTOR_AGENT") != "0":
                self.fail("the agent guest is required here but: " + why)
            self.skipTest(why)
        before = {n: (LV.state(n), heartbeat(n)[0]) for n in AGENT_GUESTS}
        p, docs = doctor_json("libvirt:a-ready", "libvirt:a-nonmi")
        ready, nonmi = (checks(d) for d in docs)
        self.assertEqual(ready["guest-agent"]["level"], "ok", ready["guest-agent"])
        self.assertEqual(ready["unknown-nmi-panic"]["level"], "ok", ready["unknown-nmi-panic"])
        self.assertEqual(ready["vmcoreinfo"]["level"], "ok", ready["vmcoreinfo"])  # qemu_fw_cfg loaded
        self.assertEqual(nonmi["unknown-nmi-panic"]["level"], "fail", nonmi["unknown-nmi-panic"])
        self.assertIn("unknown_nmi_panic=0", nonmi["unknown-nmi-panic"]["message"])
        self.assertEqual(ready["crashkernel"]["level"], "warn")  # the test guest reserves none
        self.assertIn("/proc/cmdline", ready["crashkernel"]["message"])
        self.assertEqual(ready["kdump-service"]["level"], "warn")  # no systemd in the busybox guest
        self.assertIn("no crash kernel loaded", ready["kdump-service"]["message"])
        # diaglab's agent guest mounts 256 MiB at /var/crash: room for its 128 MiB of RAM, read with df
        self.assertEqual(ready["vmcore-space"]["level"], "ok", ready["vmcore-space"])
        self.assertIn("256.0 MiB free for /var/crash", ready["vmcore-space"]["message"])
        self.assertTrue(docs[0]["ready"], docs[0])
        self.assertFalse(docs[1]["ready"])
        self.assertEqual(p.returncode, 1, p)
        for n, b in before.items():
            self.assert_untouched(n, *b)


if __name__ == "__main__":
    unittest.main(verbosity=2)
