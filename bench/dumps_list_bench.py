#!/usr/bin/python3
"""`diagint dumps list` on a directory of N dumps (sparse files with sidecars), against the peer a user would
otherwise run: jq over every sidecar. Usage: bench/dumps_list_bench.py BUILD_DIR [N]"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


def timed(cmd, **kw):
    t = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, **kw)
    if r.returncode != 0:
        raise SystemExit("%s failed: %s" % (cmd[0], r.stderr.decode()))
    return time.monotonic() - t, r.stdout


def main():
    diagint = os.path.join(os.path.abspath(sys.argv[1]), "cli", "diagint")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    d = tempfile.mkdtemp(prefix="dg-list-", dir="/var/tmp")
    try:
        base = time.mktime((2025, 1, 1, 0, 0, 0, 0, 0, -1))
        for i in range(n):
            name = "vm-%d-%s.gcore" % (i % 50, time.strftime("%Y%m%d-%H%M%S", time.localtime(base + 60 * i)))
            with open(os.path.join(d, name), "wb") as f:
                f.truncate(256 << 20)  # sparse: apparent size only
            with open(os.path.join(d, name + ".json"), "w") as f:
                json.dump({"record_version": 1, "domain": {"name": "vm-%d" % (i % 50)},
                           "nmi": {"panic_seen": i % 2 == 0}, "dump": {"name": name, "size": 256 << 20}}, f)
        best = {}
        for label, cmd, shell in (
                ("diagint dumps list --json", [diagint, "dumps", "-d", d, "list", "--json"], False),
                ("diagint dumps list --domain vm-7", [diagint, "dumps", "-d", d, "list", "--domain", "vm-7"], False),
                ("jq over every sidecar", "cat %s/*.json | jq -c '[.domain.name, .nmi.panic_seen, .dump.name]'"
                 " > /dev/null" % d, True)):
            runs = [timed(cmd, shell=shell)[0] for _ in range(3)]
            best[label] = min(runs)
        print("| %d dumps | best of 3 | vs jq |" % n)
        print("|---|---|---|")
        for label, t in best.items():
            print("| %s | %.3f s | %.2fx |" % (label, t, t / best["jq over every sidecar"]))
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
