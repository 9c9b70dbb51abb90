"""The Debian packages as a user meets them: built from a clean copy of the tree, installed with apt, used only
through installed files, system paths and defaults, upgraded from the previous commit's packages, purged.

Steps (TAP, one line each):
  build this tree's packages (and the previous commit's, versioned just below), lintian without errors;
  install the previous commit's packages: group, directories and their modes, the hook, the unit not enabled;
  the installed example config copied to /etc/diagint/diagint.conf; the installed `diagint inject` on a real guest
    (private libvirtd whose hooks directory holds the installed hook): the dump lands in the default destination,
    its sidecar's sha256 is the file's, the audit log in /var/log/diagint has the decision and the outcome;
  the installed hook ran for the guest's start (it tells the watcher's socket, /run/diagint/watch.sock);
  a real collectd with the installed example plugin configuration, pointed at the loopback cloud: a silent host
    gets exactly one interrupt, the default StateFile holds its cooldown;
  a conffile edited, then the upgrade to this tree's packages: the edit, the cooldown state, the dump and the audit
    chain survive; collectd again: the cooldown holds across the upgrade (no second interrupt);
  real sudo: a user in group diagint is allowed, a user outside it is denied with status 3 and a message naming
    the group, both recorded in /var/log/diagint/audit.jsonl;
  the same packages installed twice; purge: everything the packages made is gone, the evidence (dumps, audit log)
    is kept and said so; then the test removes what it made and checks the machine is as it found it.

It refuses to run on a machine where diagint is installed or its paths exist (it would disturb a real
installation): a failure under DIAGINT_REQUIRE_GUEST=1 (CI), a visible skip elsewhere."""
import glob
import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
sys.path.insert(0, os.path.join(HERE, "..", "cloudlab"))
import diaglab  # noqa: E402

PACKAGES = ["diagint", "libpam-diagint", "collectd-diagint"]
# /run/diagint is not here: the other tests' captures make it (their FIFOs), and purge removes it.
OWNED = ["/etc/diagint", "/var/lib/diagint", "/var/log/diagint", "/etc/pam.d/diagint",
         "/etc/libvirt/hooks/qemu.d/diagint", "/usr/bin/diagint", "/etc/sudoers.d/diagint-test"]
USERS = {"dgop": True, "dgout": False}  # name: in group diagint
AUDIT = "/var/log/diagint/audit.jsonl"
STATE = "/var/lib/diagint/collectd-brakes.state"
DUMPS = "/var/lib/diagint/dumps"
EXAMPLE_INSTANCE = "i-0123456789abcdef0"  # the installed collectd example's first target
WORK = None
N = 0
FAILED = 0


def tap(ok, desc, detail=""):
    global N, FAILED
    N += 1
    if not ok:
        FAILED += 1
    print("%s %d - %s" % ("ok" if ok else "not ok", N, desc), flush=True)
    if detail and not ok:
        for line in str(detail).splitlines()[-40:]:
            print("#   " + line, flush=True)
    return ok


def note(text):
    for line in str(text).splitlines():
        print("# " + line, flush=True)


class Abort(Exception):
    pass


def must(ok, desc, detail=""):
    if not tap(ok, desc, detail):
        raise Abort(desc)


def run(cmd, check=True, env=None, timeout=600, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise Abort("%s: status %d\n%s%s" % (" ".join(cmd), r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
    return r


def clean_env():
    """The environment a person's shell has: none of the test harness's variables (meson sets DIAGINT_AUDIT_LOG
    and friends for the other tests; PAM_WRAPPER would be a test hook)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DIAGINT_", "PAM_WRAPPER", "NSS_WRAPPER", "UID_WRAPPER", "LD_PRELOAD", "ASAN",
                                "UBSAN", "MESON", "DG_"))}
    env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
    env["DEBIAN_FRONTEND"] = "noninteractive"
    return env


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def audit_records():
    with open(AUDIT) as f:
        return [json.loads(line) for line in f if line.strip()]


# ---- preflight -------------------------------------------------------------------------------------------

def preflight():
    reasons = []
    if os.geteuid() != 0:
        reasons.append("not root: installing packages needs root")
    for tool in ("dpkg-buildpackage", "lintian", "sudo", "apt-get", "/usr/sbin/collectd", "/usr/sbin/libvirtd"):
        if not shutil.which(tool):
            reasons.append("%s missing (scripts/deps pkg lab collectd installs it)" % tool)
    if not os.environ.get("DG_GUEST_DIR"):
        reasons.append("DG_GUEST_DIR not set: run through meson test")
    if not reasons:
        for p in PACKAGES:
            r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True)
            if "installed" in r.stdout and "not-installed" not in r.stdout:
                reasons.append("package %s is installed on this machine: this test would replace it" % p)
        for path in OWNED:
            if os.path.lexists(path):
                reasons.append("%s exists: this test would disturb a real installation" % path)
        for g in ["diagint"]:
            try:
                grp.getgrnam(g)
                reasons.append("group %s exists" % g)
            except KeyError:
                pass
        for u in USERS:
            try:
                pwd.getpwnam(u)
                reasons.append("user %s exists" % u)
            except KeyError:
                pass
    if not reasons:
        return
    msg = "; ".join(reasons)
    if os.environ.get("DIAGINT_REQUIRE_GUEST") == "1":
        print("1..1\nnot ok 1 - the installed-system test cannot run here: " + msg, flush=True)
        raise SystemExit(1)
    print("1..0 # SKIP " + msg, flush=True)
    raise SystemExit(0)


# ---- building -------------------------------------------------------------------------------------------

def source_tree():
    return os.path.abspath(os.environ.get("DG_SOURCE_DIR", os.path.join(HERE, "..", "..")))


def export_tree(dest):
    """This tree as a clean checkout would have it: tracked and new files, nothing ignored (no build dirs)."""
    src = source_tree()
    files = run(["git", "-C", src, "ls-files", "-z", "-co", "--exclude-standard"]).stdout.split("\0")
    os.makedirs(dest)
    for rel in filter(None, files):
        s = os.path.join(src, rel)
        if not os.path.lexists(s):
            continue  # deleted in the work tree
        d = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        if os.path.islink(s):
            os.symlink(os.readlink(s), d)
        else:
            shutil.copy2(s, d)


def previous_commit():
    """The commit before this tree: HEAD when the work tree has changes, else HEAD~1."""
    src = source_tree()
    dirty = run(["git", "-C", src, "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
    rev = "HEAD" if dirty else "HEAD~1"
    r = run(["git", "-C", src, "rev-parse", "--verify", "-q", rev + "^{commit}"], check=False)
    if r.returncode != 0:
        return None, "%s does not exist in this clone (shallow?)" % rev
    commit = r.stdout.strip()
    r = run(["git", "-C", src, "cat-file", "-e", commit + ":debian/control"], check=False)
    if r.returncode != 0:
        return None, "%s (%s) has no debian/ yet" % (rev, commit[:12])
    return commit, None


def export_commit(commit, dest):
    os.makedirs(dest)
    archive = subprocess.Popen(["git", "-C", source_tree(), "archive", commit], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", dest], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise Abort("git archive %s failed" % commit)


def set_version(tree, version, text):
    path = os.path.join(tree, "debian", "changelog")
    old = open(path).read()
    entry = ("diagint (%s) unstable; urgency=medium\n\n  * %s\n\n -- diagint tests <diagint-devel@diagint.org>  "
             "%s\n\n" % (version, text, time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())))
    with open(path, "w") as f:
        f.write(entry + old)


def build(tree):
    t = time.monotonic()
    run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=tree, env=clean_env(), timeout=1200)
    secs = time.monotonic() - t
    parent = os.path.dirname(tree)
    debs = {}
    for p in PACKAGES:
        found = glob.glob(os.path.join(parent, "%s_*.deb" % p))
        if len(found) != 1:
            raise Abort("expected one %s_*.deb in %s, found %s" % (p, parent, found))
        debs[p] = found[0]
    return debs, secs, glob.glob(os.path.join(parent, "*.changes"))[0]


def current_version(tree):
    head = open(os.path.join(tree, "debian", "changelog")).readline()
    return re.match(r"\S+ \(([^)]+)\)", head).group(1)


def apt_install(debs, *extra):
    return run(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]
               + list(extra) + [debs[p] for p in PACKAGES], env=clean_env())


# ---- the lab: a private libvirtd with the installed hook, the loopback cloud, collectd ---------------------

class HookListener:
    """The watcher's datagram socket at its default path: what the installed hook tells it."""

    def __init__(self, path="/run/diagint/watch.sock"):
        self.path = path
        self.messages = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop.is_set():
            try:
                self.messages.append(self.sock.recv(1024).decode(errors="replace"))
            except socket.timeout:
                pass

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


def start_libvirtd():
    lv = diaglab.PrivateLibvirtd(os.path.join(WORK, "libvirt"))
    # The installed hook, exactly as the package put it (a symlink into /usr/libexec), in the daemon's private
    # /etc/libvirt/hooks/qemu.d.
    hookdir = lv._root("/etc/libvirt/hooks/qemu.d")
    os.makedirs(hookdir, exist_ok=True)
    os.symlink(os.readlink("/etc/libvirt/hooks/qemu.d/diagint"), os.path.join(hookdir, "diagint"))
    return lv.start()


def console(name):
    return os.path.join(WORK, "console-%s.log" % name)


def boot(lv, name):
    lv.create(diaglab.domain_xml(name, diaglab.built_guest(), console(name), memory_mib=128))
    if not diaglab.wait_for_console(console(name), "diagint-heartbeat 1", 120):
        raise Abort("guest %s did not boot" % name)


class Collectd:
    """A private collectd (its own BaseDir, socket, PID file) whose diagint block is the installed example."""

    def __init__(self, lab, tag, plugin_conf):
        self.lab = lab
        self.dir = tempfile.mkdtemp(prefix="cd-%s-" % tag, dir=WORK)
        self.sock = os.path.join(self.dir, "sock")
        self.logpath = os.path.join(self.dir, "log")
        self.conf = os.path.join(self.dir, "collectd.conf")
        with open(self.conf, "w") as f:
            f.write('Hostname "mon"\nFQDNLookup false\nBaseDir "%s"\nPIDFile "%s/pid"\nInterval 1\nTimeout 2\n'
                    'AutoLoadPlugin false\nTypesDB "/usr/share/collectd/types.db"\n'
                    'LoadPlugin logfile\n<Plugin logfile>\n  LogLevel info\n  File STDERR\n</Plugin>\n'
                    'LoadPlugin unixsock\n<Plugin unixsock>\n  SocketFile "%s"\n</Plugin>\n'
                    'Include "%s"\n' % (self.dir, self.dir, self.sock, plugin_conf))
        env = clean_env()
        env.update({k: v for k, v in lab.env(self.dir).items() if k != "DIAGINT_AUDIT_LOG"})
        self.env = env
        self.proc = None
        self.alive = set()
        self.hb_stop = threading.Event()
        self.hb = None

    def check(self):
        return run(["/usr/sbin/collectd", "-T", "-C", self.conf], check=False, env=self.env, timeout=60)

    def start(self):
        self.logf = open(self.logpath, "w")
        self.proc = subprocess.Popen(["/usr/sbin/collectd", "-f", "-C", self.conf], stdout=self.logf,
                                     stderr=self.logf, env=self.env)
        end = time.monotonic() + 30
        while time.monotonic() < end and not (os.path.exists(self.sock) and "Initialization complete" in self.log()):
            time.sleep(0.1)
        if "Initialization complete" not in self.log():
            raise Abort("collectd did not start:\n" + self.log())
        self.hb = threading.Thread(target=self._beat, daemon=True)
        self.hb.start()
        return self

    def log(self):
        try:
            return open(self.logpath).read()
        except FileNotFoundError:
            return ""

    def putval(self, host):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(self.sock)
        s.sendall(("PUTVAL %s/hb/gauge interval=1 N:1\n" % host).encode())
        s.recv(1024)
        s.close()

    def _beat(self):
        while not self.hb_stop.is_set():
            for h in sorted(self.alive):
                try:
                    self.putval(h)
                except OSError:
                    pass
            self.hb_stop.wait(0.5)

    def stop(self):
        self.hb_stop.set()
        if self.hb:
            self.hb.join()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.logf.close()
        return self.proc.returncode if self.proc else None


def collectd_example(lab):
    """The installed example, pointed at the loopback cloud and turned from a trial (DryRun) into the real thing:
    what a user edits. AuditLog and StateFile stay the defaults."""
    from cloudlab import AWS_KEY, AWS_SECRET, AWS_TOKEN
    text = open("/usr/share/doc/collectd-diagint/examples/diagint.conf").read()
    assert "DryRun true" in text and '#Endpoint "aws"' in text, "the example changed: update this test"
    text = text.replace("DryRun true", "DryRun false")
    text = re.sub(r'#Endpoint "aws" "[^"]*"', 'Endpoint "aws" "%s/"' % lab.base, text)
    text = re.sub(r'#CACert "[^"]*"', 'CACert "%s"' % lab.cacert, text)
    text = text.replace('#Environment "AWS_PROFILE" "monitoring"',
                        'Environment "AWS_ACCESS_KEY_ID" "%s"\n  Environment "AWS_SECRET_ACCESS_KEY" "%s"\n'
                        '  Environment "AWS_SESSION_TOKEN" "%s"' % (AWS_KEY, AWS_SECRET, AWS_TOKEN))
    path = os.path.join(WORK, "collectd-diagint.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def silent_host_scenario(lab, conf, tag, expect_new):
    """web-1 and vm-3 report, then web-1 goes silent; returns (new interrupts, collectd log)."""
    before = lab.count("aws.interrupt", EXAMPLE_INSTANCE)
    cd = Collectd(lab, tag, conf)
    r = cd.check()
    if r.returncode != 0:
        raise Abort("collectd -T on the installed example: %s%s" % (r.stdout, r.stderr))
    cd.start()
    try:
        cd.alive = {"web-1", "vm-3"}
        time.sleep(3)
        cd.alive = {"vm-3"}
        end = time.monotonic() + 20
        while time.monotonic() < end and lab.count("aws.interrupt", EXAMPLE_INSTANCE) - before < max(expect_new, 1):
            time.sleep(0.2)
        time.sleep(4)  # Timeout 2 x Interval 1 and margin: room for a wrong second interrupt to arrive
    finally:
        rc = cd.stop()
    return lab.count("aws.interrupt", EXAMPLE_INSTANCE) - before, cd.log(), rc


# ---- the steps --------------------------------------------------------------------------------------------

def main():
    global WORK
    preflight()
    WORK = tempfile.mkdtemp(prefix="dg-inst-", dir="/tmp")
    selections = run(["dpkg", "--get-selections"]).stdout
    made = {"users": [], "sudoers": None, "listener": None, "lv": None, "lab": None}
    try:
        steps(made)
    except Abort as e:
        tap(False, "aborted: %s" % str(e).splitlines()[0], e)
    except Exception as e:  # a bug in a step: still clean the machine up, and say where
        import traceback
        tap(False, "step raised %s: %s" % (type(e).__name__, e), traceback.format_exc())
    finally:
        cleanup(made, selections)
    return FAILED


def steps(made):
    # Build: this tree, and the commit before it.
    new_tree = os.path.join(WORK, "new", "src")
    export_tree(new_tree)
    new_debs, new_secs, new_changes = build(new_tree)
    sizes = {p: run(["dpkg-deb", "-f", new_debs[p], "Installed-Size"]).stdout.strip() for p in PACKAGES}
    note("packages built from a clean copy in %.1f s; installed sizes (KiB): %s" % (
        new_secs, ", ".join("%s %s" % kv for kv in sizes.items())))
    tap(True, "dpkg-buildpackage -us -uc -b builds %s" % ", ".join(os.path.basename(d) for d in new_debs.values()))
    r = run(["lintian", "--no-tag-display-limit", new_changes], check=False)
    errors = [line for line in r.stdout.splitlines() if line.startswith("E:")]
    warnings = [line for line in r.stdout.splitlines() if line.startswith("W:")]
    tap(not errors and not warnings, "lintian: no errors, no warnings (%d errors, %d warnings)" % (
        len(errors), len(warnings)), r.stdout)

    commit, why = previous_commit()
    if commit:
        old_tree = os.path.join(WORK, "old", "src")
        export_commit(commit, old_tree)
        version = current_version(new_tree)
        set_version(old_tree, version + "~prev", "the previous commit, for the upgrade test")
        first_debs, secs, _ = build(old_tree)
        note("previous commit %s built in %.1f s as %s~prev" % (commit[:12], secs, version))
        upgrade = True
    else:
        # Only a tree whose previous commit predates the packaging gets here: the upgrade becomes a reinstall.
        ok = os.environ.get("DIAGINT_REQUIRE_GUEST") != "1" or "has no debian/" in why
        tap(ok, "previous commit's packages: %s; upgrade checked as a reinstall of this tree's" % why)
        first_debs, upgrade = new_debs, False

    # First install.
    r = apt_install(first_debs)
    tap("systemctl enable --now diagint-watch" in r.stdout + r.stderr,
        "the install says how to enable the watcher and make libvirt load the hook", r.stdout + r.stderr)
    try:
        grp.getgrnam("diagint")
        tap(True, "the package created group diagint")
    except KeyError:
        tap(False, "the package created group diagint")
    modes = {"/var/lib/diagint": 0o755, DUMPS: 0o700, "/var/log/diagint": 0o700}
    got = {d: (stat.S_IMODE(os.stat(d).st_mode) if os.path.isdir(d) else None) for d in modes}
    tap(got == modes, "directories with their documented modes: %s" % {d: oct(m) if m else m for d, m in got.items()})
    tap(os.readlink("/etc/libvirt/hooks/qemu.d/diagint") == "/usr/libexec/diagint-hook"
        and os.access("/usr/libexec/diagint-hook", os.X_OK), "the hook is where libvirt looks")
    tap(os.path.exists("/lib/systemd/system/diagint-watch.service")
        and not glob.glob("/etc/systemd/system/*.wants/diagint-watch.service"),
        "the watcher unit is installed and not enabled")
    plugin_mode = stat.S_IMODE(os.stat("/usr/lib/collectd/diagint.so").st_mode)
    tap(plugin_mode == 0o644, "the collectd plugin is 0644 (%o)" % plugin_mode)

    # A real guest under a private libvirtd that runs the installed hook.
    made["listener"] = HookListener()
    made["lv"] = lv = start_libvirtd()
    boot(lv, "inst-a")
    end = time.monotonic() + 10
    while time.monotonic() < end and not any(m.startswith("started ") for m in made["listener"].messages):
        time.sleep(0.1)
    tap(any(re.match(r"started [0-9a-f-]{36} inst-a$", m) for m in made["listener"].messages),
        "the installed hook ran for the guest's start and told the watcher's socket", made["listener"].messages)

    # The installed example config, then the installed inject with defaults.
    os.makedirs("/etc/diagint", exist_ok=True)
    shutil.copy("/usr/share/doc/diagint/examples/diagint.conf", "/etc/diagint/diagint.conf")
    r = run(["/usr/bin/diagint", "inject", "-c", lv.uri, "inst-a"], check=False, env=clean_env(), timeout=300)
    dump = r.stdout.strip()
    ok = r.returncode == 0 and os.path.dirname(dump) == DUMPS and os.path.isfile(dump)
    tap(ok, "installed `diagint inject` with the example config: the dump lands in %s" % DUMPS, r.stdout + r.stderr)
    if not ok:
        raise Abort("no dump to check")
    with open(dump, "rb") as f:
        head = f.read(18)
    side = json.load(open(dump + ".json"))
    tap(head[:4] == b"\x7fELF" and head[16] == 4 and side["dump"]["sha256"] == sha256(dump),
        "the dump is an ELF core and its sidecar's sha256 is the file's")
    recs = audit_records()
    kinds = [(x["action"], x["result"]["status"]) for x in recs]
    tap(("authorize", "ok") in kinds and ("inject", "ok") in kinds and
        any((x.get("dump") or {}).get("sha256") == side["dump"]["sha256"] for x in recs),
        "the decision and the outcome are in %s" % AUDIT, kinds)

    # collectd with the installed example: one silent host, one interrupt, the default StateFile.
    from cloudlab import Lab
    made["lab"] = lab = Lab(os.path.join(WORK)).start()
    conf = collectd_example(lab)
    n, log, rc = silent_host_scenario(lab, conf, "first", 1)
    tap(n == 1 and rc == 0, "collectd + the installed example: a silent host gets exactly one interrupt (%d)" % n, log)
    state_ok = os.path.isfile(STATE) and "aws:us-east-1/%s" % EXAMPLE_INSTANCE in open(STATE).read()
    tap(state_ok, "the default StateFile %s holds the cooldown" % STATE, open(STATE).read() if os.path.isfile(STATE) else "")

    # A local edit of a conffile, then the upgrade. The edit is one a site makes: operators under sudo may name the
    # libvirt URI (the test's libvirtd has a private socket), which the sudo test below needs to survive.
    text = open("/etc/pam.d/diagint").read()
    line = "account  required   pam_diagint.so group=diagint targets=libvirt:*\n"
    must(line in text, "the installed /etc/pam.d/diagint has the documented account line", text)
    with open("/etc/pam.d/diagint", "w") as f:
        f.write(text.replace(line, line.rstrip("\n") + " overrides=uri\n") + "# local edit: kept across upgrades\n")
    kept = {p: sha256(p) for p in (dump, dump + ".json", STATE)}
    n_records = len(audit_records())
    r = apt_install(new_debs)
    version = run(["dpkg-query", "-W", "-f=${Version}", "diagint"]).stdout
    tap(version == current_version(new_tree), "%s to this tree's packages (%s)" % (
        "upgraded" if upgrade else "reinstalled", version), r.stdout + r.stderr)
    tap("# local edit: kept across upgrades" in open("/etc/pam.d/diagint").read(), "the conffile edit survived")
    tap(all(sha256(p) == h for p, h in kept.items()), "the dump, its sidecar and the cooldown state survived")
    r = run(["/usr/bin/diagint", "audit", "verify", AUDIT], check=False, env=clean_env())
    tap(r.returncode == 0 and len(audit_records()) >= n_records, "the audit chain verifies after the upgrade",
        r.stdout + r.stderr)
    n, log, rc = silent_host_scenario(lab, conf, "second", 0)
    sup = [x for x in audit_records() if x["result"]["status"] == "suppressed"
           and x["target"] == "aws:us-east-1/" + EXAMPLE_INSTANCE]
    tap(n == 0 and sup, "the cooldown holds across the upgrade: no second interrupt, one suppression recorded", log)

    # Real sudo: a member of group diagint is allowed, someone else is denied.
    for user, member in USERS.items():
        run(["useradd", "-M", "-s", "/bin/sh"] + (["-G", "diagint"] if member else []) + [user])
        made["users"].append(user)
    made["sudoers"] = "/etc/sudoers.d/diagint-test"
    with open(made["sudoers"], "w") as f:
        f.write("dgop, dgout ALL=(root) NOPASSWD: /usr/bin/diagint\n")
    os.chmod(made["sudoers"], 0o440)
    boot(lv, "inst-b")
    results = {}
    for user in USERS:
        results[user] = run(["runuser", "-u", user, "--", "sudo", "-n", "/usr/bin/diagint", "capture", "-c", lv.uri,
                             "inst-b"], check=False, env=clean_env(), timeout=300)
    r = results["dgop"]
    tap(r.returncode == 0 and r.stdout.strip().startswith(DUMPS + "/inst-b-"),
        "sudo diagint capture as a member of group diagint: allowed, dump in %s" % DUMPS, r.stdout + r.stderr)
    r = results["dgout"]
    tap(r.returncode == 3 and "group diagint" in r.stderr,
        "sudo diagint capture outside group diagint: status 3, the message names the group", r.stdout + r.stderr)
    # What the operator may not choose under sudo, with the real sudo: a |command destination, another audit log.
    ran = os.path.join(WORK, "ran-as-root")
    r = run(["runuser", "-u", "dgop", "--", "sudo", "-n", "/usr/bin/diagint", "capture", "-c", lv.uri, "--dest",
             "|id > %s" % ran, "inst-b"], check=False, env=clean_env(), timeout=120)
    tap(r.returncode == 3 and "dest" in r.stderr and not os.path.exists(ran),
        "sudo diagint capture --dest '|command': status 3, the command never runs", r.stdout + r.stderr)
    other = os.path.join(WORK, "elsewhere.jsonl")
    r = run(["runuser", "-u", "dgop", "--", "sudo", "-n", "/usr/bin/diagint", "--audit-log", other, "capture", "-c",
             lv.uri, "inst-b"], check=False, env=clean_env(), timeout=120)
    tap(r.returncode == 3 and "audit log is root's" in r.stderr and not os.path.exists(other),
        "sudo diagint --audit-log FILE: status 3, nothing written there", r.stdout + r.stderr)
    recs = audit_records()
    decided = {(x["actor"].get("user"), x["result"]["status"]) for x in recs if x["action"] == "authorize"}
    tap({("dgop", "ok"), ("dgout", "denied")} <= decided, "both decisions are in %s" % AUDIT, decided)
    r = run(["/usr/bin/diagint", "audit", "verify", AUDIT], check=False, env=clean_env())
    tap(r.returncode == 0, "the audit chain verifies with the PAM module's and the CLI's records", r.stdout + r.stderr)

    # The same packages installed twice.
    r = apt_install(new_debs, "--reinstall")
    tap("# local edit: kept across upgrades" in open("/etc/pam.d/diagint").read(),
        "installed twice: fine, the conffile edit kept")

    # Purge: what the packages made goes, the evidence stays.
    lv.stop()
    made["lv"] = None
    made["listener"].close()
    made["listener"] = None
    for user in made["users"]:
        run(["userdel", user], check=False)
    made["users"] = []
    r = run(["apt-get", "purge", "-y", "-q"] + PACKAGES, env=clean_env())
    out = r.stdout + r.stderr
    gone = [p for p in ("/usr/bin/diagint", "/etc/pam.d/diagint", "/etc/libvirt/hooks/qemu.d/diagint",
                        "/usr/lib/collectd/diagint.so", STATE, "/run/diagint") if os.path.lexists(p)]
    tap(not gone, "purge removes what the packages made", gone)
    try:
        grp.getgrnam("diagint")
        tap(False, "purge removes the (empty) group diagint")
    except KeyError:
        tap(True, "purge removes the (empty) group diagint")
    tap(os.path.isfile(dump) and os.path.isfile(AUDIT) and "evidence is kept" in out,
        "purge keeps the dumps and the audit log, and says so", out)


def cleanup(made, selections):
    if made.get("lv"):
        made["lv"].stop()
    if made.get("listener"):
        made["listener"].close()
    if made.get("lab"):
        made["lab"].stop()
    for user in made.get("users", []):
        subprocess.run(["userdel", user], capture_output=True)
    if made.get("sudoers") and os.path.exists(made["sudoers"]):
        os.unlink(made["sudoers"])
    env = clean_env()
    installed = [p for p in PACKAGES if "ok installed" in subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True).stdout]
    if installed:
        subprocess.run(["apt-get", "purge", "-y", "-q"] + installed, capture_output=True, env=env)
    # Packages apt pulled in for ours: back out, so the machine is as it was.
    now = run(["dpkg", "--get-selections"]).stdout
    before = {line.split()[0] for line in selections.splitlines() if line.strip()}
    extra = [line.split()[0] for line in now.splitlines() if line.strip() and line.split()[0] not in before]
    if extra:
        subprocess.run(["apt-get", "purge", "-y", "-q"] + extra, capture_output=True, env=env)
    # The evidence purge kept, and the config the test copied: ours, made by this test.
    for path in ("/var/lib/diagint", "/var/log/diagint", "/etc/diagint", "/run/diagint"):
        shutil.rmtree(path, ignore_errors=True)
    if os.path.exists("/run/diagint/watch.sock"):
        os.unlink("/run/diagint/watch.sock")
    subprocess.run(["groupdel", "diagint"], capture_output=True)
    left = [p for p in OWNED if os.path.lexists(p)]
    after = run(["dpkg", "--get-selections"]).stdout
    tap(not left and after == selections, "the machine is as the test found it", (left, set(after.splitlines()) ^
                                                                                 set(selections.splitlines())))
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    failed = main()
    print("1..%d" % N, flush=True)
    print("# %d steps, %d failed" % (N, FAILED), flush=True)
    sys.exit(1 if failed else 0)
