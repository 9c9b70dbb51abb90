"""Fleet brakes (issue 15) against a REAL 3-member etcd cluster on loopback (tests/lab/etcdlab.py), with the
loopback cloud lab (tests/cloudlab) counting interrupt requests server-side: two `diagint send` at once -> exactly
one interrupt; the same with one member killed; quorum lost -> a person's command warns and records it,
--require-fleet / RequireFleet refuse with 5; a claim ends with its cooldown lease; fleet-wide action slots; the
published storm view and its lease; TLS with client certificates. Without etcd: a visible skip, a failure under
DIAGINT_REQUIRE_GUEST=1."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cloudlab"))
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import etcdlab  # noqa: E402

etcdlab.require_etcd_or_skip()
import cloudlab  # noqa: E402
from cloudlab import AWS_KEY, AWS_SECRET, AWS_TOKEN  # noqa: E402

LAB = ETCD = TMP = None
SEQ = [0]


def build_dir():
    return os.environ.get("DG_BUILD_DIR", os.path.join(HERE, "..", "..", "build"))


def diagint_bin():
    return os.path.join(build_dir(), "cli", "diagint")


def fleet_tool():
    return os.path.join(build_dir(), "bench", "fleet_tool")


def setUpModule():
    global LAB, ETCD, TMP
    TMP = tempfile.mkdtemp(prefix="diagint-fleet-")
    LAB = cloudlab.Lab(TMP).start()
    os.makedirs(os.path.join(TMP, "etcd"))
    ETCD = etcdlab.Cluster(os.path.join(TMP, "etcd")).start()


def tearDownModule():
    if ETCD:
        ETCD.stop()
    if LAB:
        LAB.stop()
    shutil.rmtree(TMP, ignore_errors=True)


def instance():
    SEQ[0] += 1
    return "i-0f1ee7%011d" % SEQ[0]


class Fleet(unittest.TestCase):
    cluster = None  # the module's cluster unless a class brings its own

    def setUp(self):
        self.etcd = self.cluster or ETCD
        self.home = tempfile.mkdtemp(dir=TMP)
        self.env = LAB.env(self.home)
        self.env.update(AWS_ACCESS_KEY_ID=AWS_KEY, AWS_SECRET_ACCESS_KEY=AWS_SECRET, AWS_SESSION_TOKEN=AWS_TOKEN)
        self.audit = self.env["DIAGINT_AUDIT_LOG"]
        self.conf = self.etcd.config(os.path.join(self.home, "diagint.conf"), watch="Cooldown = 1h\n")

    def tearDown(self):
        # Whatever a test killed comes back for the next one.
        dead = [i for i in range(self.etcd.n) if self.etcd.procs[i] is None]
        for i in dead:
            self.etcd.start_member(i)
        if dead:
            self.etcd.wait_healthy(30)

    def send_async(self, target, *extra, conf=None):
        return subprocess.Popen([diagint_bin(), "send", "--config", conf or self.conf] + list(extra) + [target],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)

    def send(self, target, *extra, conf=None):
        p = self.send_async(target, *extra, conf=conf)
        out, err = p.communicate(timeout=60)
        return p.returncode, out, err

    def records(self):
        with open(self.audit) as f:
            return [json.loads(line) for line in f if line.strip()]

    def outcome_records(self, action="send"):
        return [r for r in self.records() if r.get("action") == action]

    def two_at_once(self, target):
        ps = [self.send_async(target), self.send_async(target)]
        res = [(p.wait(timeout=60), p.stdout.read(), p.stderr.read()) for p in ps]
        for p in ps:
            p.stdout.close()
            p.stderr.close()
        return sorted(res, key=lambda r: r[0])

    def leader(self):
        st = json.loads(self.etcd.etcdctl("endpoint", "status", "-w", "json").stdout)
        for k, s in enumerate(st):
            if s["Status"]["leader"] == s["Status"]["header"]["member_id"]:
                return self.etcd.endpoints.index(s["Endpoint"])
        self.fail("no leader")


class Claims(Fleet):
    def test_two_sends_at_once_one_interrupt(self):
        inst = instance()
        (rc0, out0, err0), (rc1, out1, err1) = self.two_at_once("aws:us-east-1/" + inst)
        self.assertEqual((rc0, rc1), (0, 6), (out0, err0, out1, err1))
        self.assertEqual(LAB.count("aws.interrupt", inst), 1)
        self.assertRegex(out1, r"refused by the fleet brakes: claimed by cli:[^ ]+ at \d{4}-\d\d-\d\dT")
        # The loser's refusal is in the audit log with the holder; the winner's success names its claim.
        recs = self.outcome_records()
        self.assertEqual(sorted(r["result"]["status"] for r in recs), ["failed", "ok"], recs)
        refused = [r for r in recs if r["result"]["status"] == "failed"][0]
        self.assertIn("refused by the fleet brakes: claimed by cli:", refused["result"]["error"])
        self.assertIn("fleet: claimed by cli:", refused["evidence"])
        ok = [r for r in recs if r["result"]["status"] == "ok"][0]
        self.assertIn("fleet claim on aws:us-east-1/%s taken by cli:" % inst, ok["evidence"])
        self.assertIn("/diagint/claims/aws:us-east-1/" + inst, self.etcd.keys("/diagint/claims/"))

    def test_libvirt_send_at_once_one_wins(self):
        # libvirt's test driver takes the NMI; the claim decides who sends it.
        dom = "libvirt:test"
        self.env["LIBVIRT_DEFAULT_URI"] = "test:///default"
        conf = self.etcd.config(os.path.join(self.home, "lv.conf"), extra="KeyPrefix = /lv%d/\n" % SEQ[0],
                                watch="Cooldown = 1h\n")
        ps = [self.send_async(dom, "-c", "test:///default", conf=conf) for _ in range(2)]
        rcs = sorted(p.wait(timeout=60) for p in ps)
        outs = [p.stdout.read() + p.stderr.read() for p in ps]
        for p in ps:
            p.stdout.close()
            p.stderr.close()
        self.assertEqual(rcs, [0, 6], outs)

    def test_inject_at_once_one_wins(self):
        conf = self.etcd.config(os.path.join(self.home, "inj.conf"), extra="KeyPrefix = /inj%d/\n" % SEQ[0],
                                watch="Cooldown = 1h\n")
        cmd = [diagint_bin(), "inject", "--config", conf, "--no-capture", "--timeout", "1", "-c", "test:///default",
               "test"]
        ps = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)
              for _ in range(2)]
        res = sorted((p.wait(timeout=60), p.stdout.read() + p.stderr.read()) for p in ps)
        for p in ps:
            p.stdout.close()
            p.stderr.close()
        self.assertEqual([r[0] for r in res], [0, 6], res)
        self.assertIn("NMI sent to test", res[0][1])
        self.assertRegex(res[1][1], r"libvirt:test refused by the fleet brakes: claimed by cli:\S+ at .* for inject")
        recs = self.outcome_records("inject")
        self.assertEqual(sorted(r["result"]["status"] for r in recs), ["failed", "ok"], recs)
        ok = [r for r in recs if r["result"]["status"] == "ok"][0]
        # The NMI's evidence and the fleet's answer are both kept.
        self.assertRegex(ok["evidence"], r"^nmi sent; panic not seen; fleet: fleet claim on libvirt:test taken by cli:")

    def test_second_send_later_is_refused_then_the_lease_ends_it(self):
        conf = self.etcd.config(os.path.join(self.home, "short.conf"), watch="Cooldown = 3s\n")
        inst = instance()
        rc, out, err = self.send("aws:us-east-1/" + inst, conf=conf)
        self.assertEqual(rc, 0, out + err)
        rc, out, err = self.send("aws:us-east-1/" + inst, conf=conf)
        self.assertEqual(rc, 6, out + err)
        self.assertIn("fleet cooldown until", out)
        time.sleep(4.5)  # the 3 s lease, etcd's expiry sweep (500 ms), and margin
        self.assertEqual(self.etcd.keys("/diagint/claims/aws:us-east-1/" + inst), [])
        rc, out, err = self.send("aws:us-east-1/" + inst, conf=conf)
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(LAB.count("aws.interrupt", inst), 2)

    def test_a_monitor_killed_after_claiming_blocks_no_longer_than_the_cooldown(self):
        target = "libvirt:crashed-monitor-%d" % SEQ[0]
        p = subprocess.run([fleet_tool(), self.conf, "claim", "mon-dies", target, "3"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)  # it claimed and exited without giving the claim back
        p = subprocess.run([fleet_tool(), self.conf, "claim", "mon-b", target, "3"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 6, p.stderr)
        self.assertTrue(p.stdout.startswith("claimed mon-dies "), p.stdout)
        time.sleep(4.5)
        p = subprocess.run([fleet_tool(), self.conf, "claim", "mon-b", target, "3"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_target_not_found_gives_the_claim_back(self):
        self.env["LIBVIRT_DEFAULT_URI"] = "test:///default"
        rc, out, err = self.send("libvirt:no-such-domain", "-c", "test:///default")
        self.assertEqual(rc, 4, out + err)
        self.assertEqual(self.etcd.keys("/diagint/claims/libvirt:no-such-domain"), [])

    def test_fleet_wide_action_slots(self):
        pre = "slot%d" % SEQ[0]
        conf = self.etcd.config(os.path.join(self.home, "slots.conf"), extra="KeyPrefix = /%s/\n" % pre)
        got = []
        for k in range(3):
            p = subprocess.run([fleet_tool(), conf, "claim", "mon-%d" % k, "t%d" % k, "60", "2", "60"],
                               capture_output=True, text=True)
            got.append(p.stdout.split()[0] if p.stdout else p.stderr)
        self.assertEqual(got, ["won", "won", "rate"])
        self.assertEqual(self.etcd.keys("/%s/actions/" % pre), ["/%s/actions/0" % pre, "/%s/actions/1" % pre])


class Failures(Fleet):
    def test_one_member_killed_still_exactly_one(self):
        self.etcd.kill(self.leader())
        inst = instance()
        (rc0, out0, err0), (rc1, out1, err1) = self.two_at_once("aws:us-east-1/" + inst)
        self.assertEqual((rc0, rc1), (0, 6), (out0, err0, out1, err1))
        self.assertEqual(LAB.count("aws.interrupt", inst), 1)
        self.assertNotIn("could not be consulted", err0 + err1)

    def test_quorum_lost(self):
        leader = self.leader()
        self.etcd.kill(leader)
        self.etcd.kill((leader + 1) % 3)
        inst = instance()
        # --require-fleet: refused with 5 after CommandTimeout (3 s here), nothing sent.
        t0 = time.monotonic()
        rc, out, err = self.send("aws:us-east-1/" + inst, "--require-fleet")
        self.assertEqual(rc, 5, out + err)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertIn("fleet brakes are required (--require-fleet) and could not be consulted", out)
        self.assertIn("no quorum, or unreachable", out)
        self.assertEqual(LAB.count("aws.interrupt", inst), 0)
        # RequireFleet = yes does the same.
        conf = self.etcd.config(os.path.join(self.home, "req.conf"), extra="RequireFleet = yes\n")
        rc, out, err = self.send("aws:us-east-1/" + inst, conf=conf)
        self.assertEqual(rc, 5, out + err)
        self.assertIn("RequireFleet = yes", out)
        self.assertEqual(LAB.count("aws.interrupt", inst), 0)
        # A person's command goes on, says so, and the audit record keeps why.
        rc, out, err = self.send("aws:us-east-1/" + inst)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("warning: fleet brakes could not be consulted", err)
        self.assertEqual(LAB.count("aws.interrupt", inst), 1)
        ok = [r for r in self.outcome_records() if r["result"]["status"] == "ok"]
        self.assertEqual(len(ok), 1)
        self.assertIn("fleet brakes could not be consulted: fleet brakes unavailable", ok[0]["evidence"])
        # What an automatic caller sees: DG_UNAVAILABLE (5), never a verdict to act on.
        p = subprocess.run([fleet_tool(), self.conf, "claim", "watch@kvm7", "libvirt:auto", "60"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 5, p.stdout + p.stderr)
        self.assertEqual(p.stdout, "")

    def test_unreachable_etcd_is_unavailable(self):
        conf = self.etcd.config(os.path.join(self.home, "none.conf"),
                                endpoints=["http://127.0.0.1:%d" % LAB.closed_port()])
        inst = instance()
        rc, out, err = self.send("aws:us-east-1/" + inst, "--require-fleet", conf=conf)
        self.assertEqual(rc, 5, out + err)
        self.assertEqual(LAB.count("aws.interrupt", inst), 0)

    def test_no_fleet_section_changes_nothing(self):
        conf = os.path.join(self.home, "plain.conf")
        with open(conf, "w") as f:
            f.write("[capture]\nFormat = elf\n")
        inst = instance()
        rc, out, err = self.send("aws:us-east-1/" + inst, "--require-fleet", conf=conf)
        self.assertEqual(rc, 0, out + err)
        self.assertNotIn("fleet", out + err)


class Storm(Fleet):
    def test_published_view_counts_and_expires_with_its_monitor(self):
        pre = "storm%d" % SEQ[0]
        conf = self.etcd.config(os.path.join(self.home, "storm.conf"), extra="KeyPrefix = /%s/\n" % pre)
        # Two monitors publish 300 watched targets each, 30 and 0 of them suspect; one holds its lease, one dies.
        holder = subprocess.Popen([fleet_tool(), conf, "publish", "mon-a", "300", "30", "3", "1", "60"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        p = subprocess.run([fleet_tool(), conf, "publish", "mon-b", "300", "0", "3", "1"], capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            c = subprocess.run([fleet_tool(), conf, "counts", "x"], capture_output=True, text=True).stdout
            if c.startswith("watched 300 "):
                break
            time.sleep(0.1)
        # mon-b exited cleanly: its lease was revoked, its 300 entries are gone; mon-a's 300 + 30 stay.
        self.assertEqual(c.strip(), "watched 300 suspect 30")
        holder.send_signal(signal.SIGKILL)
        holder.communicate()
        time.sleep(4.5)  # mon-a's 3 s lease ends: a dead monitor's view expires
        c = subprocess.run([fleet_tool(), conf, "counts", "x"], capture_output=True, text=True).stdout
        self.assertEqual(c.strip(), "watched 0 suspect 0")


class Tls(Fleet):
    @classmethod
    def setUpClass(cls):
        d = os.path.join(TMP, "etcd-tls")
        os.makedirs(d)
        cls.cluster = etcdlab.Cluster(d, tls=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def test_client_certificates(self):
        inst = instance()
        (rc0, out0, err0), (rc1, out1, err1) = self.two_at_once("aws:us-east-1/" + inst)
        self.assertEqual((rc0, rc1), (0, 6), (out0, err0, out1, err1))
        self.assertEqual(LAB.count("aws.interrupt", inst), 1)

    def test_untrusted_server_is_a_configuration_error(self):
        # The cloud lab's CA did not sign etcd's certificate: a TLS failure is never "etcd unavailable, go on".
        conf = self.etcd.config(os.path.join(self.home, "badca.conf"))
        with open(conf) as f:
            text = f.read().replace(self.etcd.tls["ca"], LAB.cacert)
        with open(conf, "w") as f:
            f.write(text)
        inst = instance()
        rc, out, err = self.send("aws:us-east-1/" + inst, conf=conf)
        self.assertEqual(rc, 2, out + err)
        self.assertIn("TLS", out + err)
        self.assertEqual(LAB.count("aws.interrupt", inst), 0)

    def test_password_needs_a_private_file(self):
        conf = self.etcd.config(os.path.join(self.home, "pw.conf"), extra="User = diagint\nPassword = s3cret\n")
        os.chmod(conf, 0o644)
        rc, out, err = self.send("aws:us-east-1/" + instance(), conf=conf)
        self.assertEqual(rc, 2, out + err)
        self.assertIn("chmod 600", err)
        self.assertNotIn("s3cret", out + err)


class Auth(Fleet):
    """etcd's own access control: User/Password, and a role that may write only under KeyPrefix."""

    @classmethod
    def setUpClass(cls):
        d = os.path.join(TMP, "etcd-auth")
        os.makedirs(d)
        c = cls.cluster = etcdlab.Cluster(d, tls=True, client_cn=None).start()
        for args in (["user", "add", "root", "--new-user-password=root-pw"], ["role", "add", "diagint"],
                     ["role", "grant-permission", "diagint", "--prefix=true", "readwrite", "/diagint/"],
                     ["user", "add", "diagint", "--new-user-password=diagint-pw"],
                     ["user", "grant-role", "diagint", "diagint"], ["auth", "enable"]):
            p = c.etcdctl(*args)
            if p.returncode:
                c.stop()  # tearDownClass does not run when setUpClass fails
                raise RuntimeError("etcdctl %s: %s" % (args, p.stderr))

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def config(self, name, password="diagint-pw", extra=""):
        return self.etcd.config(os.path.join(self.home, name),
                                extra="User = diagint\nPassword = %s\n%s" % (password, extra))

    def test_user_password_one_interrupt(self):
        self.conf = self.config("auth.conf")
        inst = instance()
        (rc0, out0, err0), (rc1, out1, err1) = self.two_at_once("aws:us-east-1/" + inst)
        self.assertEqual((rc0, rc1), (0, 6), (out0, err0, out1, err1))
        self.assertEqual(LAB.count("aws.interrupt", inst), 1)
        self.assertNotIn("diagint-pw", out0 + err0 + out1 + err1)

    def test_wrong_password_is_denied_not_bypassed(self):
        inst = instance()
        rc, out, err = self.send("aws:us-east-1/" + inst, conf=self.config("bad.conf", password="nope"))
        self.assertEqual(rc, 3, out + err)
        self.assertIn("refused user diagint", out + err)
        self.assertNotIn("nope", out + err)
        self.assertEqual(LAB.count("aws.interrupt", inst), 0)

    def test_role_without_the_prefix_is_denied(self):
        inst = instance()
        rc, out, err = self.send("aws:us-east-1/" + inst, conf=self.config("other.conf", extra="KeyPrefix = /other/\n"))
        self.assertEqual(rc, 3, out + err)
        self.assertIn("permission denied", out + err)
        self.assertEqual(LAB.count("aws.interrupt", inst), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
