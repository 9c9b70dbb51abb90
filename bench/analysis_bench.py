#!/usr/bin/python3
"""Analysis and shrink benchmark (issue 14), side by side in one run, same guests, same disk:

- the analysis diagint writes beside every capture (kernel log, panic line, vCPU symbols: the record's `analyze`
  step, run right after the dump is committed) against `makedumpfile --dump-dmesg` on the same dump (the
  standard way to get a log without a vmlinux; it gives the log only), both with the page cache warm;
- `diagint dumps shrink` (makedumpfile -d 31, zlib and lzo) against `virsh dump --memory-only --format
  kdump-zlib` (QEMU's own compressed dump, unfiltered): time and bytes on disk.

Guests, 2 vCPUs each: idle 256 MiB, idle 1 GiB, and busy 1 GiB (before the NMI it fills a tmpfs with 300 MiB from
/dev/urandom and 300 MiB of copies of its own binaries). Each is panicked by `diagint inject`, then captured RUNS
more times (a crashed guest's memory does not change).

Usage: bench/analysis_bench.py BUILD_DIR [OUT.md]   (root; boots TCG guests; a few minutes)"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lab"))
import diaglab  # noqa: E402

RUNS = 3
FILL = r"""for arg in $(cat /proc/cmdline); do [ "$arg" = diagint.fill=1 ] && fill=1; done
if [ "${fill:-}" = 1 ]; then
  mkdir -p /fill && mount -t tmpfs -o size=700m fill /fill
  dd if=/dev/urandom of=/fill/random bs=1M count=300 2>/dev/null
  i=0; while [ $i -lt 300 ]; do cat /bin/busybox /lib/modules/*.ko; i=$((i+1)); done | head -c 314572800 > /fill/binaries
  echo "diagint-guest: filled"
fi
"""


def busy_guest(cache, plain):
    """The lab guest's initramfs with FILL in its /init (the kernel is the lab's)."""
    out = os.path.join(cache, "busy-guest")
    initrd = os.path.join(out, "initramfs.cpio.gz")
    if not os.path.exists(initrd):
        os.makedirs(out, exist_ok=True)
        root = tempfile.mkdtemp(prefix="initramfs-", dir=out)
        try:
            os.makedirs(os.path.join(root, "bin"))
            os.makedirs(os.path.join(root, "lib/modules"))
            shutil.copy2("/bin/busybox", os.path.join(root, "bin/busybox"))
            diaglab._copy_modules(root, plain["kernel_version"], [m for m, _why in diaglab.MODULES])
            with open(os.path.join(root, "init"), "w") as f:
                f.write(diaglab.INIT_SCRIPT.replace('echo "diagint-guest: ready', FILL + 'echo "diagint-guest: ready',
                                                    1))
            os.chmod(os.path.join(root, "init"), 0o755)
            diaglab._pack_initramfs(root, initrd)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return dict(plain, initrd=initrd)


def timed(cmd):
    t = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("failed: %s\n%s%s" % (" ".join(cmd), p.stdout, p.stderr))
    return (time.monotonic() - t), p.stdout


def mib(n):
    return "%.1f MiB" % (n / 1048576)


def main():
    build = os.path.abspath(sys.argv[1])
    out_md = sys.argv[2] if len(sys.argv) > 2 else None
    diagint = os.path.join(build, "cli", "diagint")
    work = tempfile.mkdtemp(prefix="dg-abench-", dir="/var/tmp")
    lv = diaglab.PrivateLibvirtd(os.path.join(work, "lv"))
    cache = os.path.join(build, "bench-guest-cache")
    guest = diaglab.build_guest(cache)
    busy = busy_guest(cache, guest)
    guests = [("idle-256", 256, guest, ""), ("idle-1024", 1024, guest, ""), ("busy-1024", 1024, busy, "filled")]
    t1 = ["| guest | diagint analysis | makedumpfile --dump-dmesg | logs equal | the dump itself |",
          "|---|---|---|---|---|"]
    t2 = ["| guest | ELF on disk (sparse) | dumps shrink, zlib | dumps shrink, lzo | virsh dump --format kdump-zlib |",
          "|---|---|---|---|---|"]
    try:
        lv.start()
        for name, size, g, _ in guests:
            xml = diaglab.domain_xml("ab-" + name, g, os.path.join(work, name + ".console"), vcpus=2,
                                     memory_mib=size)
            if g is busy:
                xml = xml.replace("loglevel=4", "loglevel=4 diagint.fill=1")
            lv.create(xml)
        for name, size, g, wait in guests:
            con = os.path.join(work, name + ".console")
            if not diaglab.wait_for_console(con, wait or "diagint-heartbeat 3", 900):
                raise SystemExit("guest %s did not get ready" % name)
        for name, size, g, _ in guests:
            dom = "ab-" + name
            ours, mdf, dump, equal, elf, zlib, lzo, virsh = [], [], [], True, [], [], [], []
            for i in range(RUNS + 1):
                d = os.path.join(work, "d-%s-%d" % (name, i))
                os.makedirs(d)
                _, text = timed([diagint, "inject" if i == 0 else "capture", "-q", "--json", "-c", lv.uri, "-d", d,
                                 dom])
                rec = json.loads(text)
                path = rec["dump"]["path"]
                ours.append(rec["steps_ms"]["analyze"])
                dump.append(rec["steps_ms"]["dump"])
                elf.append(rec["dump"]["allocated"])
                secs, _ = timed(["makedumpfile", "--dump-dmesg", path, os.path.join(d, "mdf.txt")])
                mdf.append(secs * 1e3)
                equal &= open(os.path.join(d, "mdf.txt")).read() == open(path + ".dmesg").read()
                if i == 1:
                    for comp, acc in (("zlib", zlib), ("lzo", lzo)):
                        dd = os.path.join(work, "s-%s-%s" % (name, comp))
                        os.makedirs(dd)
                        for ext in ("", ".json", ".dmesg"):
                            shutil.copy(path + ext, dd)
                        secs, newpath = timed([diagint, "dumps", "shrink", "-d", dd, "--compress", comp,
                                               os.path.basename(path)])
                        acc.append((secs, os.stat(newpath.strip()).st_blocks * 512))
                        shutil.rmtree(dd)
                    vp = os.path.join(d, "virsh.kdump")
                    secs, _ = timed(["virsh", "-q", "-c", lv.uri, "dump", "--memory-only", "--format", "kdump-zlib",
                                     dom, vp])
                    virsh.append((secs, os.stat(vp).st_blocks * 512))
                shutil.rmtree(d)
            t1.append("| %s, 2 vCPUs | %.1f ms | %.1f ms | %s | %.0f ms |" % (
                name, statistics.median(ours), statistics.median(mdf), "yes" if equal else "NO",
                statistics.median(dump)))
            t2.append("| %s | %s | %.2f s, %s | %.2f s, %s | %.2f s, %s |" % (
                name, mib(statistics.median(elf)), zlib[0][0], mib(zlib[0][1]), lzo[0][0], mib(lzo[0][1]),
                virsh[0][0], mib(virsh[0][1])))
            print("\n".join(t1[-1:] + t2[-1:]), flush=True)
    finally:
        lv.stop()
        shutil.rmtree(work, ignore_errors=True)
    text = "\n".join(t1) + "\n\n" + "\n".join(t2)
    print(text)
    if out_md:
        with open(out_md, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
