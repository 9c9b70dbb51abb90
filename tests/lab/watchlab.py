"""watchlab: a `diagint watch` process run by a test, and what tests read of it (its log, its dumps).

Shared by tests/integration/test_watch*.py. The watcher stamps each log line with milliseconds, logs one line per
decision, and handles signals, events and probes in one loop: what the helpers below rely on."""
import glob
import json
import os
import re
import signal
import subprocess
import time

import diaglab


class Watcher:
    """`diagint watch --config CONFIG --connect URI`, logging to LOG, auditing to AUDIT. tag names it in messages."""

    def __init__(self, log, config, uri, audit, tag=""):
        self.tag = tag
        self.log = log
        env = dict(os.environ, DIAGINT_AUDIT_LOG=audit)
        env.pop("JOURNAL_STREAM", None)  # plain timestamped lines, not the journal's priority prefixes
        self.f = open(self.log, "w")
        self.proc = subprocess.Popen([diaglab.diagint_bin(), "watch", "--config", config, "--connect", uri],
                                     stdout=self.f, stderr=self.f, env=env)

    def _name(self):
        return "watcher %s" % self.tag if self.tag else "watcher"

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def wait_for(self, pattern, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, self.text())
            if m:
                return m
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %s:\n%s" % (self._name(), self.proc.returncode, self.text()))
            time.sleep(0.1)
        raise AssertionError("no %r in the log of %s within %s s:\n%s" % (pattern, self._name(), timeout,
                                                                          self.text()))

    def line_time(self, pattern):
        """Wall time of the first log line matching pattern."""
        for line in self.text().splitlines():
            if re.search(pattern, line):
                base, ms = line.split(" ", 1)[0].split(".")
                return time.mktime(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + int(ms) / 1000.0
        return None

    def reload(self):
        """SIGHUP; returns once the reload (and the rediscovery it runs) is in the log: every event queued before
        it has been handled by then."""
        before = len(re.findall(r"configuration reloaded from", self.text()))
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 15
        while time.time() < deadline:
            tail = self.text().split("configuration reloaded from")
            if len(tail) - 1 > before and re.search(r"watching \d+ running domain", tail[-1]):
                return
            time.sleep(0.1)
        raise AssertionError("%s: no reload within 15 s:\n%s" % (self._name(), self.text()))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.f.close()
        return self.proc.returncode


def dumps_in(directory, name):
    return sorted(glob.glob(os.path.join(directory, name + "-*.gcore")))


def wait_dumps(directory, name, count, timeout, watcher=None):
    """At least count complete dumps (sidecar written) of domain name in directory."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = dumps_in(directory, name)
        if len(d) >= count and all(os.path.exists(p + ".json") for p in d):
            return d
        time.sleep(0.1)
    raise AssertionError("%s: %d dump(s) after %s s, wanted %d:\n%s" % (
        name, len(dumps_in(directory, name)), timeout, count, watcher.text() if watcher else ""))


def dump_files(directory, name):
    """Every file of a dump of domain name in directory: finished ones, their sidecars, and the hidden
    .NAME.partial of one still being written (a duplicate capture is one of those until it ends)."""
    # The kernel log written beside each analysed dump (NAME.gcore.dmesg) is the analysis' product, checked by
    # test_dump_analysis: here a dump is its .gcore, its sidecar and any hidden .partial.
    return sorted([f for f in glob.glob(os.path.join(directory, name + "-*.gcore*")) if not f.endswith(".dmesg")] +
                  glob.glob(os.path.join(directory, "." + name + "-*.partial")))


def wait_quiet(watcher, name, quiet=3.0, timeout=60):
    """Return once the watcher's log has had no new line about domain name for `quiet` seconds (at least `quiet`
    seconds from now): a second, wrong, action on it would have started by then."""
    def about():
        return len([ln for ln in watcher.text().splitlines() if re.search(r"\b%s: " % re.escape(name), ln)])
    n, since = about(), time.time()
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = about()
        if m != n:
            n, since = m, time.time()
        elif time.time() - since >= quiet:
            return
        time.sleep(0.1)
    raise AssertionError("%s: still busy with %s after %s s:\n%s" % (watcher._name(), name, timeout, watcher.text()))


def audit_actions(audit_path, target, actions=("capture", "inject")):
    """(action, status) of the watcher's records about target whose action is one of actions."""
    out = []
    try:
        with open(audit_path) as f:
            for line in f:
                r = json.loads(line)
                if r.get("target") == target and r["actor"]["component"] == "watcher" and r["action"] in actions:
                    out.append((r["action"], r["result"]["status"]))
    except FileNotFoundError:
        pass
    return out


def sidecar(dump):
    with open(dump + ".json") as f:
        return json.load(f)
