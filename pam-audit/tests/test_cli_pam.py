"""diagint's authorization step end to end: the real CLI binary, real Linux-PAM running pam_diagint.so, under
pam_wrapper (private service files), nss_wrapper (private users and groups) and uid_wrapper (uid 0 without
privilege, as under sudo). No libvirt: the connection goes to a socket that does not exist, so an allowed command
fails with status 5 after the decision, and a denied one never gets that far."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

BUILD = os.environ.get("DG_BUILD_DIR", "")
DIAGINT = os.path.join(BUILD, "cli", "diagint")
NOWHERE = "qemu:///system?socket=/nonexistent/diagint-pam-test.sock"
REDIRECTING = {"GOOGLE_APPLICATION_CREDENTIALS", "GCE_METADATA_HOST", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
               "SSL_CERT_FILE", "SSL_CERT_DIR", "TMPDIR", "LIBVIRT_DEFAULT_URI", "http_proxy", "https_proxy",
               "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"}


def wrapped_env(log, service_dir=None, root=True, **extra):
    # As sudo's env_reset leaves it: nothing that picks an endpoint, a CA or a proxy (under sudo each would be an
    # operator's choice that PAM must grant), HOME root's.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUDO_", "DIAGINT_")) and k not in REDIRECTING
           and not k.startswith(("AWS_", "OS_", "OCI_", "CLOUDSDK_"))}
    env["HOME"] = "/root"
    preload = ["libpam_wrapper.so", "libnss_wrapper.so"] + (["libuid_wrapper.so"] if root else [])
    env.update(LD_PRELOAD=":".join(preload), PAM_WRAPPER="1",
               PAM_WRAPPER_SERVICE_DIR=service_dir or os.environ["DG_PAM_SERVICE_DIR_CLI"],
               PAM_WRAPPER_DEBUGLEVEL="0", DIAGINT_AUDIT_LOG=log)
    if root:
        env.update(UID_WRAPPER="1", UID_WRAPPER_ROOT="1")
    env.update(extra)
    return env


def records(log):
    if not os.path.exists(log):
        return []
    with open(log) as f:
        return [json.loads(line) for line in f]


class CliPam(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="dg-cli-pam-")
        self.log = os.path.join(self.dir, "audit.jsonl")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_cli(self, *args, env):
        return subprocess.run([DIAGINT] + list(args), capture_output=True, text=True, timeout=60, env=env,
                              stdin=subprocess.DEVNULL)

    def test_allowed_under_sudo(self):
        env = wrapped_env(self.log, SUDO_USER="alice", SSH_CONNECTION="192.0.2.44 50000 192.0.2.1 22")
        r = self.run_cli("inject", "-c", NOWHERE, "web-1", env=env)
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertIn("cannot connect to libvirt", r.stderr, "allowed: it went on to libvirt")
        recs = records(self.log)
        self.assertEqual([(x["actor"]["component"], x["action"], x["result"]["status"]) for x in recs],
                         [("pam", "authorize", "ok"), ("pam", "session", "ok"), ("cli", "authorize", "ok"),
                          ("cli", "inject", "failed")])
        for rec in recs:
            self.assertEqual(rec["actor"]["user"], "alice", "the person behind sudo, not root")
            self.assertEqual(rec["actor"]["ruser"], "alice")
            self.assertEqual(rec["actor"]["rhost"], "192.0.2.44")
            self.assertEqual(rec["actor"]["service"], "diagint")
            self.assertEqual(rec["target"], "libvirt:web-1")
        self.assertIn("matches libvirt:web-*", recs[0]["reason"])
        self.assertIn("cannot connect to libvirt", recs[3]["result"]["error"])
        self.assertEqual(recs[3]["result"]["attempts"], 1)
        v = self.run_cli("audit", "verify", "--json", env=env)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.assertEqual(json.loads(v.stdout)["records"], 4, "module and CLI wrote one chain")

    def test_denied_user_outside_group(self):
        env = wrapped_env(self.log, SUDO_USER="bob")
        r = self.run_cli("capture", "-c", NOWHERE, "web-1", env=env)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("bob may not capture libvirt:web-1", r.stderr)
        self.assertNotIn("libvirt at", r.stderr, "denied before any connection")
        self.assertEqual(r.stderr.count("\n"), 1, "one-line error")
        recs = records(self.log)
        self.assertEqual([(x["actor"]["component"], x["action"], x["result"]["status"]) for x in recs],
                         [("pam", "authorize", "denied"), ("cli", "authorize", "denied")])
        self.assertIn("not in group diagint-ops", recs[0]["reason"])
        self.assertIn("account step", recs[1]["reason"])

    def test_denied_target(self):
        env = wrapped_env(self.log, SUDO_USER="alice")
        r = self.run_cli("inject", "-c", NOWHERE, "db-1", env=env)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(records(self.log)[0]["target"], "libvirt:db-1")
        self.assertIn("matches none of libvirt:web-*", records(self.log)[0]["reason"])

    def test_no_service_root_direct_allowed(self):
        empty = os.path.join(self.dir, "no-pam.d")
        os.makedirs(empty)
        env = wrapped_env(self.log, service_dir=empty)
        r = self.run_cli("inject", "-c", NOWHERE, "anything", env=env)
        self.assertEqual(r.returncode, 5, r.stderr)
        rec = records(self.log)[0]
        self.assertEqual((rec["actor"]["user"], rec["result"]["status"]), ("root", "ok"))
        self.assertIn("root acting directly", rec["reason"])

    def test_no_service_sudo_user_denied(self):
        empty = os.path.join(self.dir, "no-pam.d")
        os.makedirs(empty)
        env = wrapped_env(self.log, service_dir=empty, SUDO_USER="alice")
        r = self.run_cli("inject", "-c", NOWHERE, "web-1", env=env)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("/etc/pam.d/diagint", r.stderr, "the message says what to install")
        self.assertEqual(records(self.log)[0]["result"]["status"], "denied")

    def test_audit_log_option_everywhere(self):
        other = os.path.join(self.dir, "other.jsonl")
        env = wrapped_env(self.log, SUDO_USER="alice")
        r = self.run_cli("--audit-log", other, "inject", "-c", NOWHERE, "web-2", env=env)
        self.assertEqual(r.returncode, 5, r.stderr)
        r = self.run_cli("inject", "--audit-log=" + other, "-c", NOWHERE, "web-3", env=env)
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertEqual(records(self.log), [], "--audit-log wins over $DIAGINT_AUDIT_LOG")
        self.assertEqual(len(records(other)), 8, "module and CLI followed --audit-log, twice")
        r = self.run_cli("audit", "list", "--audit-log", other, "--target", "libvirt:web-3", "--json", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(json.loads(r.stdout)), 4)
        r = self.run_cli("inject", "--audit-log", env=env)
        self.assertEqual(r.returncode, 2)

    def test_unwritable_log_refuses(self):
        ro = os.path.join(self.dir, "ro")
        os.makedirs(ro)
        log = os.path.join(ro, "sub", "audit.jsonl")
        open(os.path.join(ro, "sub"), "w").close()  # a file where the directory should be
        env = wrapped_env(log, SUDO_USER="alice")
        r = self.run_cli("inject", "-c", NOWHERE, "web-1", env=env)
        self.assertIn(r.returncode, (2, 3), r.stderr)
        self.assertIn("audit log", r.stderr)
        self.assertNotIn("libvirt at", r.stderr, "an interrupt that cannot be recorded does not happen")



class SudoBoundary(unittest.TestCase):
    """Under sudo the operator chooses the target; root's configuration chooses where things run, go and are
    written. The test service grants overrides=uri only (its tests need a private libvirt socket)."""
    setUp = CliPam.setUp
    tearDown = CliPam.tearDown
    run_cli = CliPam.run_cli

    def test_command_destination_denied(self):
        env = wrapped_env(self.log, SUDO_USER="alice")
        r = self.run_cli("capture", "-c", NOWHERE, "--dest", "|id > %s/ran" % self.dir, "web-1", env=env)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("may not choose the dest under sudo", r.stderr)
        self.assertIn("overrides=dest", r.stderr, "the message names the way to allow it")
        self.assertFalse(os.path.exists(os.path.join(self.dir, "ran")), "the command never ran")
        rec = records(self.log)[-1]
        self.assertEqual((rec["actor"]["component"], rec["result"]["status"]), ("cli", "denied"))
        self.assertIn("dest=|id", rec["evidence"], "what the operator chose is on record")

    def test_config_and_dump_dir_denied(self):
        env = wrapped_env(self.log, SUDO_USER="alice")
        conf = os.path.join(self.dir, "operator.conf")
        open(conf, "w").close()
        for opt in (["--config", conf], ["--dump-dir", self.dir]):
            r = self.run_cli("inject", "-c", NOWHERE, *opt, "web-1", env=env)
            self.assertEqual(r.returncode, 3, (opt, r.stderr))
            self.assertNotIn("libvirt at", r.stderr, "denied before any connection")

    def test_operator_config_is_not_read_before_pam(self):
        env = wrapped_env(self.log, SUDO_USER="alice")
        r = self.run_cli("inject", "-c", NOWHERE, "--config", "/etc/shadow", "web-1", env=env)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("may not choose the config", r.stderr, "PAM decides first")
        self.assertNotIn("shadow:", r.stderr.replace("/etc/shadow", ""), "nothing of the file is shown")

    def test_endpoint_variables_denied(self):
        for var, value in (("AWS_ENDPOINT_URL_EC2", "https://127.0.0.1:9/"), ("AWS_CA_BUNDLE", "/tmp/ca.pem"),
                           ("HTTPS_PROXY", "http://127.0.0.1:9"), ("LIBVIRT_DEFAULT_URI", NOWHERE)):
            env = wrapped_env(self.log, SUDO_USER="alice", **{var: value})
            r = self.run_cli("inject", "-c", NOWHERE, "web-1", env=env)
            self.assertEqual(r.returncode, 3, (var, r.stderr))
            self.assertIn(var, r.stderr, "the message names the variable")

    def test_commands_without_pam_take_no_overrides(self):
        env = wrapped_env(self.log, SUDO_USER="alice")
        for argv in (["doctor", "--endpoint", "https://127.0.0.1:9/", "aws:us-east-1/i-0123456789abcdef0"],
                     ["doctor", "-c", NOWHERE, "libvirt:web-1"], ["dumps", "--dump-dir", self.dir, "list"],
                     ["audit", "verify", "/etc/shadow"], ["audit", "verify", "--key-file", "/etc/shadow"]):
            r = self.run_cli(*argv, env=env)
            self.assertEqual(r.returncode, 3, (argv, r.stdout, r.stderr))
            self.assertIn("under sudo", r.stderr, argv)
        # The same as root acting directly: every choice is root's own.
        r = self.run_cli("dumps", "--dump-dir", self.dir, "list", env=wrapped_env(self.log))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_pam_wrapper_variables_alone_change_nothing(self):
        """PAM_WRAPPER_SERVICE_DIR names a permissive service, but pam_wrapper is not loaded: the machine's PAM
        decides (here: no /etc/pam.d/diagint, so a user who is not root is denied)."""
        if os.path.exists("/etc/pam.d/diagint") or os.path.exists("/usr/lib/pam.d/diagint"):
            self.skipTest("this machine has a diagint PAM service installed")
        permissive = os.path.join(self.dir, "pam.d")
        os.makedirs(permissive)
        with open(os.path.join(permissive, "diagint"), "w") as f:
            f.write("auth required pam_permit.so\naccount required pam_permit.so\nsession required pam_permit.so\n")
        env = {k: v for k, v in wrapped_env(self.log, root=False).items() if k != "LD_PRELOAD"}
        env.update(PAM_WRAPPER="1", PAM_WRAPPER_SERVICE_DIR=permissive)
        cmd = [DIAGINT, "inject", "-c", NOWHERE, "web-1"]
        if os.geteuid() == 0:
            os.chmod(self.dir, 0o777)
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("no PAM service diagint is installed", r.stderr)


if __name__ == "__main__":
    if not os.path.exists(DIAGINT):
        print("1..0 # SKIP diagint not built at %s" % DIAGINT)
        sys.exit(77)
    unittest.main(verbosity=2)
