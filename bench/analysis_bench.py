#!/usr/bin/python3
"""Analysis benchmark (issue 14): the kernel log, panic line and vCPU symbols diagint writes beside every capture,
against `makedumpfile --dump-dmesg` on the same dump (the standard way to get a log without a vmlinux; it gives
the log only). Guests: idle 256 MiB and 1 GiB, 2 vCPUs, each panicked by `diagint inject` once, then captured
RUNS more times (a crashed guest's memory does not change: same dump, fresh files).

Columns: the `analyze` step from the record (notes, libkdumpfile open, printk ring, kallsyms, NAME.gcore.dmesg
written; it runs right after the dump is committed, before the sidecar), the dump step for scale, and
makedumpfile's wall time on the same file (page cache warm for both: the dump was just written).

Usage: bench/analysis_bench.py BUILD_DIR [OUT.md]   (root; boots TCG guests)"""
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


def main():
    build = os.path.abspath(sys.argv[1])
    out_md = sys.argv[2] if len(sys.argv) > 2 else None
    diagint = os.path.join(build, "cli", "diagint")
    work = tempfile.mkdtemp(prefix="dg-abench-", dir="/var/tmp")
    lv = diaglab.PrivateLibvirtd(os.path.join(work, "lv"))
    guest = diaglab.build_guest(os.path.join(build, "bench-guest-cache"))
    sizes = [256, 1024]
    lines = ["| guest | diagint analysis (median) | the dump itself | makedumpfile --dump-dmesg | log lines "
             "equal |", "|---|---|---|---|---|"]
    try:
        lv.start()
        for mib in sizes:
            name = "abench-%d" % mib
            con = os.path.join(work, name + ".console")
            lv.create(diaglab.domain_xml(name, guest, con, vcpus=2, memory_mib=mib))
            if not diaglab.wait_for_console(con, "diagint-heartbeat 3", 240):
                raise SystemExit("guest did not boot")
        for mib in sizes:
            name = "abench-%d" % mib
            ours, after, mdf, equal = [], [], [], True
            for i in range(RUNS + 1):
                d = os.path.join(work, "d-%d-%d" % (mib, i))
                os.makedirs(d)
                verb = "inject" if i == 0 else "capture"
                r = subprocess.run([diagint, verb, "-q", "--json", "-c", lv.uri, "-d", d, name],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    raise SystemExit(r.stderr)
                rec = json.loads(r.stdout)
                steps = rec["steps_ms"]
                path = rec["dump"]["path"]
                ours.append(steps["analyze"])
                after.append(steps["dump"])
                out = os.path.join(d, "mdf.txt")
                t = time.monotonic()
                m = subprocess.run(["makedumpfile", "--dump-dmesg", path, out], capture_output=True)
                mdf.append((time.monotonic() - t) * 1e3)
                if m.returncode != 0:
                    raise SystemExit("makedumpfile failed: %s" % m.stdout.decode())
                equal &= open(out).read() == open(path + ".dmesg").read()
                shutil.rmtree(d)
            lines.append("| %d MiB, 2 vCPUs | %.1f ms | %.1f ms | %.1f ms | %s |" % (
                mib, statistics.median(ours), statistics.median(after), statistics.median(mdf),
                "yes" if equal else "NO"))
    finally:
        lv.stop()
        shutil.rmtree(work, ignore_errors=True)
    text = "\n".join(lines)
    print(text)
    if out_md:
        with open(out_md, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
