#!/usr/bin/python3
"""`diagint watch`: what its probes cost, against the shell loop an operator would otherwise run, and how fast each
probe kind turns a hang into an NMI. Private libvirtd, real QEMU guests (TCG), one run.

Cost, per probe kind, every domain probed every second, 30 s windows (CPU from /proc, 10 ms ticks; RSS at the end):
  - N=1 and N=10 running guests (128 MiB; the agent kind boots guests with qemu-ga inside);
  - N=100 cheap domains: started paused (QEMU up, no vCPU runs, 32 MiB). Every probe still does its whole work
    per look (a log read, a libvirt stats call, a guest-ping that waits its timeout).
  The peer, on the same domains right after: a shell loop doing the same look once a second with the tools at
  hand: `grep -c` per serial log (heartbeat), one bulk `virsh domstats --vcpu` (cputime), one
  `virsh qemu-agent-command --timeout 1 ... guest-ping` per domain (agent). Both sides count libvirtd's CPU too.
Latency: ROUNDS rounds of three guests hanging at once, one per probe kind (heartbeat stops; vCPUs halt; the
  guest halts under the agent probe), interval 1 s, 3 misses: hang onset (its console line) -> the watcher's NMI.

Usage: bench/watch_bench.py BUILD_DIR [SECONDS] [ROUNDS] [KINDS] [INTERVAL]   (root; prints Markdown tables)
  ROUNDS 0 skips the latency part; KINDS: a comma-separated subset of heartbeat,cputime,agent for the cost part
  ("" skips it);
  INTERVAL: seconds between two looks in the cost part (default 1; the peer loop sleeps as long)."""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lab"))
import diaglab  # noqa: E402

build = os.path.abspath(sys.argv[1])
secs = float(sys.argv[2]) if len(sys.argv) > 2 else 30
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
kinds = [k for k in sys.argv[4].split(",") if k] if len(sys.argv) > 4 else ["heartbeat", "cputime", "agent"]
interval = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0
os.environ.setdefault("DG_BUILD_DIR", build)
os.environ.setdefault("DG_GUEST_DIR", os.path.join(build, "tests"))
HZ = os.sysconf("SC_CLK_TCK")
NS = "https://diagint.dev/xmlns/watch/1"


def cpu_s(pid, children=False):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / HZ


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def window(pid, lvpid, children=False):
    """CPU of pid (and its reaped children) and of libvirtd over one window, as % of one core."""
    c0, l0, t0 = cpu_s(pid, children), cpu_s(lvpid), time.time()
    time.sleep(secs)
    c1, l1, t1 = cpu_s(pid, children), cpu_s(lvpid), time.time()
    return 100 * (c1 - c0) / (t1 - t0), 100 * (l1 - l0) / (t1 - t0)


PEER = {
    "heartbeat": 'while :; do for f in %(logs)s; do grep -c diagint-heartbeat "$f" >/dev/null; done; sleep 1; done',
    "cputime": "while :; do virsh -q -c '%(uri)s' domstats --vcpu --list-active >/dev/null; sleep 1; done",
    "agent": "while :; do for d in %(doms)s; do virsh -q -c '%(uri)s' qemu-agent-command --timeout 1 \"$d\" "
             "'{\"execute\":\"guest-ping\"}' >/dev/null 2>&1; done; sleep 1; done",
}


def cost(kind, n, paused, aguest):
    work = tempfile.mkdtemp(prefix="dg-wbench-")
    lv = diaglab.PrivateLibvirtd(os.path.join(work, "libvirt")).start()
    guest = aguest if kind == "agent" else diaglab.built_guest()
    names, logs = [], []
    try:
        for i in range(n):
            name = "b-%03d" % i
            names.append(name)
            logs.append(os.path.join(work, "c-%03d.log" % i))
            xml = diaglab.domain_xml(name, guest, logs[-1], memory_mib=32 if paused else 128,
                                     agent=kind == "agent")
            p = os.path.join(work, "d%d.xml" % i)
            with open(p, "w") as f:
                f.write(xml)
            lv.virsh("create", p, *(["--paused"] if paused else []))
        if not paused:  # every guest up (and its agent answering) before anything is measured
            for p in logs:
                diaglab.wait_for_console(p, "diagint-heartbeat 3", 120)
        conf = os.path.join(work, "diagint.conf")
        with open(conf, "w") as f:
            f.write("[capture]\nDestination = %s\n[watch]\nStateFile = %s/state\nDryRun = yes\nSocket =\n"
                    "Probes = %s\nHeartbeat = diagint-heartbeat\nProbeInterval = %g\nAgentTimeout = 1\n"
                    % (work, work, kind, interval))
        log = open(os.path.join(work, "watch.log"), "w")
        env = dict(os.environ, DIAGINT_AUDIT_LOG=os.path.join(work, "audit.jsonl"))
        proc = subprocess.Popen([os.path.join(build, "cli", "diagint"), "watch", "--config", conf, "--connect",
                                 lv.uri], stderr=log, stdout=log, env=env)
        time.sleep(5)  # connect, discover, readiness checks, first probes
        w_cpu, w_lv = window(proc.pid, lv.proc.pid)
        rss = rss_kib(proc.pid)
        proc.terminate()
        proc.wait()
        time.sleep(2)
        peer = subprocess.Popen(["bash", "-c", PEER[kind].replace("sleep 1", "sleep %g" % interval) % {
                                    "logs": " ".join(logs), "uri": lv.uri, "doms": " ".join(names)}],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3)
        p_cpu, p_lv = window(peer.pid, lv.proc.pid, children=True)
        peer.kill()
        peer.wait()
        return {"kind": kind, "n": n, "paused": paused, "w_cpu": w_cpu, "w_lv": w_lv, "rss": rss,
                "p_cpu": p_cpu, "p_lv": p_lv}
    finally:
        lv.stop()
        shutil.rmtree(work, ignore_errors=True)


def latency(aguest):
    """Per round: three guests hang at once under one watcher; onset = the console line, NMI = the watcher's."""
    work = tempfile.mkdtemp(prefix="dg-wlat-")
    lv = diaglab.PrivateLibvirtd(os.path.join(work, "libvirt")).start()
    guest = diaglab.built_guest()
    out = {"heartbeat": [], "cputime": [], "agent": []}
    try:
        os.makedirs(os.path.join(work, "dumps"))
        conf = os.path.join(work, "diagint.conf")
        with open(conf, "w") as f:
            f.write("[capture]\nDestination = %s/dumps\n[watch]\nStateFile = %s/state\nSocket =\nCooldown = 0\n"
                    "MaxActions = 0\nMaxCaptures = 3\nStormPercent = 100\nHeartbeat = diagint-heartbeat\n"
                    "ProbeInterval = 1\nProbeMisses = 3\nAgentTimeout = 1\n" % (work, work))
        log_path = os.path.join(work, "watch.log")
        log = open(log_path, "w")
        env = dict(os.environ, DIAGINT_AUDIT_LOG=os.path.join(work, "audit.jsonl"))
        proc = subprocess.Popen([os.path.join(build, "cli", "diagint"), "watch", "--config", conf, "--connect",
                                 lv.uri], stderr=log, stdout=log, env=env)
        for r in range(rounds):
            specs = [("hb-%d" % r, "heartbeat", guest, {"heartbeat_stop_after": 8}, "heartbeat stops"),
                     ("ct-%d" % r, "cputime", guest, {"halt_after": 8}, "diagint-guest: halting"),
                     ("ag-%d" % r, "agent", aguest, {"halt_after": 14, "agent": True}, "diagint-guest: halting")]
            onsets = {}

            def clock(name, console, text):
                deadline = time.time() + 120
                while time.time() < deadline:
                    try:
                        with open(console, errors="replace") as f:
                            if text in f.read():
                                onsets[name] = time.time()
                                return
                    except FileNotFoundError:
                        pass
                    time.sleep(0.05)

            threads = []
            for name, kind, g, kw, text in specs:
                if g is None:
                    continue
                console = os.path.join(work, "c-%s.log" % name)
                md = "<metadata><diagint:watch xmlns:diagint='%s' probes='%s'/></metadata>" % (NS, kind)
                xml = diaglab.domain_xml(name, g, console, memory_mib=128, metadata=md, **kw)
                lv.create(xml)
                t = threading.Thread(target=clock, args=(name, console, text), daemon=True)
                t.start()
                threads.append(t)
            for t in threads:
                t.join()
            deadline = time.time() + 60
            pending = [s for s in specs if s[2] is not None]
            while pending and time.time() < deadline:
                text = open(log_path, errors="replace").read()
                for s in list(pending):
                    m = re.search(r"^(\S+) diagint watch: %s: sending an NMI" % s[0], text, re.M)
                    if m and s[0] in onsets:
                        base, ms = m.group(1).split(".")
                        t_nmi = time.mktime(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + int(ms) / 1000.0
                        out[s[1]].append(t_nmi - onsets[s[0]])
                        pending.remove(s)
                time.sleep(0.2)
            for s in specs:
                lv.virsh("destroy", s[0], check=False)
            print("# round %d: %s" % (r + 1, {k: ["%.2f" % x for x in v] for k, v in out.items()}), flush=True)
        proc.terminate()
        proc.wait()
    finally:
        lv.stop()
        shutil.rmtree(work, ignore_errors=True)
    return out


def fmt_cost(r):
    return "| %s every %g s | %s | %.2f%% + libvirtd %.2f%% | %.1f MiB | %.2f%% + libvirtd %.2f%% | %s |" % (
        r["kind"], interval, "%d %s" % (r["n"], "paused cheap domains" if r["paused"] else "running guests"), r["w_cpu"],
        r["w_lv"], r["rss"] / 1024.0, r["p_cpu"], r["p_lv"],
        "%.1fx" % ((r["p_cpu"] + r["p_lv"]) / (r["w_cpu"] + r["w_lv"])) if r["w_cpu"] + r["w_lv"] > 0 else "n/a")


if __name__ == "__main__":
    why = diaglab.agent_available()
    aguest = None if why else diaglab.build_agent_guest(os.path.join(os.environ["DG_GUEST_DIR"], "cache"))
    if why:
        print("# agent probe not measured: %s" % why)
    lat = latency(aguest) if rounds else {}
    if lat:
        print("\n| probe | hang onset -> NMI, median (min-max) over %d rounds | goal: within one interval of the "
              "3 s debounce window |\n|---|---|---|" % rounds)
    for kind, v in lat.items():
        if v:
            print("| %s | %.2f s (%.2f-%.2f) | %s |" % (kind, statistics.median(v), min(v), max(v),
                                                         "met" if max(v) <= 4.0 else "NOT met (> 4 s)"))
    rows = []
    for kind in kinds:
        if kind == "agent" and why:
            continue
        for n, paused in ((1, False), (10, False), (100, True)):
            rows.append(cost(kind, n, paused, aguest))
            print("# " + fmt_cost(rows[-1]), flush=True)
    if not rows:
        sys.exit(0)
    print("\n| probe | domains | diagint watch CPU (of one core) | its RSS | shell loop + virsh/grep CPU | "
          "peer / diagint |\n|---|---|---|---|---|---|")
    for r in rows:
        print(fmt_cost(r))
