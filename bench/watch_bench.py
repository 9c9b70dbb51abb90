#!/usr/bin/python3
"""Cost of `diagint watch`: CPU and RSS of the watcher watching N domains under a private libvirtd.

N=1 and N=10: real guests running (TCG, 64 MiB), heartbeat probe every second on each.
N=100: cheap domains, started paused (QEMU up, no vCPU runs, 32 MiB), heartbeat probe every second on each
(the probe opens and stats each serial log per interval: the same work as for a live guest that prints nothing).
Usage: bench/watch_bench.py BUILD_DIR [SECONDS]   (root; prints one line per N)"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lab"))
import diaglab  # noqa: E402

build = os.path.abspath(sys.argv[1])
secs = float(sys.argv[2]) if len(sys.argv) > 2 else 30
os.environ.setdefault("DG_BUILD_DIR", build)
os.environ.setdefault("DG_GUEST_DIR", os.path.join(build, "tests"))
HZ = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run(n, paused):
    work = tempfile.mkdtemp(prefix="dg-wbench-")
    lv = diaglab.PrivateLibvirtd(os.path.join(work, "libvirt")).start()
    guest = diaglab.built_guest()
    try:
        for i in range(n):
            xml = diaglab.domain_xml("b-%03d" % i, guest, os.path.join(work, "c-%03d.log" % i),
                                     memory_mib=32 if paused else 64)
            p = os.path.join(work, "d%d.xml" % i)
            with open(p, "w") as f:
                f.write(xml)
            lv.virsh("create", p, *(["--paused"] if paused else []))
        conf = os.path.join(work, "diagint.conf")
        with open(conf, "w") as f:
            f.write("[capture]\nDestination = %s\n[watch]\nStateFile = %s/state\nDryRun = yes\n"
                    "Heartbeat = diagint-heartbeat\nHeartbeatInterval = 1\n" % (work, work))
        log = open(os.path.join(work, "watch.log"), "w")
        env = dict(os.environ, DIAGINT_AUDIT_LOG=os.path.join(work, "audit.jsonl"))
        proc = subprocess.Popen([os.path.join(build, "cli", "diagint"), "watch", "--config", conf, "--connect",
                                 lv.uri], stderr=log, stdout=log, env=env)
        time.sleep(5)  # connect, discover, first probes
        c0, t0 = cpu_s(proc.pid), time.time()
        time.sleep(secs)
        c1, t1 = cpu_s(proc.pid), time.time()
        rss = rss_kib(proc.pid)
        proc.terminate()
        proc.wait()
        print("N=%d (%s): watcher CPU %.3f%% of one core over %.0f s, RSS %d KiB" %
              (n, "paused cheap domains" if paused else "running guests", 100 * (c1 - c0) / (t1 - t0), t1 - t0,
               rss), flush=True)
    finally:
        lv.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run(1, False)
    run(10, False)
    run(100, True)
