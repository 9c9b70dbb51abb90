"""The libvirt hook against what libvirt (and so a domain's definition) hands it: memory in every unit libvirt
knows, names far longer than any buffer. Runs the built hook directly, as libvirt does (arguments, XML on stdin)."""
import os
import socket
import subprocess
import tempfile
import unittest

BUILD = os.environ.get("DG_BUILD_DIR", "build")
HOOK = os.path.join(BUILD, "libvirt-hook", "diagint-hook")


def domain(name, memory, unit):
    return ("<domain type='kvm'><name>%s</name><uuid>3f2a6c1e-5b7d-4e21-9a0b-3c8d2e1f0a9b</uuid>"
            "<memory unit='%s'>%s</memory></domain>" % (name, unit, memory))


class HookInput(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="dg-hook-")
        self.dumps = os.path.join(self.dir, "dumps")
        os.makedirs(self.dumps)
        self.conf = os.path.join(self.dir, "diagint.conf")
        with open(self.conf, "w") as f:
            f.write("[capture]\nDestination = %s\n" % self.dumps)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DIAGINT_")}
        self.env["DIAGINT_CONFIG"] = self.conf

    def hook(self, name, op, sub, xml):
        return subprocess.run([HOOK, name, op, sub, "-"], input=xml, capture_output=True, text=True, timeout=30,
                              env=self.env)

    def test_memory_units(self):
        # 1 TiB cannot fit here: the warning names the guest's size in MiB, read in the unit given.
        for memory, unit, mib in (("1", "TiB", 1 << 20), ("1", "T", 1 << 20), ("2048", "GiB", 2 << 20),
                                  ("1100000000000", "b", 1100000000000 >> 20), ("1100", "GB", 1100000000000 >> 20)):
            r = self.hook("big", "prepare", "begin", domain("big", memory, unit))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("%d MiB guest" % mib, r.stderr, (memory, unit, r.stderr))
        r = self.hook("odd", "prepare", "begin", domain("odd", "1", "furlongs"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("MiB guest", r.stderr, "an unknown unit: no room check rather than a wrong one")

    def test_long_name_is_cut_not_overread(self):
        path = os.path.join(self.dir, "watch.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        s.settimeout(5)
        self.env["DIAGINT_WATCH_SOCKET"] = path
        name = "n" * 20000
        r = self.hook(name, "started", "begin", domain(name, "128", "MiB"))
        self.assertEqual(r.returncode, 0, r.stderr)
        msg = s.recv(65536)
        s.close()
        self.assertTrue(msg.startswith(b"started 3f2a6c1e-5b7d-4e21-9a0b-3c8d2e1f0a9b nnnn"), msg[:80])
        self.assertLess(len(msg), 512, "cut to the buffer")
        self.assertEqual(set(msg[46:]), {ord("n")}, "nothing from beyond the name")


if __name__ == "__main__":
    unittest.main(verbosity=2)
