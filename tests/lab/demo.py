#!/usr/bin/python3
"""The README's demo: a real guest under a private libvirtd, `diagint inject` on it, and what the dump holds."""
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import diaglab  # noqa: E402


def say(msg):
    print("demo: " + msg, flush=True)


def panic_line(path):
    """The kernel's own panic line, found in the guest's memory (printk buffer). The format string in the kernel's
    read-only data matches too: skip anything with a printf conversion in it."""
    pat = re.compile(rb"Kernel panic - not syncing: [\x20-\x7e]{0,120}")
    with open(path, "rb") as f:
        tail = b""
        while True:
            data = f.read(1 << 24)
            if not data:
                return None
            for m in pat.finditer(tail + data):
                if b"%" not in m.group(0):
                    return m.group(0).decode("ascii", "replace")
            tail = data[-200:]


def main():
    build, out = sys.argv[1], sys.argv[2]
    diagint = os.path.join(build, "cli", "diagint")
    work = os.path.join(out, "lab")
    dumps = os.path.join(out, "dumps")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(dumps)
    say("building a tiny guest from this machine's kernel and busybox")
    guest = diaglab.build_guest(os.path.join(build, "demo-guest-cache"))
    t = time.time()
    lv = diaglab.PrivateLibvirtd(work)
    lv.start()
    t_lv = time.time() - t
    say("private libvirtd up in %.2f s (%s)" % (t_lv, lv.uri))
    try:
        console = os.path.join(out, "console.log")
        t = time.time()
        lv.create(diaglab.domain_xml("demo-guest", guest, console, vcpus=2, memory_mib=256))
        if not diaglab.wait_for_console(console, "diagint-heartbeat 1", 120):
            raise SystemExit("demo: the guest did not boot; see " + console)
        t_boot = time.time() - t
        say("guest 'demo-guest' (2 vCPUs, 256 MiB, TCG) booted in %.2f s; it is alive: %s" % (
            t_boot, open(console).read().strip().splitlines()[-1]))
        cmd = [diagint, "inject", "--connect", lv.uri, "--dump-dir", dumps, "--json", "demo-guest"]
        say("$ " + " ".join(cmd))
        r = subprocess.run(cmd, capture_output=True, text=True)
        sys.stderr.write(r.stderr)
        if r.returncode != 0:
            raise SystemExit("demo: diagint inject failed with status %d" % r.returncode)
        rec = json.loads(r.stdout)
        path = rec["dump"]["path"]
        facts = diaglab.elf_facts(path)
        st = os.stat(path)
        ram = rec["guest"]["memory_bytes"]
        steps = rec["steps_ms"]
        say("guest state now: " + lv.state("demo-guest"))
        print()
        print("  dump         %s" % path)
        print("  size         %d bytes (%.4f x the guest's %d MiB RAM), %d bytes allocated" % (
            st.st_size, st.st_size / ram, ram >> 20, st.st_blocks * 512))
        print("  format       ELF64 %s, %d PT_LOAD segments" % (facts["type"], len(facts["loads"])))
        print("  vCPUs        %d (NT_PRSTATUS notes in the dump)" % facts["prstatus"])
        print("  panic        %s   (raw printk-buffer bytes in the dump; stale bytes may follow the record)" % (panic_line(path) or "(not found)"))
        print("  sidecar      %s.json (sha256 %s...)" % (path, rec["dump"]["sha256"][:16]))
        print("  timings      libvirt start %.2f s, boot %.2f s, NMI %.1f ms, NMI->panic event %.1f ms, "
              "dump %.0f ms" % (t_lv, t_boot, steps["nmi"], steps["wait_panic"], steps["dump"]))
        print()
    finally:
        lv.stop()
    say("done; libvirtd and the guest are stopped, the dump stays in " + dumps)


if __name__ == "__main__":
    main()
