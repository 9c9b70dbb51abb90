#!/usr/bin/python3
"""Capture benchmark: `virsh dump --memory-only` vs `diagint capture` (sparse ELF) vs `diagint capture -f kdump-zlib`,
same guests, same disk, one run. Wall time, bytes on disk, apparent size, peak RSS of the command.

Usage: bench/capture_bench.py BUILD_DIR [OUT.md]   (root; boots idle 256 MiB and 1 GiB guests under TCG;
needs GNU time: apt-get install time)"""
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


def run(cmd):
    # GNU time forks from a small process: ru_maxrss of a child forked from this (large) Python process would
    # report Python's size, which Linux carries across exec.
    rss_file = os.path.join(tempfile.gettempdir(), "dg-bench-rss")
    t = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file] + cmd, capture_output=True)
    wall = time.monotonic() - t
    if p.returncode != 0:
        raise SystemExit("failed: %s\n%s" % (" ".join(cmd), p.stderr.decode()))
    rss = int(open(rss_file).read().split()[-1]) * 1024
    return wall, rss, p.stdout.decode().strip()


def disk(path):
    st = os.stat(path)
    return st.st_blocks * 512, st.st_size


def main():
    build = os.path.abspath(sys.argv[1])
    out_md = sys.argv[2] if len(sys.argv) > 2 else None
    diagint = os.path.join(build, "cli", "diagint")
    work = tempfile.mkdtemp(prefix="dg-bench-", dir="/var/tmp")
    lv = diaglab.PrivateLibvirtd(os.path.join(work, "lv"))
    guest = diaglab.build_guest(os.path.join(build, "bench-guest-cache"))
    rows = []
    try:
        lv.start()
        sizes = [256, 1024]
        for mib in sizes:
            name = "bench-%d" % mib
            con = os.path.join(work, name + ".console")
            lv.create(diaglab.domain_xml(name, guest, con, vcpus=2, memory_mib=mib))
            if not diaglab.wait_for_console(con, "diagint-heartbeat 3", 180):
                raise SystemExit("guest did not boot")
        for mib in sizes:
            name = "bench-%d" % mib
            res = {"virsh dump --memory-only": [], "diagint capture (sparse elf)": [],
                   "diagint capture -f kdump-zlib": []}
            for i in range(RUNS):
                d = os.path.join(work, "d-%d-%d" % (mib, i))
                os.makedirs(d)
                # Same disk, same guest; the order rotates so that no tool always gets the warm cache.
                order = list(res)[i % 3:] + list(res)[:i % 3]
                for tool in order:
                    if tool.startswith("virsh"):
                        path = os.path.join(d, "virsh.core")
                        wall, rss, _ = run(["virsh", "-q", "-c", lv.uri, "dump", "--memory-only", "--format",
                                            "elf", name, path])
                    elif "kdump" in tool:
                        wall, rss, path = run([diagint, "capture", "-q", "-c", lv.uri, "-d", d, "-f",
                                               "kdump-zlib", name])
                    else:
                        wall, rss, path = run([diagint, "capture", "-q", "-c", lv.uri, "-d", d, name])
                    alloc, size = disk(path)
                    res[tool].append((wall, alloc, size, rss))
                shutil.rmtree(d)
            base = statistics.median(x[0] for x in res["virsh dump --memory-only"])
            base_alloc = statistics.median(x[1] for x in res["virsh dump --memory-only"])
            for tool, xs in res.items():
                wall = statistics.median(x[0] for x in xs)
                alloc = statistics.median(x[1] for x in xs)
                rows.append((mib, tool, wall, wall / base, alloc, alloc / base_alloc,
                             statistics.median(x[2] for x in xs), max(x[3] for x in xs)))
    finally:
        lv.stop()
        shutil.rmtree(work, ignore_errors=True)
    lines = ["| guest RAM | tool | wall (median of %d) | vs virsh | on disk | vs virsh | apparent size | "
             "peak RSS of the command |" % RUNS, "|---|---|---|---|---|---|---|---|"]
    for mib, tool, wall, wr, alloc, ar, size, rss in rows:
        lines.append("| %d MiB | %s | %.3f s | %.2fx | %.1f MiB | %.3fx | %.1f MiB | %.1f MiB |" % (
            mib, tool, wall, wr, alloc / 2**20, ar, size / 2**20, rss / 2**20))
    table = "\n".join(lines)
    print(table)
    if out_md:
        with open(out_md, "w") as f:
            f.write("# Capture benchmark\n\nMeasured by `bench/capture_bench.py` on %s (2 cores, TCG guests, idle, "
                    "2 vCPUs), one run, the three tools interleaved on the same disk (%s).\n\n%s\n" % (
                        time.strftime("%Y-%m-%d"), "/var/tmp", table))


if __name__ == "__main__":
    main()
