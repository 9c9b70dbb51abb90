"""`diagint inject` / `diagint capture` against real QEMU guests under a private libvirtd.

Every dump is read back with pyelftools, an independent ELF reader. Guest states are read with virsh. NMIs are
counted on the consoles of guests that do not panic on them (diaglab.nmi_count): exactly one per inject or send,
none for a capture, a dry run or a refusal (judged once the guest has beaten twice more)."""
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
import auditcheck  # noqa: E402
import diaglab  # noqa: E402

diaglab.require_guest_or_skip()

LV = None
WORK = None
GUEST = None
MIB = 128
GUESTS = {
    # name: (vcpus, nmi_panics)
    "g-one": (1, True),
    "g-two": (2, True),
    "g-nonmi": (1, False),
    "g-refuse": (1, True),
    "g-fill": (1, False),
    "g-send": (1, False),
    "g-count": (1, False),
    "g-dry": (1, False),
    ".. évil\tname": (1, True),
}
HOSTILE = ".. évil\tname"
MOUNTS = [("small", "64m", False), ("ro", "300m", True), ("fill", "200m", False)]


def setUpModule():
    global LV, WORK, GUEST
    WORK = tempfile.mkdtemp(prefix="dg-cli-")
    GUEST = diaglab.built_guest()
    # The daemon runs in a mount namespace of its own: mounts made after it starts are invisible to it, so every
    # filesystem a test needs is mounted first.
    for tag, size, ro in MOUNTS:
        tmpfs(tag, size, ro)
    LV = diaglab.PrivateLibvirtd(os.path.join(WORK, "libvirt"))
    LV.start()
    print("# private libvirtd up in %.2f s" % LV.started_s, flush=True)
    t = time.time()
    for name, (vcpus, panics) in GUESTS.items():
        LV.create(diaglab.domain_xml(name, GUEST, console(name), vcpus=vcpus, memory_mib=MIB, nmi_panics=panics))
    LV.define(diaglab.domain_xml("g-off", GUEST, console("g-off"), memory_mib=MIB))
    for name in GUESTS:
        assert diaglab.wait_for_console(console(name), "diagint-heartbeat 1", 120), "guest %r did not boot" % name
    print("# %d guests booted to their heartbeat in %.2f s" % (len(GUESTS), time.time() - t), flush=True)


def tearDownModule():
    if LV:
        LV.stop()
    if WORK:
        for m in glob.glob(os.path.join(WORK, "mnt-*")):
            subprocess.run(["umount", "-l", m], capture_output=True)
        shutil.rmtree(WORK, ignore_errors=True)


def console(name):
    return os.path.join(WORK, "console-%s.log" % hashlib.sha1(name.encode()).hexdigest()[:8])


def diagint(*args, timeout=120):
    return subprocess.run([diaglab.diagint_bin()] + list(args), capture_output=True, text=True, timeout=timeout)


def newdir(tag):
    d = os.path.join(WORK, "dumps-" + tag)
    os.makedirs(d)
    return d


def mnt(tag):
    return os.path.join(WORK, "mnt-" + tag)


def tmpfs(tag, size, ro=False):
    d = mnt(tag)
    os.makedirs(d)
    opts = "size=%s,mode=0700" % size + (",ro" if ro else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", d], check=True)
    return d


def state(name):
    return LV.state(name)


def stamp(t):
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(t))


def listing(d):
    return sorted(os.listdir(d))


def heartbeat(name):
    """The last beat the guest printed on its console (it prints one a second)."""
    with open(console(name), errors="replace") as f:
        beats = re.findall(r"diagint-heartbeat (\d+)", f.read())
    return int(beats[-1]) if beats else 0


class Inject(unittest.TestCase):
    def check_dump(self, path, vcpus, panicked=True):
        self.assertTrue(os.path.isfile(path), path)
        facts = diaglab.elf_facts(path)
        self.assertEqual(facts["type"], "ET_CORE")
        self.assertEqual(facts["class"], 64)
        self.assertEqual(facts["prstatus"], vcpus, "one NT_PRSTATUS note per vCPU")
        ram = [load for load in facts["loads"] if load[0] == 0]
        self.assertTrue(ram and ram[0][1] >= MIB << 20 and ram[0][2] == ram[0][1],
                        "a PT_LOAD from physical 0 covers the guest's RAM: %r" % facts["loads"])
        if panicked:
            self.assertTrue(diaglab.file_contains(path, diaglab.NMI_PANIC_TEXT), "panic text in the dump")
        else:
            # The oracle calibrated: the bare literal is in every dump (the kernel's .rodata), the full printk
            # line only in the log buffer of a guest that panicked.
            self.assertTrue(diaglab.file_contains(path, b"NMI: Not continuing"), "the literal in .rodata")
            self.assertFalse(diaglab.file_contains(path, diaglab.NMI_PANIC_TEXT), "no panic line: none happened")
        return facts

    def assert_nmis(self, name, before, delivered):
        """Exactly `delivered` NMIs reached guest `name` (one that does not panic) since its count was `before`."""
        self.assertEqual(diaglab.settle_nmis(console(name)) - before, delivered,
                         "NMIs on the console of %s" % name)

    def assert_no_nmi_panicking_guest(self, name):
        """A guest that panics on an NMI has no console line for it: that it beats on proves none arrived."""
        diaglab.settle_nmis(console(name))
        self.assertEqual(state(name), "running (booted)", "no NMI was sent")

    def check_sidecar(self, path, name, vcpus, panicked, trigger="inject"):
        with open(path + ".json") as f:
            rec = json.load(f)
        self.assertEqual(rec["domain"]["name"], name)
        uuid = LV.virsh("domuuid", name).strip()
        self.assertEqual(rec["domain"]["uuid"], uuid)
        self.assertEqual(rec["trigger"], trigger)
        self.assertEqual(rec["nmi"]["panic_seen"], panicked)
        self.assertEqual(rec["dump"]["path"], path)
        self.assertEqual(rec["dump"]["name"], os.path.basename(path))
        self.assertEqual(rec["dump"]["format"], "elf")
        self.assertEqual(rec["dump"]["size"], os.path.getsize(path))
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        self.assertEqual(rec["dump"]["sha256"], h.hexdigest())
        self.assertEqual(rec["guest"]["vcpus"], vcpus)
        self.assertEqual(rec["guest"]["memory_bytes"], MIB << 20)
        self.assertRegex(rec["versions"]["libvirt"], r"^\d+\.\d+\.\d+$")
        self.assertRegex(rec["versions"]["qemu"], r"^\d+\.\d+\.\d+$")
        self.assertRegex(rec["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
        self.assertTrue(rec["host"])
        for step in ("lookup", "precheck", "dump", "commit", "total"):
            self.assertIn(step, rec["steps_ms"])
        return rec

    def test_00_dry_run_sends_and_writes_nothing(self):
        # -n is --dry-run, before or after DOMAIN: the guest keeps running and counts no NMI on its console,
        # nothing is written, and each run is recorded as one dry run.
        d = newdir("dry")
        log = os.path.join(WORK, "audit-dry.jsonl")
        env = dict(os.environ, DIAGINT_AUDIT_LOG=log)

        def run(*args):
            return subprocess.run([diaglab.diagint_bin()] + list(args), capture_output=True, text=True,
                                  timeout=120, env=env)

        def dry_records():
            r = run("audit", "list", "--result", "dry-run", "--json")
            self.assertEqual(r.returncode, 0, r.stderr)
            return json.loads(r.stdout)

        beat = heartbeat("g-dry")
        for args in (["inject", "-n", "g-dry"], ["inject", "--dry-run", "g-dry"], ["inject", "g-dry", "-n"],
                     ["inject", "g-dry", "--dry-run", "--no-capture"], ["capture", "g-dry", "-n"]):
            before = len(dry_records())
            r = run(*(args + ["-c", LV.uri] + ([] if "--no-capture" in args else ["-d", d])))
            self.assertEqual(r.returncode, 0, (args, r.stderr))
            self.assertRegex(r.stdout, r"^dry run: would .*nothing was sent or written\n$", args)
            if "--no-capture" not in args:
                self.assertRegex(r.stdout, re.escape(d) + r"/g-dry-\d{8}-\d{6}\.gcore", args)
            if args[0] == "inject":
                self.assertIn("would send an NMI to g-dry", r.stdout)
            self.assertEqual(state("g-dry"), "running (booted)", args)
            self.assertEqual(listing(d), [], "no dump, no .partial, no sidecar: %r" % (args,))
            recs = dry_records()
            self.assertEqual(len(recs), before + 1, "exactly one dry-run record: %r" % (args,))
            self.assertEqual((recs[-1]["action"], recs[-1]["target"]), (args[0], "libvirt:g-dry"))
        # The guest was never interrupted: still running, its heartbeat still advancing.
        deadline = time.time() + 10
        while time.time() < deadline and heartbeat("g-dry") <= beat + 1:
            time.sleep(0.2)
        self.assertGreater(heartbeat("g-dry"), beat + 1, "the heartbeat keeps advancing")
        self.assertEqual(state("g-dry"), "running (booted)")
        # --json: the record, with where the dump would go.
        r = run("inject", "--json", "g-dry", "-c", LV.uri, "-d", d, "--dry-run")
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = json.loads(r.stdout)
        self.assertTrue(rec["dry_run"])
        self.assertFalse(rec["nmi"]["sent"])
        self.assertIsNone(rec["dump"])
        self.assertEqual(os.path.dirname(rec["would_write"]), d)
        self.assertFalse(os.path.exists(rec["would_write"]))
        self.assertEqual(listing(d), [])
        # The same refusals as a real run, with the same statuses: nothing found (4), a destination that is
        # missing or not writable (2, with the fix), no free name (6).
        r = run("inject", "-n", "-c", LV.uri, "-d", d, "no-such-guest")
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("not found", r.stderr)
        r = run("inject", "g-off", "-n", "-c", LV.uri, "-d", d)
        self.assertEqual(r.returncode, 4, r.stderr)
        missing = os.path.join(WORK, "no-such-dry-dir")
        r = run("inject", "g-dry", "-n", "-c", LV.uri, "-d", missing)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("does not exist", r.stderr)
        self.assertIn("mkdir -p", r.stderr)
        self.assertFalse(os.path.exists(missing))
        r = run("capture", "g-dry", "--dry-run", "-c", LV.uri, "-d", mnt("ro"))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("not writable", r.stderr)
        r = run("inject", "g-dry", "-n", "-c", LV.uri, "-d", mnt("small"))
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertIn("not enough room", r.stderr)
        t0 = time.time()
        for sec in range(-1, 15):
            for n in [""] + ["-%d" % i for i in range(1, 10)]:
                open(os.path.join(d, "g-dry-%s%s.gcore" % (stamp(t0 + sec), n)), "w").close()
        before = listing(d)
        r = run("inject", "g-dry", "-n", "-c", LV.uri, "-d", d)
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertIn("no free dump name", r.stderr)
        self.assertEqual(listing(d), before)
        # Retention: a dump that a real run would remove to make room is named, and kept.
        old = os.path.join(newdir("dry-ret"), "g-dry-20200101-000000.gcore")
        with open(old, "wb") as f:
            f.write(b"\0" * (1 << 20))
        conf = os.path.join(WORK, "dry-ret.conf")
        with open(conf, "w") as f:
            f.write("[capture]\nMaxUse = %d\n" % ((MIB << 20) + (MIB << 20) // 64 + (8 << 20) + (512 << 10)))
        r = run("inject", "g-dry", "-n", "--config", conf, "-c", LV.uri, "-d", os.path.dirname(old))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("would remove " + old, r.stderr)
        self.assertTrue(os.path.exists(old), "a dry run removes nothing")
        self.assertEqual(state("g-dry"), "running (booted)")
        # Counted by the guest (it does not panic on an NMI): two more beats, and not one NMI line.
        self.assertEqual(diaglab.settle_nmis(console("g-dry")), 0, "NMIs on g-dry's console")
        # Every outcome in this log is a dry run or a refusal: nothing was ever done.
        r = run("audit", "list", "--json")
        outcomes = [x["result"]["status"] for x in json.loads(r.stdout) if x["action"] != "authorize"]
        self.assertEqual(set(outcomes), {"dry-run", "failed"}, outcomes)

    def test_01_inject_one_vcpu(self):
        d = newdir("one")
        t0 = time.time()
        r = diagint("inject", "-c", LV.uri, "--dump-dir", d, "g-one")
        self.assertEqual(r.returncode, 0, r.stderr)
        path = r.stdout.strip()
        self.assertEqual(r.stdout.count("\n"), 1, "one line on stdout")
        self.assertEqual(os.path.dirname(path), d)
        m = re.fullmatch(r"g-one-(\d{8}-\d{6})\.gcore", os.path.basename(path))
        self.assertTrue(m, path)
        self.assertIn(m.group(1), (stamp(t0), stamp(t0 + 1)), "named with host local time")
        self.check_dump(path, 1)
        rec = self.check_sidecar(path, "g-one", 1, True)
        self.assertTrue(rec["nmi"]["sent"])
        # Sparse: an idle 128 MiB guest is mostly zero pages, which become holes.
        st = os.stat(path)
        self.assertTrue(rec["dump"]["sparse"])
        self.assertEqual(rec["dump"]["allocated"], st.st_blocks * 512)
        self.assertLess(st.st_blocks * 512, st.st_size - (32 << 20), "at least 32 MiB of holes")
        self.assertEqual(rec["nmi"]["panic_event"], "crashed/panicked")
        self.assertEqual(state("g-one"), "crashed (panicked)")
        self.assertEqual(listing(d), sorted([os.path.basename(path), os.path.basename(path) + ".json",
                                             os.path.basename(path) + ".dmesg"]),
                         "no temporaries left; the dump, its record and the guest's kernel log")
        print("# g-one: nmi %.1f ms, NMI->panic event %.1f ms, dump %.0f ms, size %d for RAM %d (+%d)" % (
            rec["steps_ms"]["nmi"], rec["steps_ms"]["wait_panic"], rec["steps_ms"]["dump"],
            rec["dump"]["size"], MIB << 20, rec["dump"]["size"] - (MIB << 20)))

    def test_02_inject_two_vcpus_by_uuid_json(self):
        d = newdir("two")
        uuid = LV.virsh("domuuid", "g-two").strip()
        r = diagint("inject", "--connect", LV.uri, "--dump-dir", d, "--json", uuid)
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = json.loads(r.stdout)
        path = rec["dump"]["path"]
        self.check_dump(path, 2)
        side = self.check_sidecar(path, "g-two", 2, True)
        self.assertEqual(rec, side, "--json prints the sidecar record")

    def test_03_suffixes_when_names_taken(self):
        d = newdir("suffix")
        t0 = time.time()
        # Occupy the plain name and -1, -2 for every second the command could pick.
        for s in range(-1, 15):
            base = "g-one-%s" % stamp(t0 + s)
            for n in ("", "-1", "-2"):
                open(os.path.join(d, base + n + ".gcore"), "w").close()
        before = set(listing(d))
        r = diagint("inject", "-c", LV.uri, "-d", d, "g-one")  # already crashed: captures without an NMI
        self.assertEqual(r.returncode, 0, r.stderr)
        path = r.stdout.strip()
        self.assertRegex(os.path.basename(path), r"^g-one-\d{8}-\d{6}-3\.gcore$")
        self.assertIn("already crashed", r.stderr)
        self.assertEqual(set(listing(d)) - before, {os.path.basename(path), os.path.basename(path) + ".json",
                                                    os.path.basename(path) + ".dmesg"})
        for name in before:
            self.assertEqual(os.path.getsize(os.path.join(d, name)), 0, "existing files untouched")
        self.check_dump(path, 1)

    def test_04_all_names_taken_refused_before_nmi(self):
        d = newdir("full-names")
        t0 = time.time()
        for s in range(-1, 15):
            base = "g-refuse-%s" % stamp(t0 + s)
            for n in [""] + ["-%d" % i for i in range(1, 10)]:
                open(os.path.join(d, base + n + ".gcore"), "w").close()
        before = listing(d)
        r = diagint("inject", "-c", LV.uri, "-d", d, "g-refuse")
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertIn("no free dump name", r.stderr)
        self.assertEqual(listing(d), before, "nothing written")
        self.assert_no_nmi_panicking_guest("g-refuse")

    def test_05_no_room_refused_before_nmi(self):
        d = mnt("small")
        r = diagint("inject", "-c", LV.uri, "-d", d, "g-refuse")
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertIn("not enough room", r.stderr)
        self.assertEqual(r.stderr.count("\n"), 1, "one-line error")
        self.assertEqual(listing(d), [])
        self.assert_no_nmi_panicking_guest("g-refuse")

    def test_06_missing_and_unwritable_dir(self):
        missing = os.path.join(WORK, "no-such-dir")
        r = diagint("inject", "-c", LV.uri, "-d", missing, "g-refuse")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("does not exist", r.stderr)
        self.assertIn("mkdir -p", r.stderr)
        self.assertFalse(os.path.exists(missing), "a named --dump-dir is never created")
        ro = mnt("ro")
        r = diagint("inject", "-c", LV.uri, "-d", ro, "g-refuse")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("not writable", r.stderr)
        self.assert_no_nmi_panicking_guest("g-refuse")

    def test_07_filesystem_fills_during_dump(self):
        # Room at the check, none when the dump is written: the guest ignores the NMI (no panic), so the wait
        # gives us time to fill the filesystem between the precheck and the dump.
        d = mnt("fill")
        nmis = diaglab.nmi_count(console("g-fill"))
        p = subprocess.Popen([diaglab.diagint_bin(), "inject", "-c", LV.uri, "-d", d, "--timeout", "4", "g-fill"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 10
        while time.time() < deadline and not any(n.endswith(".partial") for n in os.listdir(d)):
            time.sleep(0.05)
        self.assertTrue(any(n.endswith(".partial") for n in os.listdir(d)), "capture reserved its name")
        subprocess.run(["dd", "if=/dev/zero", "of=" + os.path.join(d, "filler"), "bs=1M"], capture_output=True)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("cannot write the dump to " + d, err)
        self.assertIn("No space left on device", err)
        self.assertEqual(listing(d), ["filler"], "no half file under a final name, no temporary left")
        self.assertEqual(state("g-fill"), "running (unpaused)", "the guest keeps running")
        self.assert_nmis("g-fill", nmis, 1)

    def test_07b_destination_the_daemon_cannot_see(self):
        # A filesystem mounted after libvirtd started is not in the daemon's mount namespace. diagint reads the
        # dump from a FIFO and writes the file itself, so the dump still lands where the user asked.
        d = os.path.join(WORK, "late-mount")
        os.makedirs(d)
        nmis = diaglab.nmi_count(console("g-nonmi"))
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300m", "tmpfs", d], check=True)
        try:
            r = diagint("capture", "-c", LV.uri, "-d", d, "g-nonmi")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.check_dump(r.stdout.strip(), 1, panicked=False)
        finally:
            subprocess.run(["umount", d], check=True)
        self.assertEqual(os.listdir(d), [], "nothing was written underneath the mount")
        self.assert_nmis("g-nonmi", nmis, 0)

    def test_08_no_panic_captures_anyway(self):
        d = newdir("nonmi")
        nmis = diaglab.nmi_count(console("g-nonmi"))
        r = diagint("inject", "-c", LV.uri, "-d", d, "--timeout", "2", "g-nonmi")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("no panic", r.stderr)
        self.assertIn("capturing anyway", r.stderr)
        path = r.stdout.strip()
        self.check_dump(path, 1, panicked=False)
        rec = self.check_sidecar(path, "g-nonmi", 1, False)
        self.assertTrue(rec["nmi"]["sent"])
        self.assertTrue(rec["notes"])
        self.assertGreaterEqual(rec["steps_ms"]["wait_panic"], 1900)
        self.assertTrue(state("g-nonmi").startswith("running"), "a guest that ignored the NMI keeps running")
        self.assert_nmis("g-nonmi", nmis, 1)

    def test_09_hostile_name_stays_inside_dir(self):
        d = newdir("hostile")
        r = diagint("inject", "-c", LV.uri, "-d", d, HOSTILE)
        self.assertEqual(r.returncode, 0, r.stderr)
        path = r.stdout.strip()
        self.assertEqual(os.path.dirname(os.path.realpath(path)), os.path.realpath(d))
        self.assertRegex(os.path.basename(path), r"^___+_+evil|^___")
        self.assertRegex(os.path.basename(path), r"^[A-Za-z0-9_+-][A-Za-z0-9._+-]*\.gcore$")
        self.check_dump(path, 1)
        with open(path + ".json") as f:
            self.assertEqual(json.load(f)["domain"]["name"], HOSTILE, "the sidecar keeps the true name")

    def test_10_no_capture_by_id(self):
        dom_id = LV.virsh("domid", "g-refuse").strip()
        before = set(glob.glob(os.path.join(WORK, "dumps-*", "*")))
        r = diagint("inject", "-c", LV.uri, "--no-capture", dom_id)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertIn("panicked", r.stderr)
        self.assertEqual(state("g-refuse"), "crashed (panicked)")
        self.assertEqual(set(glob.glob(os.path.join(WORK, "dumps-*", "*"))), before)

    def test_10b_no_capture_delivers_exactly_one(self):
        # Counted by the guest: one NMI, however long diagint waits for a panic that does not come.
        nmis = diaglab.nmi_count(console("g-count"))
        r = diagint("inject", "-c", LV.uri, "--no-capture", "--timeout", "3", "g-count")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertIn("no panic", r.stderr)
        self.assert_nmis("g-count", nmis, 1)
        self.assertTrue(state("g-count").startswith("running"), state("g-count"))

    def test_11_capture_without_nmi(self):
        d = newdir("capture")
        nmis = diaglab.nmi_count(console("g-nonmi"))
        r = diagint("capture", "-c", LV.uri, "-d", d, "--json", "g-nonmi")
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = json.loads(r.stdout)
        self.assertFalse(rec["nmi"]["sent"])
        self.check_dump(rec["dump"]["path"], 1, panicked=False)
        self.check_sidecar(rec["dump"]["path"], "g-nonmi", 1, False, trigger="capture")
        self.assertTrue(state("g-nonmi").startswith("running"))
        self.assert_nmis("g-nonmi", nmis, 0)

    def test_12_unknown_and_inactive_domains(self):
        r = diagint("inject", "-c", LV.uri, "-d", WORK, "no-such-guest")
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("not found", r.stderr)
        self.assertIn("virsh", r.stderr)
        r = diagint("inject", "-c", LV.uri, "-d", WORK, "g-off")
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("not running", r.stderr)
        self.assertIn("virsh start", r.stderr)

    def test_12b_send_libvirt_target(self):
        # The provider interface's libvirt member, as the collectd plugin uses it: NMI only, no capture.
        # g-send does not panic on an NMI: its console counts them. A dry run: it beats on, no NMI line.
        nmis = diaglab.nmi_count(console("g-send"))
        r = diagint("send", "--dry-run", "--json", "-c", LV.uri, "libvirt:g-send")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        res = json.loads(r.stdout.splitlines()[0])
        self.assertEqual((res["status"], res["sent"], res["dry_run"]), ("ok", False, True), res)
        self.assert_nmis("g-send", nmis, 0)
        r = diagint("send", "--json", "-c", LV.uri, "libvirt:g-send")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        res = json.loads(r.stdout.splitlines()[0])
        self.assertEqual((res["target"], res["status"], res["sent"], res["message"]),
                         ("libvirt:g-send", "ok", True, "NMI injected"), res)
        self.assert_nmis("g-send", nmis, 1)
        self.assertEqual(state("g-send"), "running (booted)", "it logged the NMI and went on")
        r = diagint("send", "-c", LV.uri, "libvirt:no-such-guest")
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)

    def test_13_audit_record(self):
        # Who may, who did: the decision and the outcome of a real inject, with the dump's path and hash.
        d = newdir("audit")
        log = os.path.join(WORK, "audit.jsonl")
        env = dict(os.environ, DIAGINT_AUDIT_LOG=log)
        r = subprocess.run([diaglab.diagint_bin(), "inject", "-c", LV.uri, "-d", d, "g-one"], capture_output=True,
                           text=True, timeout=120, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(log) as f:
            recs = [json.loads(line) for line in f]
        self.assertEqual([(x["action"], x["result"]["status"]) for x in recs][-2:],
                         [("authorize", "ok"), ("inject", "ok")])
        self.assertEqual(recs[-1]["target"], "libvirt:g-one")
        self.assertEqual(recs[-1]["dump"]["path"], r.stdout.strip())
        with open(r.stdout.strip() + ".json") as f:
            self.assertEqual(recs[-1]["dump"]["sha256"], json.load(f)["dump"]["sha256"])
        # Recomputed here, not taken from the sidecar: the record names the bytes on disk.
        h = hashlib.sha256()
        with open(r.stdout.strip(), "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        self.assertEqual(recs[-1]["dump"]["sha256"], h.hexdigest())
        v = subprocess.run([diaglab.diagint_bin(), "audit", "verify"], capture_output=True, text=True, env=env)
        self.assertEqual(v.returncode, 0, v.stderr)
        # The chain read by a reader that shares no code with diagint (hashlib), head included.
        self.assertEqual(auditcheck.verify(log), recs)

    def test_13b_both_audit_readers_see_tampering(self):
        # The independent reader can fail: one byte changed in an earlier record, and both readers say so.
        log = os.path.join(WORK, "audit.jsonl")
        with open(log, "rb") as f:
            lines = f.read().split(b"\n")
        self.assertGreaterEqual(len(lines), 3, "test_13 wrote records")
        bad = os.path.join(WORK, "audit-tampered.jsonl")
        lines[0] = lines[0].replace(b'"libvirt:', b'"libvirX:', 1)
        with open(bad, "wb") as f:
            f.write(b"\n".join(lines))
        with self.assertRaisesRegex(auditcheck.AuditChainError, r":2 \(seq 2\): prev"):
            auditcheck.verify(bad, head=False)
        v = subprocess.run([diaglab.diagint_bin(), "audit", "verify", bad], capture_output=True, text=True,
                           env=dict(os.environ, DIAGINT_AUDIT_LOG=bad))
        self.assertNotEqual(v.returncode, 0, v.stdout + v.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
