#!/usr/bin/python3
"""Fleet brakes: what etcd costs (issue 15). Against a real 3-member etcd on loopback (tests/lab/etcdlab.py):

  1. claim latency, median and 99th percentile: dg_fleet_claim (lease grant + one txn, both raft commits) against
     the 3-member cluster, side by side with the local state file (dg_brakes_request, which rewrites and fsyncs
     its file), in one run;
  2. `diagint send` to one loopback-cloud target with and without [fleet]: what a person's command pays;
  3. publishing the storm view for 10,000 targets: the first publish (every key), then each interval with one
     suspect changing (diffs only + a lease keepalive): monitor CPU, wall time, etcd revisions (writes).

Usage: bench/fleet_bench.py [BUILD_DIR] [--claims N]   (BUILD_DIR default ./build; bench/fleet_tool is built
with the rest). Needs etcd-server/etcd-client (scripts/deps fleet) and the cloud lab's Python modules (scripts/deps
cloud). Prints Markdown tables for docs/fleet.md.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lab"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "cloudlab"))
import etcdlab  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def cpu_of(cmd, env=None):
    """Run cmd; return (stdout, wall, user+sys CPU seconds) using wait4 for exact child rusage."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    if p.returncode:
        raise RuntimeError("%s: %s" % (cmd, err.decode()))
    return out.decode(), wall, ru.ru_utime + ru.ru_stime


def revision(cluster):
    st = json.loads(cluster.etcdctl("endpoint", "status", "-w", "json").stdout)
    return max(int(s["Status"]["header"]["revision"]) for s in st)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    build = os.path.abspath(args[0] if args else "build")
    n_claims = 500
    if "--claims" in sys.argv:
        n_claims = int(sys.argv[sys.argv.index("--claims") + 1])
    tool = os.path.join(build, "bench", "fleet_tool")
    diagint = os.path.join(build, "cli", "diagint")
    tmp = tempfile.mkdtemp(prefix="diagint-fleet-bench-", dir="/var/tmp")
    os.makedirs(os.path.join(tmp, "etcd"))
    cluster = etcdlab.Cluster(os.path.join(tmp, "etcd")).start()
    rows = []
    try:
        conf = cluster.config(os.path.join(tmp, "diagint.conf"))

        # 1. claims: fleet vs local state file, interleaved in one run.
        fleet, local = [], []
        for rnd in range(5):
            out = subprocess.run([tool, conf, "claim-bench", "bench-%d" % rnd, str(n_claims // 5)], check=True,
                                 capture_output=True, text=True).stdout
            fleet += [float(x) for x in out.split()]
            out = subprocess.run([tool, "local-bench", os.path.join(tmp, "state-%d" % rnd), str(n_claims // 5)],
                                 check=True, capture_output=True, text=True).stdout
            local += [float(x) for x in out.split()]
        rows.append(("claim, 3-member etcd (grant + txn)", len(fleet), statistics.median(fleet) * 1000,
                     pct(fleet, 99) * 1000))
        rows.append(("local state file (dg_brakes_request)", len(local), statistics.median(local) * 1000,
                     pct(local, 99) * 1000))

        # 1b. one automatic decision (dg_responder_decide: local brakes, then storm view + claim), with and
        #     without the fleet, interleaved.
        rfleet, rlocal = [], []
        for rnd in range(5):
            out = subprocess.run([tool, conf, "responder-bench", "resp-%d" % rnd, os.path.join(tmp, "rs-f%d" % rnd),
                                  str(n_claims // 5)], check=True, capture_output=True, text=True).stdout
            rfleet += [float(x) for x in out.split()]
            out = subprocess.run([tool, "responder-bench", os.path.join(tmp, "rs-l%d" % rnd), str(n_claims // 5)],
                                 check=True, capture_output=True, text=True).stdout
            rlocal += [float(x) for x in out.split()]
        rows.append(("responder decision, local brakes only", len(rlocal), statistics.median(rlocal) * 1000,
                     pct(rlocal, 99) * 1000))
        rows.append(("responder decision with the fleet (local GO + claim)", len(rfleet),
                     statistics.median(rfleet) * 1000, pct(rfleet, 99) * 1000))

        # 2. a person's `diagint send`, with and without [fleet].
        try:
            import cloudlab
            lab = cloudlab.Lab(tmp).start()
            home = tempfile.mkdtemp(dir=tmp)
            env = lab.env(home)
            env.update(AWS_ACCESS_KEY_ID=cloudlab.AWS_KEY, AWS_SECRET_ACCESS_KEY=cloudlab.AWS_SECRET,
                       AWS_SESSION_TOKEN=cloudlab.AWS_TOKEN)
            plain = os.path.join(tmp, "plain.conf")
            with open(plain, "w") as f:
                f.write("[capture]\nFormat = elf\n")
            times = {"without": [], "with": []}
            for i in range(30):
                for kind, c in (("without", plain), ("with", conf)):
                    t0 = time.monotonic()
                    subprocess.run([diagint, "send", "--config", c, "aws:us-east-1/i-0be%014d" % (i * 2 + (kind == "with"))],
                                   check=True, capture_output=True, env=env)
                    times[kind].append(time.monotonic() - t0)
            lab.stop()
            for kind in ("without", "with"):
                rows.append(("`diagint send` one target, %s [fleet]" % kind, len(times[kind]),
                             statistics.median(times[kind]) * 1000, pct(times[kind], 99) * 1000))
        except ImportError as e:
            print("skipping the send comparison: %s" % e, file=sys.stderr)

        # 3. publishing 10,000 targets.
        r0 = revision(cluster)
        _, wall1, cpu1 = cpu_of([tool, conf, "publish", "pub-a", "10000", "100", "30", "1"])
        r1 = revision(cluster)
        out, wall11, cpu11 = cpu_of([tool, conf, "publish", "pub-b", "10000", "100", "30", "11"])
        r2 = revision(cluster)
        per_round = [float(x) for x in out.split()]
        steady_cpu = (cpu11 - cpu1) / 10
        steady_revs = ((r2 - r1) - (r1 - r0)) / 10
        pub = {
            "initial_wall_ms": per_round[0] * 1000, "initial_cpu_ms": cpu1 * 1000, "initial_revisions": r1 - r0,
            "steady_wall_ms": statistics.median(per_round[1:]) * 1000, "steady_cpu_ms": steady_cpu * 1000,
            "steady_revisions": steady_revs,
        }
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print("| what | n | median ms | p99 ms |\n|---|---|---|---|")
    for name, n, med, p99 in rows:
        print("| %s | %d | %.2f | %.2f |" % (name, n, med, p99))
    print()
    print("| publishing 10,000 targets (100 suspect) | wall ms | monitor CPU ms | etcd revisions |\n|---|---|---|---|")
    print("| first publish (10,100 keys: every watched and suspect entry) | %.0f | %.0f | %d |" %
          (pub["initial_wall_ms"], pub["initial_cpu_ms"], pub["initial_revisions"]))
    print("| each interval after (one suspect moves: 2 ops + keepalive) | %.2f | %.2f | %.1f |" %
          (pub["steady_wall_ms"], pub["steady_cpu_ms"], pub["steady_revisions"]))
    print(json.dumps({"rows": rows, "publish": pub}), file=sys.stderr)


if __name__ == "__main__":
    main()
