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
GUESTS = {"a-one": 1, "a-two": 2, "a-kaslr": 2}
# a-kaslr boots Debian's compressed kernel (bzImage) itself: its decompressor randomizes the kernel's base (KASLR
# is on by default), where the lab's extracted ELF kernel (PVH entry) always sits at its link address.
KASLR = {"a-kaslr"}
NOINFO = "a-noinfo"  # a guest without the <vmcoreinfo/> feature: its dump has no VMCOREINFO note
DUMPS = {}  # guest -> (path, record)
PANIC = diaglab.NMI_PANIC_TEXT.decode()


def setUpModule():
    global LV, WORK
    WORK = tempfile.mkdtemp(prefix="dg-analysis-")
    LV = diaglab.PrivateLibvirtd(os.path.join(WORK, "libvirt"))
    LV.start()
    guest = diaglab.built_guest()
    bzimage = sorted(__import__("glob").glob("/boot/vmlinuz-*"))[-1]
    for name, vcpus in GUESTS.items():
        g = dict(guest, kernel=bzimage) if name in KASLR else guest
        LV.create(diaglab.domain_xml(name, g, console(name), vcpus=vcpus, memory_mib=MIB))
    xml = diaglab.domain_xml(NOINFO, guest, console(NOINFO), memory_mib=MIB)
    LV.create(xml.replace("<vmcoreinfo state='on'/>", ""))
    for name in list(GUESTS) + [NOINFO]:
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


def guest_kernel_release():
    return os.path.basename(sorted(__import__("glob").glob("/boot/vmlinuz-*"))[-1])[len("vmlinuz-"):]


class ImageKallsyms:
    """An independent reading of the guest kernel's symbols: the kallsyms tables in the kernel image on disk (the
    ELF the lab guest boots, read with pyelftools), at the addresses VMCOREINFO names minus KERNELOFFSET, decoded
    here in Python; runtime address = image address + KERNELOFFSET. Not the dump's memory, not our C code."""

    def __init__(self, vmlinux, info, kaslr):
        import struct
        from elftools.elf.elffile import ELFFile
        self.f = open(vmlinux, "rb")
        self.segs = [(s["p_vaddr"], s["p_filesz"], s["p_offset"]) for s in ELFFile(self.f).iter_segments()
                     if s["p_type"] == "PT_LOAD"]
        sym = lambda n: int(info["SYMBOL(%s)" % n], 16) - kaslr  # noqa: E731
        num = struct.unpack("<I", self.read(sym("kallsyms_num_syms"), 4))[0]
        offs = struct.unpack("<%di" % num, self.read(sym("kallsyms_offsets"), 4 * num))
        base = struct.unpack("<Q", self.read(sym("kallsyms_relative_base"), 8))[0]
        percpu = any(o < 0 for o in offs)
        self.addrs = [(o if o >= 0 else base - 1 - o) if percpu else base + (o & 0xffffffff) for o in offs]
        self.addrs = [a + (kaslr if a >= base else 0) for a in self.addrs]
        ttab = self.read(sym("kallsyms_token_table"), sym("kallsyms_token_index") - sym("kallsyms_token_table"))
        tidx = struct.unpack("<256H", self.read(sym("kallsyms_token_index"), 512))
        names = self.read(sym("kallsyms_names"), sym("kallsyms_token_table") - sym("kallsyms_names"))
        self.names, off = [], 0
        for _ in range(num):
            n = names[off]
            off += 1
            if n & 0x80:
                n = (n & 0x7f) | (names[off] << 7)
                off += 1
            s = b"".join(ttab[tidx[t]:ttab.index(b"\0", tidx[t])] for t in names[off:off + n]).decode()
            self.names.append((s[0], s[1:]))
            off += n

    def read(self, vaddr, n):
        for va, size, off in self.segs:
            if va <= vaddr and vaddr + n <= va + size:
                self.f.seek(off + vaddr - va)
                return self.f.read(n)
        raise KeyError(hex(vaddr))

    def address(self, name):
        return [a for a, (_t, n) in zip(self.addrs, self.names) if n == name][0]

    def symbol(self, addr):
        import bisect
        i = bisect.bisect_right(self.addrs, addr)
        if i == 0 or i == len(self.addrs):
            return ""
        j = i - 1
        while j > 0 and self.addrs[j - 1] == self.addrs[j]:
            j -= 1
        for k in range(j, i):
            if self.names[k][0] in "TtWw":
                return "%s+0x%x" % (self.names[k][1], addr - self.addrs[k])
        return ""


def vmcoreinfo(path):
    from elftools.elf.elffile import ELFFile
    with open(path, "rb") as f:
        for seg in ELFFile(f).iter_segments():
            if seg["p_type"] == "PT_NOTE":
                for note in seg.iter_notes():
                    if note["n_name"] == "VMCOREINFO":
                        desc = note["n_desc"]
                        text = desc if isinstance(desc, str) else desc.decode()
                        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return None


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

    def test_crash_reads_it(self):
        """crash without a vmlinux reads no log from a 6.1 ring (its --log knows only the old log_buf), but
        --osrelease opens the dump and finds VMCOREINFO in it, as written."""
        for name, (path, rec) in DUMPS.items():
            r = subprocess.run(["crash", "--osrelease", path], capture_output=True, text=True, timeout=60)
            self.assertEqual((r.returncode, r.stdout.strip()), (0, guest_kernel_release()), r.stderr)

    def test_gdb_reads_registers(self):
        if not shutil.which("gdb"):
            self.skipTest("gdb not installed")
        path = DUMPS["a-two"][0]
        r = subprocess.run(["gdb", "-batch", "-nx", "-ex", "info threads", "-ex", "info registers rip", "-c", path],
                           capture_output=True, text=True, timeout=60)
        self.assertIn("rip", r.stdout)
        self.assertIn("LWP 1", r.stdout)
        self.assertIn("LWP 2", r.stdout, "one thread per vCPU")


class Explained(unittest.TestCase):
    def test_kernel_object(self):
        for name, (path, rec) in DUMPS.items():
            k = rec["kernel"]
            info = vmcoreinfo(path)
            self.assertEqual(k["release"], guest_kernel_release(), name)
            self.assertEqual(k["release"], info["OSRELEASE"])
            self.assertRegex(k["build_id"], r"^[0-9a-f]{40}$")
            self.assertEqual(k["build_id"], info["BUILD-ID"])
            self.assertEqual(k["panic"], PANIC, "the panic line, exact")
            self.assertEqual(k["log_file"], os.path.basename(path) + ".dmesg")
            self.assertEqual(len(k["cpus"]), GUESTS[name])
            self.assertEqual([c["cpu"] for c in k["cpus"]], list(range(GUESTS[name])))
            self.assertLess(rec["steps_ms"]["analyze"], 1000, "analysis within a second of the dump")
            with open(path + ".json") as f:
                self.assertEqual(json.load(f)["kernel"], k, "the sidecar holds what --json printed")
            print("# %s: analysis %.1f ms, %d log records, cpus %s" % (
                name, rec["steps_ms"]["analyze"], k["log_records"], [c["symbol"] for c in k["cpus"]]))

    def test_log_equals_makedumpfile(self):
        for name, (path, rec) in DUMPS.items():
            with open(path + ".dmesg") as f:
                ours = f.read().splitlines()
            self.assertEqual(ours, makedumpfile_dmesg(path), name)
            self.assertEqual(oct(os.stat(path + ".dmesg").st_mode & 0o777), "0o600")
            self.assertIn("[", ours[0])
            self.assertTrue([line for line in ours if line.endswith("] " + PANIC)])

    def test_symbols_against_the_kernel_image(self):
        vmlinux = diaglab.built_guest()["kernel"]
        for name, (path, rec) in DUMPS.items():
            info = vmcoreinfo(path)
            kaslr = int(info.get("KERNELOFFSET", "0"), 16)
            self.assertEqual(rec["kernel"]["kernel_offset"], "0x%x" % kaslr)
            print("# %s: KERNELOFFSET 0x%x, cpus %s" % (name, kaslr, rec["kernel"]["cpus"]))
            image = ImageKallsyms(vmlinux, info, kaslr)
            for cpu in rec["kernel"]["cpus"]:
                self.assertEqual(cpu["symbol"], image.symbol(int(cpu["ip"], 16)), (name, cpu))
            # the image's reading agrees with VMCOREINFO on where _stext is, KASLR offset included
            self.assertEqual(image.address("_stext"), int(info["SYMBOL(_stext)"], 16))
        for name in ("a-two", "a-kaslr"):
            syms = [c["symbol"] for c in DUMPS[name][1]["kernel"]["cpus"]]
            self.assertTrue(any(syms), "the vCPU stopped by the panic is in kernel text: %r" % syms)

    def test_dumps_show(self):
        path, rec = DUMPS["a-two"]
        d, name = os.path.split(path)
        r = diagint("dumps", "show", "-d", d, name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Panic: " + PANIC, r.stdout)
        self.assertIn("Kernel: " + rec["kernel"]["release"], r.stdout)
        for cpu in rec["kernel"]["cpus"]:
            self.assertIn("CPU %d: %s" % (cpu["cpu"], cpu["ip"]), r.stdout)
        sym = [c["symbol"] for c in rec["kernel"]["cpus"] if c["symbol"]][0]
        self.assertIn(sym, r.stdout)
        log = open(path + ".dmesg").read().splitlines()
        self.assertTrue(r.stdout.endswith("\n".join(log[-20:]) + "\n"), "the last 20 kernel messages")
        j = json.loads(diagint("dumps", "show", "-d", d, "--json", name).stdout)
        self.assertEqual(j["kernel"], rec["kernel"])
        self.assertEqual(j["log"], log[-20:])
        self.assertEqual(j["log_lines"], len(log))
        j = json.loads(diagint("dumps", "show", "-d", d, "--json", "--log", name).stdout)
        self.assertEqual(j["log"], log)
        # remove takes the kernel log along
        gone = os.path.join(WORK, "dumps-remove")
        os.makedirs(gone)
        for ext in ("", ".json", ".dmesg"):
            open(os.path.join(gone, "x-20260101-000000.gcore" + ext), "w").close()
        r = diagint("dumps", "remove", "-d", gone, "x-20260101-000000.gcore")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.listdir(gone), [])

    def test_pipe_gets_what_the_notes_tell(self):
        out = os.path.join(WORK, "pipe-out")
        os.makedirs(out)
        r = diagint("capture", "-c", LV.uri, "--json", "--dest", '|cat > "%s/dump"' % out, "a-one")
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = json.loads(r.stdout)
        k = rec["kernel"]
        self.assertTrue(k["notes_only"])
        self.assertEqual(k["release"], guest_kernel_release())
        self.assertEqual(k["build_id"], DUMPS["a-one"][1]["kernel"]["build_id"])
        self.assertEqual([c["ip"] for c in k["cpus"]], [c["ip"] for c in DUMPS["a-one"][1]["kernel"]["cpus"]],
                         "a crashed guest's registers do not change between captures")
        self.assertIsNone(k["panic"])
        self.assertIsNone(k["log_file"])
        self.assertIsNone(k["cpus"][0]["symbol"])
        self.assertTrue([n for n in rec["notes"] if "need the whole dump" in n], rec["notes"])
        h = hashlib.sha256(open(os.path.join(out, "dump"), "rb").read()).hexdigest()
        self.assertEqual(rec["dump"]["sha256"], h, "the command got the mended bytes the hash is of")
        r = subprocess.run(["makedumpfile", "--dump-dmesg", os.path.join(out, "dump"), os.path.join(out, "log")],
                           capture_output=True)
        self.assertEqual(r.returncode, 0, "makedumpfile reads what the command got, too")

    def test_kdump_capture_shown(self):
        """A kdump-zlib capture (QEMU's own compressed format) is not analyzed at capture time (libkdumpfile 0.5.1
        cannot free a kdump file's context safely in a long-running process), but dumps show reads it."""
        d = os.path.join(WORK, "dumps-kdump")
        os.makedirs(d)
        r = diagint("capture", "-c", LV.uri, "-d", d, "-f", "kdump-zlib", "--json", "a-two")
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = json.loads(r.stdout)
        path = rec["dump"]["path"]
        self.assertNotIn("kernel", rec)
        r = diagint("dumps", "show", "-d", d, "--json", "--log", rec["dump"]["name"])
        self.assertEqual(r.returncode, 0, r.stderr)
        j = json.loads(r.stdout)
        self.assertTrue(j["analyzed_now"])
        k = j["kernel"]
        self.assertEqual(k["panic"], PANIC)
        self.assertEqual(k["release"], guest_kernel_release())
        elf = DUMPS["a-two"][1]["kernel"]
        self.assertEqual([(c["ip"], c["symbol"]) for c in k["cpus"]], [(c["ip"], c["symbol"]) for c in elf["cpus"]],
                         "registers and symbols from the kdump file's headers equal the ELF's")
        self.assertEqual(j["log"], makedumpfile_dmesg(path))

    def test_no_vmcoreinfo(self):
        d = os.path.join(WORK, "dumps-noinfo")
        os.makedirs(d)
        r = diagint("capture", "-c", LV.uri, "-d", d, "--json", NOINFO)
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = json.loads(r.stdout)
        self.assertNotIn("kernel", rec)
        note = [n for n in rec["notes"] if "VMCOREINFO" in n]
        self.assertTrue(note, rec["notes"])
        self.assertIn("<vmcoreinfo state='on'/>", note[0])
        self.assertIn("qemu_fw_cfg", note[0])
        self.assertFalse(os.path.exists(rec["dump"]["path"] + ".dmesg"))
        self.assertIn("VMCOREINFO", r.stderr, "said on stderr too")
        r = diagint("dumps", "show", "-d", d, rec["dump"]["name"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("vmcoreinfo", r.stderr)
        # doctor says so beforehand
        p = diagint("doctor", "-c", LV.uri, "--json", "libvirt:" + NOINFO)
        c = {x["check"]: x for x in json.loads(p.stdout.splitlines()[0])["checks"]}
        self.assertEqual(c["vmcoreinfo"]["level"], "warn", c["vmcoreinfo"])
        self.assertIn("<vmcoreinfo state='on'/>", c["vmcoreinfo"]["fix"])


class Shrink(unittest.TestCase):
    def capture(self, tag):
        d = os.path.join(WORK, "dumps-shrink-" + tag)
        os.makedirs(d)
        r = diagint("capture", "-c", LV.uri, "-d", d, "--json", "a-one")
        self.assertEqual(r.returncode, 0, r.stderr)
        return d, json.loads(r.stdout)

    def test_shrink(self):
        for comp in ("zlib", "lzo"):
            d, rec = self.capture(comp)
            old = rec["dump"]["name"]
            audit = os.path.join(d, "..", "audit-shrink-%s.jsonl" % comp)
            r = subprocess.run([diaglab.diagint_bin(), "dumps", "shrink", "-d", d, "--compress", comp, old],
                               capture_output=True, text=True, timeout=180,
                               env=dict(os.environ, DIAGINT_AUDIT_LOG=audit))
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(audit) as f:
                recs = [json.loads(x) for x in f]
            # replacing evidence is authorized and recorded like dumps remove
            self.assertEqual([(x["action"], x["target"], x["result"]["status"]) for x in recs],
                             [("authorize", "dump:" + old, "ok"), ("dump-shrink", "dump:" + old, "ok")])
            path = r.stdout.strip()
            new = os.path.basename(path)
            self.assertEqual(new, old[:-len(".gcore")] + ".kdump")
            self.assertEqual(sorted(os.listdir(d)), [new, new + ".dmesg", new + ".json"], "the ELF is gone")
            with open(path + ".json") as f:
                side = json.load(f)
            h = hashlib.sha256(open(path, "rb").read()).hexdigest()
            self.assertEqual(side["dump"]["sha256"], h)
            self.assertEqual(side["dump"]["format"], "kdump-" + comp)
            self.assertEqual(side["dump"]["size"], os.path.getsize(path))
            self.assertEqual(side["shrink"]["from"]["sha256"], rec["dump"]["sha256"])
            self.assertEqual(side["shrink"]["dump_level"], 31)
            self.assertEqual(side["kernel"]["log_file"], new + ".dmesg")
            self.assertLess(os.path.getsize(path), rec["dump"]["size"] / 4)
            with open(open(path, "rb").name, "rb") as f:
                self.assertEqual(f.read(8), b"KDUMP   ", "a kdump-compressed file")
            self.assertEqual(makedumpfile_dmesg(path), open(path + ".dmesg").read().splitlines(),
                             "makedumpfile reads the new file: the same log")
            r = subprocess.run(["crash", "--osrelease", path], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.stdout.strip(), guest_kernel_release(), "crash opens the shrunk file")
            print("# shrink %s: %d -> %d bytes (%s)" % (comp, rec["dump"]["size"], os.path.getsize(path),
                                                        r.stderr.strip()))
        r = diagint("dumps", "shrink", "-d", d, new)
        self.assertEqual(r.returncode, 2, "a .kdump is not shrunk again")

    def test_shrink_after_every_capture(self):
        d = os.path.join(WORK, "dumps-shrink-conf")
        os.makedirs(d)
        conf = os.path.join(WORK, "shrink.conf")
        with open(conf, "w") as f:
            f.write("[capture]\nShrink = lzo\n")
        r = diagint("capture", "-c", LV.uri, "--config", conf, "-d", d, "--json", "a-one")
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = json.loads(r.stdout)
        path = rec["dump"]["path"]
        self.assertTrue(path.endswith(".kdump"), path)
        self.assertEqual(rec["dump"]["format"], "kdump-lzo")
        self.assertEqual(sorted(os.listdir(d)), sorted(os.path.basename(path) + x for x in ("", ".json", ".dmesg")))
        self.assertEqual(rec["dump"]["sha256"], hashlib.sha256(open(path, "rb").read()).hexdigest())
        self.assertEqual(rec["dump"]["size"], os.path.getsize(path))
        self.assertEqual(rec["kernel"]["log_file"], os.path.basename(path) + ".dmesg")
        self.assertIn("shrink", rec["steps_ms"])
        with open(path + ".json") as f:
            side = json.load(f)
        self.assertEqual(side["dump"]["sha256"], rec["dump"]["sha256"])
        self.assertEqual(side["shrink"]["compression"], "lzo")
        self.assertEqual(side["kernel"]["panic"], PANIC)


if __name__ == "__main__":
    unittest.main(verbosity=2)
