"""The capture pipeline against real guests under a private libvirtd: |COMMAND destinations, faults, formats,
retention, flood limit, configuration, and `diagint dumps`."""
import glob
import gzip
import json
import os
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

LV = None
WORK = None
MIB = 128
GUESTS = {"p-run": False, "p-slow": False, "p-kill": False, "p-int": False, "p-panic": True, "p-ret": False}
MOUNTS = [("keepfree", "300m")]
# Reads 64 KiB every 50 ms: a 128 MiB dump would take minutes, time enough to act mid-dump.
SLOW_READER = "|while dd bs=64k count=1 status=none >/dev/null; do sleep 0.05; done"


def setUpModule():
    global LV, WORK
    WORK = tempfile.mkdtemp(prefix="dg-pipe-")
    for tag, size in MOUNTS:
        d = os.path.join(WORK, "mnt-" + tag)
        os.makedirs(d)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", d], check=True)
    LV = diaglab.PrivateLibvirtd(os.path.join(WORK, "libvirt"), tcp=True)
    LV.start()
    guest = diaglab.built_guest()
    for name, panics in GUESTS.items():
        LV.create(diaglab.domain_xml(name, guest, console(name), memory_mib=MIB, nmi_panics=panics))
    for name in GUESTS:
        assert diaglab.wait_for_console(console(name), "diagint-heartbeat 1", 120), name


def tearDownModule():
    if LV:
        LV.stop()
    if WORK:
        for m in glob.glob(os.path.join(WORK, "mnt-*")):
            subprocess.run(["umount", "-l", m], capture_output=True)
        shutil.rmtree(WORK, ignore_errors=True)


def console(name):
    return os.path.join(WORK, name + ".console")


def diagint(*args, env=None, timeout=180):
    return subprocess.run([diaglab.diagint_bin()] + list(args), capture_output=True, text=True, timeout=timeout,
                          env=env)


def newdir(tag):
    d = os.path.join(WORK, tag)
    os.makedirs(d)
    return d


def conf(text):
    path = os.path.join(WORK, "diagint-%d.conf" % time.monotonic_ns())
    with open(path, "w") as f:
        f.write(text)
    return path


def running(name):
    return LV.state(name).startswith("running")


def sha256_of(p):
    import hashlib
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


class Pipe(unittest.TestCase):
    def test_pipe_gets_stream_and_environment(self):
        out = newdir("pipe-out")
        # Nothing of diagint's own environment (a cloud key above all) reaches the command: PATH and DIAGINT_*.
        env = dict(os.environ, AWS_SECRET_ACCESS_KEY="s3cr3t-of-diagint")
        cmd = '|env | sort > "%s/env"; cat > "%s/$DIAGINT_DUMP_NAME"' % (out, out)
        r = diagint("capture", "-c", LV.uri, "--dest", cmd, "--json", "p-run", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = json.loads(r.stdout)
        self.assertIsNone(rec["dump"]["path"])
        self.assertEqual(rec["dump"]["destination"], cmd)
        name = rec["dump"]["name"]
        self.assertRegex(name, r"^p-run-\d{8}-\d{6}\.gcore$")
        path = os.path.join(out, name)
        facts = diaglab.elf_facts(path)
        self.assertEqual(facts["type"], "ET_CORE")
        self.assertEqual(facts["prstatus"], 1)
        self.assertEqual(os.path.getsize(path), rec["dump"]["size"])
        import hashlib
        self.assertEqual(hashlib.sha256(open(path, "rb").read()).hexdigest(), rec["dump"]["sha256"])
        envs = dict(line.split("=", 1) for line in open(os.path.join(out, "env")).read().splitlines())
        self.assertEqual({k for k in envs if not k.startswith("DIAGINT_")} - {"PWD", "SHLVL", "_"}, {"PATH"},
                         "a minimal environment: PATH and DIAGINT_* (the shell adds PWD, SHLVL, _)")
        self.assertEqual(envs["DIAGINT_DOMAIN"], "p-run")
        self.assertEqual(envs["DIAGINT_UUID"], LV.virsh("domuuid", "p-run").strip())
        self.assertEqual(envs["DIAGINT_DUMP_NAME"], name)
        self.assertEqual(envs["DIAGINT_TRIGGER"], "capture")
        self.assertEqual(envs["DIAGINT_FORMAT"], "elf")
        self.assertTrue(running("p-run"))

    def test_pipe_plain_output_line_and_gzip(self):
        out = newdir("pipe-gz")
        r = diagint("capture", "-c", LV.uri, "-D", '|gzip -1 > "%s/dump.gz"' % out, "p-run")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^p-run-\d{8}-\d{6}\.gcore \|gzip")
        raw = os.path.join(out, "dump")
        with gzip.open(os.path.join(out, "dump.gz")) as src, open(raw, "wb") as dst:
            shutil.copyfileobj(src, dst)
        self.assertEqual(diaglab.elf_facts(raw)["type"], "ET_CORE")

    def test_command_exits_at_once(self):
        r = diagint("capture", "-c", LV.uri, "-D", "|true", "p-run")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("destination command 'true' exited with status 0 before it read the whole dump", r.stderr)
        self.assertTrue(running("p-run"), "guest not left paused")

    def test_command_fails_after_reading(self):
        r = diagint("capture", "-c", LV.uri, "-D", "|cat >/dev/null; echo oops >&2; exit 3", "p-run")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("exited with status 3", r.stderr)
        self.assertIn("destination command: oops", r.stderr, "its stderr goes to our log")
        self.assertTrue(running("p-run"))

    def test_command_never_reads(self):
        c = conf("[capture]\nStallTimeout = 2\n")
        t = time.time()
        r = diagint("capture", "-c", LV.uri, "--config", c, "-D", "|sleep 60", "p-run")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("stopped reading the dump", r.stderr)
        self.assertLess(time.time() - t, 30, "the stall is noticed")
        self.assertTrue(running("p-run"), "guest resumed after the aborted dump")
        self.assertEqual(subprocess.run(["pgrep", "-f", "^sleep 60$"], capture_output=True).returncode, 1,
                         "the command was killed")

    def test_domain_destroyed_mid_dump(self):
        p = subprocess.Popen([diaglab.diagint_bin(), "capture", "-c", LV.uri, "-D", SLOW_READER, "p-kill"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        LV.virsh("destroy", "p-kill")
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 1, err)
        # Progress lines, then one error: libvirt's reason under diagint's words.
        last = err.splitlines()[-1]
        self.assertTrue(last.startswith("diagint: memory dump of the guest failed: "), err)
        self.assertIn("domain is not running", last)
        self.assertEqual(out, "")

    def test_ctrl_c_mid_dump(self):
        d = newdir("ctrl-c")
        env = dict(os.environ, OUT=d)
        p = subprocess.Popen([diaglab.diagint_bin(), "capture", "-c", LV.uri, "-D", SLOW_READER, "p-int"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        time.sleep(3)
        self.assertIn("paused", LV.state("p-int"), "mid-dump the guest is paused")
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("interrupted", err)
        self.assertTrue(running("p-int"), "left as it was: running")

    def progress_output(self, *extra):
        # stderr on a pseudo-terminal, as an operator sees it; a slow reader makes the dump last.
        import pty
        master, slave = pty.openpty()
        p = subprocess.Popen([diaglab.diagint_bin(), "capture", "-c", LV.uri, "-D", SLOW_READER] + list(extra) +
                             ["p-int"], stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        time.sleep(3.5)
        p.send_signal(signal.SIGINT)
        p.wait(timeout=120)
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        return p.returncode, out.decode(errors="replace")

    def test_progress_on_a_terminal(self):
        rc, text = self.progress_output()
        self.assertEqual(rc, 1, text)
        self.assertRegex(text, r"\r\x1b\[Kdiagint: dumping \[#*\.*\] +\d+% \d+/128 MiB \d+ MiB/s ETA \d+ s")
        self.assertIn("\r\x1b[Kdiagint: capture interrupted", text, "the error starts on a clean line")
        rc, text = self.progress_output("--quiet")
        self.assertNotIn("dumping", text, "--quiet: no progress")
        self.assertTrue(running("p-int"))

    def test_ctrl_c_directory_leaves_nothing(self):
        # A directory capture interrupted while its NMI wait runs: no file, no temporary.
        d = newdir("ctrl-c-dir")
        p = subprocess.Popen([diaglab.diagint_bin(), "inject", "-c", LV.uri, "-d", d, "--timeout", "30", "p-int"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 10
        while time.time() < deadline and not os.listdir(d):
            time.sleep(0.05)
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 1, err)
        self.assertEqual(os.listdir(d), [])


class Formats(unittest.TestCase):
    def test_kdump_zlib_readable_by_makedumpfile(self):
        d = newdir("kdump")
        r = diagint("inject", "-c", LV.uri, "-d", d, "--format", "kdump-zlib", "--json", "p-panic")
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = json.loads(r.stdout)
        path = rec["dump"]["path"]
        self.assertTrue(path.endswith(".kdump"), path)
        self.assertEqual(rec["dump"]["format"], "kdump-zlib")
        self.assertFalse(rec["dump"]["flattened"], "converted to a normal kdump file")
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), b"KDUMP   ")
        # makedumpfile, an independent reader, pulls the kernel log out of it.
        dmesg = os.path.join(d, "dmesg.txt")
        m = subprocess.run(["makedumpfile", "--dump-dmesg", path, dmesg], capture_output=True, text=True)
        self.assertEqual(m.returncode, 0, m.stdout + m.stderr)
        self.assertIn(diaglab.NMI_PANIC_TEXT.decode(), open(dmesg, errors="replace").read())
        self.assertLess(os.path.getsize(path), MIB << 20, "compressed")
        self.assertEqual(rec["dump"]["sha256"], sha256_of(path), "the record's hash is the file's")
        # diagint's own conversion from makedumpfile's flattened form, against makedumpfile's (-R): the guest sits
        # crashed (its memory no longer changes), so a second capture, to a command, gets the same stream
        # flattened, and makedumpfile -R must restore exactly the file diagint wrote.
        out = newdir("kdump-vs-R")
        r = diagint("capture", "-c", LV.uri, "-D", '|cat > "%s/flat"' % out, "-f", "kdump-zlib", "--json", "p-panic")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(json.loads(r.stdout)["dump"]["flattened"])
        restored = os.path.join(out, "restored")
        with open(os.path.join(out, "flat"), "rb") as f:
            m = subprocess.run(["makedumpfile", "-R", restored], stdin=f, capture_output=True, text=True)
        self.assertEqual(m.returncode, 0, m.stdout + m.stderr)
        self.assertEqual((os.path.getsize(restored), sha256_of(restored)), (os.path.getsize(path), sha256_of(path)),
                         "makedumpfile -R and diagint restore the same bytes")

    def test_kdump_to_pipe_is_flattened(self):
        out = newdir("kdump-pipe")
        r = diagint("capture", "-c", LV.uri, "-D", '|cat > "%s/flat"' % out, "-f", "kdump-zlib", "--json", "p-panic")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(json.loads(r.stdout)["dump"]["flattened"])
        flat = os.path.join(out, "flat")
        with open(flat, "rb") as f:
            self.assertEqual(f.read(12), b"makedumpfile")
        restored = os.path.join(out, "restored")
        with open(flat, "rb") as f:
            m = subprocess.run(["makedumpfile", "-R", restored], stdin=f, capture_output=True, text=True)
        self.assertEqual(m.returncode, 0, m.stdout + m.stderr)
        with open(restored, "rb") as f:
            self.assertEqual(f.read(8), b"KDUMP   ")

    def test_unavailable_and_unknown_formats(self):
        r = diagint("capture", "-c", LV.uri, "-d", newdir("lzo"), "-f", "kdump-lzo", "p-run")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr.splitlines(), ["diagint: memory dump of the guest failed: invalid argument: "
                                                 "unsupported dumpformat 'kdump-lzo' for this QEMU binary"])
        self.assertEqual(os.listdir(os.path.join(WORK, "lzo")), [], "nothing left")
        r = diagint("capture", "-c", LV.uri, "-f", "zip", "p-run")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown --format 'zip'", r.stderr)


class Retention(unittest.TestCase):
    def fake(self, d, name, size):
        with open(os.path.join(d, name), "wb") as f:
            f.write(os.urandom(size))
        with open(os.path.join(d, name + ".json"), "w") as f:
            json.dump({"domain": {"name": name.split("-2")[0]}, "nmi": {"panic_seen": False}}, f)

    def test_max_use_evicts_oldest(self):
        d = newdir("maxuse")
        self.fake(d, "old-a-20200101-000000.gcore", 60 << 20)
        self.fake(d, "old-b-20210101-000000.gcore", 60 << 20)
        c = conf("[capture]\nMaxUse = 210M\nKeepFree = 0\n")
        r = diagint("capture", "-c", LV.uri, "--config", c, "-d", d, "p-ret")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("retention: removed %s/old-a-20200101-000000.gcore" % d, r.stderr)
        names = sorted(os.listdir(d))
        self.assertNotIn("old-a-20200101-000000.gcore", names)
        self.assertNotIn("old-a-20200101-000000.gcore.json", names)
        self.assertIn("old-b-20210101-000000.gcore", names)

    def test_keep_free_refuses(self):
        d = os.path.join(WORK, "mnt-keepfree")
        c = conf("[capture]\nKeepFree = 250M\n")
        r = diagint("capture", "-c", LV.uri, "--config", c, "-d", d, "p-ret")
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertIn("KeepFree", r.stderr)
        self.assertEqual(os.listdir(d), [])
        self.assertTrue(running("p-ret"))

    def test_flood_limit(self):
        d = newdir("flood")
        c = conf("[capture]\n[domain:p-ret]\nFloodLimit = 1\nFloodWindow = 1h\n")
        r = diagint("capture", "-c", LV.uri, "--config", c, "-d", d, "p-ret")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = diagint("capture", "-c", LV.uri, "--config", c, "-d", d, "p-ret")
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertIn("flood limit", r.stderr)
        self.assertEqual(len([n for n in os.listdir(d) if n.endswith(".gcore")]), 1)
        # Per-domain: another domain is not limited.
        r = diagint("capture", "-c", LV.uri, "--config", c, "-d", d, "p-run")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_dumps_review(self):
        d = newdir("review")
        for _ in range(2):
            r = diagint("capture", "-c", LV.uri, "-d", d, "p-ret")
            self.assertEqual(r.returncode, 0, r.stderr)
            time.sleep(1.1)
        self.fake(d, "other-20200101-000000.gcore", 1 << 20)
        r = diagint("dumps", "-d", d, "list", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = json.loads(r.stdout)
        self.assertEqual(len(rows), 3)
        self.assertEqual(rows[0]["name"], "other-20200101-000000.gcore", "oldest first")
        r = diagint("dumps", "-d", d, "list", "--domain", "p-ret", "--json")
        self.assertEqual([x["domain"] for x in json.loads(r.stdout)], ["p-ret", "p-ret"])
        r = diagint("dumps", "-d", d, "list", "--since", "2d", "--json")
        self.assertEqual(len(json.loads(r.stdout)), 2)
        r = diagint("dumps", "-d", d, "list")
        self.assertIn("p-ret", r.stdout)
        self.assertIn("TIME", r.stdout)
        name = rows[1]["name"]
        r = diagint("dumps", "-d", d, "info", name, "--json")
        info = json.loads(r.stdout)
        self.assertEqual(info["record"]["dump"]["name"], name)
        r = diagint("dumps", "-d", d, "info", name)
        self.assertIn("SHA256: " + info["record"]["dump"]["sha256"], r.stdout)
        r = diagint("dumps", "-d", d, "remove", name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(d, name)))
        self.assertFalse(os.path.exists(os.path.join(d, name + ".json")))
        r = diagint("dumps", "-d", d, "info", name)
        self.assertEqual(r.returncode, 4)
        r = diagint("dumps", "-d", d, "remove", "../etc/passwd")
        self.assertEqual(r.returncode, 2)
        c = conf("[capture]\nMaxUse = 1M\nKeepFree = 0\n")
        r = diagint("dumps", "-d", d, "--config", c, "gc", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["evicted"], 2, "oldest first until MaxUse holds")
        self.assertEqual([n for n in os.listdir(d) if n.endswith(".gcore")], [])


class RemoteURI(unittest.TestCase):
    # qemu+tcp://127.0.0.1: libvirt sees a remote host, so libvirt writes the file itself, on "its" host.
    def test_remote_uri_writes_through_libvirt(self):
        d = newdir("remote")
        r = diagint("capture", "-c", LV.tcp_uri, "-d", d, "--json", "p-run")
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = json.loads(r.stdout)
        self.assertEqual(rec["uri"], LV.tcp_uri)
        self.assertFalse(rec["dump"]["sparse"], "libvirt wrote it: no holes")
        self.assertIn("hash", rec["steps_ms"], "read back to hash it")
        self.assertEqual(diaglab.elf_facts(rec["dump"]["path"])["type"], "ET_CORE")
        import hashlib
        self.assertEqual(hashlib.sha256(open(rec["dump"]["path"], "rb").read()).hexdigest(), rec["dump"]["sha256"])

    def test_remote_uri_dump_the_host_cannot_see(self):
        # Mounted after libvirtd started: the daemon writes underneath, we would see only our placeholder.
        d = os.path.join(WORK, "remote-late")
        os.makedirs(d)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300m", "tmpfs", d], check=True)
        try:
            r = diagint("capture", "-c", LV.tcp_uri, "-d", d, "p-run")
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("somewhere this host does not see", r.stderr)
            self.assertEqual(os.listdir(d), [], "no empty file under a final name")
        finally:
            subprocess.run(["umount", d], check=True)
        for n in os.listdir(d):
            os.unlink(os.path.join(d, n))
        self.assertTrue(running("p-run"))

    def test_remote_uri_refuses_a_command(self):
        r = diagint("capture", "-c", LV.tcp_uri, "-D", "|cat >/dev/null", "p-run")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("needs libvirt on this host", r.stderr)


class Configuration(unittest.TestCase):
    def test_bad_configuration(self):
        cases = [
            ("[capture]\nFrobnicate = 1\n", ":2: unknown key 'Frobnicate'"),
            ("[capture]\nMaxUse = lots\n", ":2: MaxUse 'lots'"),
            ("[nonsense]\nFormat = elf\n", ":2: unknown section [nonsense]"),
            ("[capture]\nDestination = dumps\n", ":2: Destination 'dumps' must be an absolute"),
            ("[capture]\nthis line is wrong\n", ":2: not 'Key = value'"),
        ]
        for text, want in cases:
            c = conf(text)
            r = diagint("capture", "-c", LV.uri, "--config", c, "p-run")
            self.assertEqual(r.returncode, 2, text)
            self.assertIn(c + want, r.stderr)

    def test_missing_config_and_relative_dest(self):
        r = diagint("capture", "-c", LV.uri, "--config", "/nonexistent/diagint.conf", "p-run")
        self.assertEqual(r.returncode, 2)
        self.assertIn("does not exist", r.stderr)
        r = diagint("capture", "-c", LV.uri, "--dest", "relative/dir", "p-run")
        self.assertEqual(r.returncode, 2)
        self.assertIn("relative", r.stderr)

    def test_per_domain_destination(self):
        a, b = newdir("dest-a"), newdir("dest-b")
        c = conf("[capture]\nDestination = %s\n[domain:p-ret]\nDestination = %s\n" % (a, b))
        r = diagint("capture", "-c", LV.uri, "--config", c, "p-ret")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.path.dirname(r.stdout.strip()), b)
        r = diagint("capture", "-c", LV.uri, "--config", c, "p-run")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.path.dirname(r.stdout.strip()), a)


if __name__ == "__main__":
    unittest.main(verbosity=2)
