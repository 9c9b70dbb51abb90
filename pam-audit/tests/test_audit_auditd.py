"""The audit log's head reaches Linux audit: a private auditd (its own config and log in a scratch directory, never
the machine's) receives the TRUSTED_APP announcement of a real `diagint inject`, ausearch finds it, and
`diagint audit verify --anchors` uses that copy to catch records cut from the end of the log together with its
head file. Needs root and auditd; skipped visibly (status 77, with the reason) otherwise."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("DG_BUILD_DIR", "")
DIAGINT = os.path.join(BUILD, "cli", "diagint")
NOWHERE = "qemu:///system?socket=/nonexistent/diagint-auditd-test.sock"


def skip(why):
    print("1..0 # SKIP " + why, flush=True)
    sys.exit(77)


def audit_status():
    r = subprocess.run(["auditctl", "-s"], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line)


def main():
    if os.geteuid() != 0:
        skip("needs root (a private auditd registers with the kernel)")
    for tool in ("auditd", "ausearch", "auditctl"):
        if not shutil.which(tool):
            skip("%s is not installed (scripts/deps lab installs auditd)" % tool)
    st = audit_status()
    if st is None:
        skip("the kernel's audit is not reachable here (auditctl -s failed)")
    if st.get("pid", "0").strip() != "0":
        skip("an auditd already runs (pid %s): this test never takes over the machine's" % st["pid"])

    work = tempfile.mkdtemp(prefix="dg-auditd-")
    daemon = None
    checks = []

    def check(ok, what):
        checks.append(ok)
        print("%s %d - %s" % ("ok" if ok else "not ok", len(checks), what), flush=True)

    try:
        conf = open("/etc/audit/auditd.conf").read()
        conf = re.sub(r"(?m)^log_file\s*=.*$", "log_file = %s/audit.log" % work, conf)
        conf = re.sub(r"(?m)^log_group\s*=.*$", "log_group = root", conf)
        with open(os.path.join(work, "auditd.conf"), "w") as f:
            f.write(conf)
        os.chmod(os.path.join(work, "auditd.conf"), 0o640)
        daemon = subprocess.Popen(["auditd", "-n", "-c", work], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while time.time() < deadline:
            st = audit_status() or {}
            if st.get("pid", "").strip() == str(daemon.pid) and st.get("enabled", "").strip() == "1":
                break
            if daemon.poll() is not None:
                skip("the private auditd exited: %s" % daemon.stdout.read().decode(errors="replace")[-300:])
            time.sleep(0.1)
        else:
            skip("the private auditd did not register with the kernel within 15 s")

        log = os.path.join(work, "d", "audit.jsonl")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SUDO_", "PAM_WRAPPER", "LD_PRELOAD"))}
        env["DIAGINT_AUDIT_LOG"] = log
        r = subprocess.run([DIAGINT, "inject", "-c", NOWHERE, "web-1"], capture_output=True, text=True, env=env,
                           stdin=subprocess.DEVNULL, timeout=60)
        check(r.returncode in (3, 5), "diagint inject ran its authorization and recorded (status %d)" % r.returncode)
        v = subprocess.run([DIAGINT, "audit", "verify", "--json", "--audit-log", log], capture_output=True,
                           text=True)
        head = json.loads(v.stdout)
        check(head["ok"] and head["records"] >= 2, "the log verifies: %d records" % head["records"])

        found = ""
        deadline = time.time() + 10
        while time.time() < deadline:
            a = subprocess.run(["ausearch", "-if", os.path.join(work, "audit.log"), "-m", "TRUSTED_APP", "-i"],
                               capture_output=True, text=True, errors="replace")
            if "sha256=%s" % head["last_sha256"] in a.stdout:
                found = a.stdout
                break
            time.sleep(0.2)
        check(bool(found), "ausearch -m TRUSTED_APP finds the head (seq %d) in the private auditd's log"
              % head["last_seq"])
        check("op=diagint-audit-head" in found and ("log=%s " % log) in found, "with the log's path")

        v = subprocess.run([DIAGINT, "audit", "verify", "--audit-log", log, "--anchors",
                            os.path.join(work, "audit.log")], capture_output=True, text=True)
        check(v.returncode == 0 and "announcements match" in v.stdout, "verify --anchors audit.log: ok")

        # Cut the last record cleanly and remove the head file: only the auditd copy still tells.
        with open(log) as f:
            lines = f.readlines()
        with open(log, "w") as f:
            f.writelines(lines[:-1])
        os.unlink(log + ".head")
        v = subprocess.run([DIAGINT, "audit", "verify", "--audit-log", log, "--no-head", "--anchors",
                            os.path.join(work, "audit.log")], capture_output=True, text=True)
        check(v.returncode == 1 and "were cut from its end" in v.stderr, "a clean truncation is caught: "
              + v.stderr.strip()[:160])
    finally:
        if daemon and daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(10)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        # auditd leaves the kernel's audit enabled; the machine had it off.
        subprocess.run(["auditctl", "-e", "0"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    print("1..%d" % len(checks))
    sys.exit(0 if all(checks) else 1)


if __name__ == "__main__":
    main()
