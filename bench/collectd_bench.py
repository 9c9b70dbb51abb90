#!/usr/bin/python3
"""The collectd plugin's cost and speed, against a real collectd 5.12 (docs/collectd.md has the results).

1. Overhead: collectd's CPU (utime + stime from /proc) and RSS while N hosts (1,000 and 10,000) report one value
   each per Interval 10 through the unixsock plugin, with the threshold plugin watching them; once without
   diagint.so, once with it watching every host as a <Target>. The feed costs collectd the same in both runs,
   so the difference is the plugin.
2. Latency at Interval 1 (Timeout 2): a watched host stops reporting; time from its last value to the interrupt
   request arriving at the loopback AWS of tests/cloudlab.

Usage: bench/collectd_bench.py [--build DIR] [--seconds S] [--sizes 1000,10000] [--rounds R]"""
import argparse
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "cloudlab"))
import cloudlab  # noqa: E402
from cloudlab import AWS_KEY, AWS_SECRET, AWS_TOKEN  # noqa: E402

COLLECTD = "/usr/sbin/collectd"
HZ = os.sysconf("SC_CLK_TCK")


def conf(d, interval, plugin_dir, plugin_body, log_level="warning"):
    th = ('LoadPlugin threshold\n<Plugin threshold>\n  <Plugin "hb">\n    <Type "gauge">\n      FailureMin 0\n'
          '    </Type>\n  </Plugin>\n</Plugin>\n')
    text = ('Hostname "mon"\nFQDNLookup false\nBaseDir "%s"\nPIDFile "%s/pid"\nInterval %d\nTimeout 2\n'
            'AutoLoadPlugin false\nTypesDB "/usr/share/collectd/types.db"\nPluginDir "/usr/lib/collectd"\n'
            'LoadPlugin logfile\n<Plugin logfile>\n  LogLevel %s\n  File STDERR\n</Plugin>\n'
            'LoadPlugin unixsock\n<Plugin unixsock>\n  SocketFile "%s/sock"\n  SocketGroup "root"\n</Plugin>\n%s'
            % (d, d, interval, log_level, d, th))
    if plugin_body is not None:
        text += 'PluginDir "%s"\nLoadPlugin diagint\n<Plugin diagint>\n%s</Plugin>\n' % (plugin_dir, plugin_body)
    path = os.path.join(d, "collectd.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def targets(n, prefix="h"):
    return "".join('  <Target "%s%d">\n    Interrupt "aws:us-east-1/i-%017x"\n  </Target>\n' % (prefix, i, i)
                   for i in range(n))


def start(path, d, env=None):
    log = open(os.path.join(d, "stderr.log"), "w")
    p = subprocess.Popen([COLLECTD, "-f", "-C", path], stdout=log, stderr=log, env=env)
    end = time.monotonic() + 60
    while not os.path.exists(os.path.join(d, "sock")):
        if time.monotonic() > end or p.poll() is not None:
            raise RuntimeError("collectd did not start: " + open(os.path.join(d, "stderr.log")).read())
        time.sleep(0.01)
    time.sleep(0.2)
    return p, log


def stop(p, log):
    p.send_signal(signal.SIGTERM)
    p.wait(30)
    log.close()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Feeder:
    """n hosts, one value each per `interval`, spread evenly, over one pipelined unixsock connection."""

    def __init__(self, sockpath, n, interval, prefix="h"):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(sockpath)
        self.f = self.s.makefile("rb")
        self.n, self.interval, self.prefix = n, interval, prefix
        self.stop_ev = threading.Event()
        self.sent = 0
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        batch = 50
        per_batch = self.interval * batch / self.n
        i = 0
        next_t = time.monotonic()
        while not self.stop_ev.is_set():
            lines = "".join("PUTVAL %s%d/hb/gauge interval=%d N:1\n" % (self.prefix, (i + k) % self.n, self.interval)
                            for k in range(batch))
            self.s.sendall(lines.encode())
            for _ in range(batch):
                self.f.readline()
            self.sent += batch
            i += batch
            next_t += per_batch
            delay = next_t - time.monotonic()
            if delay > 0:
                self.stop_ev.wait(delay)

    def close(self):
        self.stop_ev.set()
        self.t.join()
        self.s.close()


def overhead(build, n, seconds, with_plugin, env):
    d = tempfile.mkdtemp(prefix="dgcb-", dir="/tmp")
    try:
        body = None
        if with_plugin:
            body = ('  DryRun true\n  AuditLog "%s/audit.jsonl"\n  StateFile "%s/state"\n' % (d, d)) + targets(n)
        path = conf(d, 10, os.path.join(build, "collectd-plugin"), body)
        p, log = start(path, d, env)
        feed = Feeder(os.path.join(d, "sock"), n, 10)
        feed.t.start()
        time.sleep(12)  # one full round: every host known to the cache and to the plugin
        c0, t0 = cpu_seconds(p.pid), time.monotonic()
        rss = []
        while time.monotonic() - t0 < seconds:
            time.sleep(1)
            rss.append(rss_kib(p.pid))
        c1, t1 = cpu_seconds(p.pid), time.monotonic()
        feed.close()
        stop(p, log)
        errors = [ln for ln in open(os.path.join(d, "stderr.log")) if "error" in ln.lower()]
        return {"cpu": 100 * (c1 - c0) / (t1 - t0), "rss": max(rss) / 1024, "values": feed.sent, "errors": errors}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def latency(build, rounds, env, lab):
    d = tempfile.mkdtemp(prefix="dgcl-", dir="/tmp")
    out = []
    try:
        body = ('  Cooldown 0\n  MaxActions 0\n  MaxUnhealthyPercent 100\n  AuditLog "%s/audit.jsonl"\n'
                '  StateFile "%s/state"\n  Endpoint "aws" "%s/"\n  CACert "%s"\n'
                '  Environment "AWS_ACCESS_KEY_ID" "%s"\n  Environment "AWS_SECRET_ACCESS_KEY" "%s"\n'
                '  Environment "AWS_SESSION_TOKEN" "%s"\n' % (d, d, lab.base, lab.cacert, AWS_KEY, AWS_SECRET,
                                                              AWS_TOKEN)) + \
            '  <Target "lat">\n    Interrupt "aws:us-east-1/i-0000000000000aaaa"\n  </Target>\n'
        path = conf(d, 1, os.path.join(build, "collectd-plugin"), body)
        p, log = start(path, d, env)
        s = socket.socket(socket.AF_UNIX)
        s.connect(os.path.join(d, "sock"))
        f = s.makefile("rb")

        def put():
            s.sendall(b"PUTVAL lat/hb/gauge interval=1 N:1\n")
            f.readline()

        for r in range(rounds):
            before = lab.count("aws.interrupt")
            for _ in range(4):           # alive: four heartbeats, one per interval
                put()
                time.sleep(1)
            put()
            last = time.monotonic()
            while lab.count("aws.interrupt") == before and time.monotonic() - last < 20:
                time.sleep(0.002)
            out.append(time.monotonic() - last)
            print("  round %d: %.3f s" % (r + 1, out[-1]), flush=True)
        s.close()
        stop(p, log)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return out


def blocking(build, env, lab, n=200):
    """unixsock round trips (PUTNOTIF about a watched host, PUTVAL) while the plugin's only request hangs at the
    provider, against the same with nothing in flight: collectd's threads must not wait for the worker."""
    d = tempfile.mkdtemp(prefix="dgcn-", dir="/tmp")
    inst = "i-0000000000000bbbb"
    try:
        body = ('  MaxUnhealthyPercent 100\n  RequestTimeout 60\n  ShutdownTimeout 1\n  AuditLog "%s/audit.jsonl"\n'
                '  StateFile "%s/state"\n  Endpoint "aws" "%s/"\n  CACert "%s"\n'
                '  Environment "AWS_ACCESS_KEY_ID" "%s"\n  Environment "AWS_SECRET_ACCESS_KEY" "%s"\n'
                '  Environment "AWS_SESSION_TOKEN" "%s"\n' % (d, d, lab.base, lab.cacert, AWS_KEY, AWS_SECRET,
                                                              AWS_TOKEN)) + \
            ('  <Target "stuck">\n    Interrupt "aws:us-east-1/%s"\n    Detect "notification"\n'
             '    NotificationPlugin "probe"\n  </Target>\n' % inst)
        path = conf(d, 1, os.path.join(build, "collectd-plugin"), body)
        p, log = start(path, d, env)

        def one(line):
            s = socket.socket(socket.AF_UNIX)
            s.connect(os.path.join(d, "sock"))
            t = time.monotonic()
            s.sendall(line.encode())
            s.recv(256)
            s.close()
            return (time.monotonic() - t) * 1000

        def rounds():
            out = []
            for i in range(n):
                out.append(one('PUTNOTIF severity=warning time=%d host=other plugin=probe type=gauge '
                               'message="x"\n' % time.time()))
                out.append(one("PUTVAL stuck/hb/gauge interval=1 N:%d\n" % i))
            return out

        idle = rounds()
        lab.script(inst, [{"stall": 120}])
        one('PUTNOTIF severity=failure time=%d host=stuck plugin=probe type=gauge message="hung"\n' % time.time())
        end = time.monotonic() + 10
        while lab.count("aws.interrupt", inst) == 0 and time.monotonic() < end:
            time.sleep(0.01)
        busy = rounds()
        t = time.monotonic()
        stop(p, log)
        return idle, busy, time.monotonic() - t
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))

    tmp = tempfile.mkdtemp(prefix="dgcb-lab-", dir="/tmp")
    lab = cloudlab.Lab(tmp).start()
    env = lab.env(tmp)
    try:
        rows = []
        for n in [int(x) for x in a.sizes.split(",")]:
            base = overhead(build, n, a.seconds, False, env)
            plug = overhead(build, n, a.seconds, True, env)
            rows.append((n, base, plug))
            print("%6d targets: without %.2f%% CPU %.1f MiB | with diagint %.2f%% CPU %.1f MiB | delta %+.2f%% "
                  "%+.1f MiB (values fed %d/%d)%s" % (
                      n, base["cpu"], base["rss"], plug["cpu"], plug["rss"], plug["cpu"] - base["cpu"],
                      plug["rss"] - base["rss"], base["values"], plug["values"],
                      " ERRORS: %s" % (base["errors"] + plug["errors"]) if base["errors"] + plug["errors"] else ""),
                  flush=True)
        print("latency, Interval 1, Timeout 2 (last value -> interrupt request at the provider):", flush=True)
        lat = latency(build, a.rounds, env, lab)
        print("latency: min %.3f median %.3f max %.3f s over %d rounds (goal <= 3.2 s)" % (
            min(lat), statistics.median(lat), max(lat), len(lat)))
        idle, busy, stop_s = blocking(build, env, lab)
        print("unixsock round trip (PUTNOTIF + PUTVAL, %d each): nothing in flight median %.2f ms max %.2f ms; "
              "a request hanging at the provider median %.2f ms max %.2f ms; SIGTERM then took %.2f s "
              "(ShutdownTimeout 1)" % (len(idle) // 2, statistics.median(idle), max(idle), statistics.median(busy),
                                       max(busy), stop_s))
        print()
        print("| targets | collectd CPU without | with diagint | overhead | RSS without | with diagint | overhead |")
        print("|---|---|---|---|---|---|---|")
        for n, b, p in rows:
            print("| %s | %.2f%% | %.2f%% | %+.2f%% of one core | %.1f MiB | %.1f MiB | %+.1f MiB |" % (
                format(n, ","), b["cpu"], p["cpu"], p["cpu"] - b["cpu"], b["rss"], p["rss"], p["rss"] - b["rss"]))
    finally:
        lab.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
