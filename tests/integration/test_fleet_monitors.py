"""Fleet brakes (issue 15) in the automatic monitors, through the responder: a REAL 3-member etcd on loopback
(tests/lab/etcdlab.py, one cluster per class), real collectd 5.12 with diagint.so against the loopback cloud lab
(interrupt requests counted server-side), real `diagint watch` processes with real QEMU guests under private
libvirtds (NMIs counted by the guest's own console).

  collectd: two instances with identical targets, one silent host -> exactly one interrupt, the loser's refusal
            names the holder (over etcd with TLS client certificates); one etcd member killed -> still exactly
            one; quorum lost -> no interrupt and a message that says why, then one once quorum is back; the
            winner killed (SIGKILL) -> its claim ends with its lease: the other acts after the cooldown, not
            before, not later.
  watcher:  two watchers on one libvirtd -> one NMI (the console's count) and one dump; the guest re-created
            under another private libvirtd with the same UUID and hung again inside the cooldown -> refused by
            the first claim, named in the log and the audit record.

Prerequisites missing (etcd, collectd, the guest): a visible skip, a failure under DIAGINT_REQUIRE_GUEST=1."""
import json
import os
import re
import signal
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import etcdlab  # noqa: E402

etcdlab.require_etcd_or_skip()
import diaglab  # noqa: E402
import watchlab  # noqa: E402

diaglab.require_guest_or_skip()
import test_collectd as tc  # noqa: E402  (skips or fails the same way without collectd)

SEQ = [0]


def setUpModule():
    tc.setUpModule()


def tearDownModule():
    tc.tearDownModule()


def fleet_block(cluster, monitor, extra=""):
    lines = ["  <Fleet>", "    Endpoints " + " ".join('"%s"' % e for e in cluster.endpoints),
             "    DialTimeout 0.5", "    CommandTimeout 3", '    Monitor "%s"' % monitor]
    if cluster.tls:
        lines += ['    CACert "%s"' % cluster.tls["ca"], '    Cert "%s"' % cluster.tls["client_cert"],
                  '    Key "%s"' % cluster.tls["client_key"]]
    return "\n".join(lines) + "\n" + extra + "  </Fleet>\n"


def targets(base, n):
    """n targets web-1..n interrupting instances of their own (base: one series per test, so claims left by an
    earlier test never meet a later one)."""
    return "".join('  <Target "web-%d">\n    Host "web-%d"\n    Interrupt "aws:us-east-1/%s"\n    Detect "missing"\n'
                   '    Hits 1\n  </Target>\n' % (i, i, inst(base, i)) for i in range(1, n + 1))


def inst(base, i):
    return "i-%017x" % (0xf1ee7000 + base * 16 + i)


class CollectdPair(unittest.TestCase):
    """Two collectd instances with identical diagint targets, each its own state file and audit log, one fleet."""
    tls = False
    cluster = None

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="etcd-", dir=tc.TMP)
        cls.cluster = etcdlab.Cluster(cls.dir, tls=cls.tls).start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def setUp(self):
        tc.LAB.reset()
        SEQ[0] += 1
        self.base = SEQ[0]
        self.cds = []

    def tearDown(self):
        for cd in self.cds:
            cd.stop()
        dead = [i for i in range(self.cluster.n) if self.cluster.procs[i] is None]
        for i in dead:
            self.cluster.start_member(i)
        if dead:
            self.cluster.wait_healthy(30)

    def start_pair(self, cooldown=600, n=4):
        policy = "  Cooldown %d\n  MaxActions 10\n  ActionWindow 600\n  MaxUnhealthyPercent 80\n" % cooldown
        for name in ("a", "b"):
            cd = tc.Collectd("fl" + name, policy + targets(self.base, n) + fleet_block(self.cluster, "collectd@" + name))
            self.cds.append(cd)
        for cd in self.cds:
            cd.start()
            self.assertIn("fleet brakes on etcd", cd.log())
        everyone = ["web-%d" % i for i in range(1, n + 1)]
        for cd in self.cds:
            cd.heartbeat(everyone)
        tc.wait_for(lambda: False, 2)
        self.assertEqual(self.interrupts(), 0)
        return everyone

    def interrupts(self, i=None):
        return tc.LAB.count("aws.interrupt", inst(self.base, i) if i else None)

    def hang(self, alive):
        for cd in self.cds:
            cd.heartbeat(alive)

    def records(self, status):
        return [(cd, r) for cd in self.cds for r in cd.records()
                if r["result"]["status"] == status and r["action"] != "authorize"]

    def one_interrupt(self, i, alive, timeout=20):
        """Host i falls silent for both: exactly one interrupt, one "ok" record, one refusal naming the winner."""
        before = self.interrupts()
        self.hang(alive)
        self.assertTrue(tc.wait_for(lambda: self.interrupts(i) >= 1, timeout), "\n".join(c.log() for c in self.cds))
        target = "aws:us-east-1/" + inst(self.base, i)
        self.assertTrue(tc.wait_for(lambda: any(r["target"] == target for _, r in self.records("suppressed")), 10),
                        "\n".join(c.log() for c in self.cds))
        time.sleep(3)  # room for a (wrong) second interrupt: Timeout 2 x Interval 1 plus margin
        self.assertEqual((self.interrupts(i), self.interrupts()), (1, before + 1))
        ok = [(cd, r) for cd, r in self.records("ok") if r["target"] == target]
        self.assertEqual(len(ok), 1, ok)
        winner = ok[0][0]
        loser = [cd for cd in self.cds if cd is not winner][0]
        refused = [r for _, r in self.records("suppressed") if r["target"] == target]
        self.assertEqual(len(refused), 1, "the loser says it once per episode: %s" % refused)
        w = "collectd@a" if winner is self.cds[0] else "collectd@b"
        self.assertRegex(refused[0]["result"]["error"], r"claimed by %s at \d{4}-" % w)
        self.assertIn("not interrupting %s: " % target, loser.log())
        return winner, loser


class CollectdTLS(CollectdPair):
    tls = True

    def test_two_collectd_one_silent_host_one_interrupt_over_tls(self):
        everyone = self.start_pair()
        self.one_interrupt(1, everyone[1:])
        self.assertTrue(self.cluster.endpoints[0].startswith("https://"))
        self.assertIn("/diagint/claims/aws:us-east-1/" + inst(self.base, 1),
                      self.cluster.keys("/diagint/claims/"))
        # Both publish what they watch under their own lease: 2 monitors x 4 targets.
        watched = self.cluster.keys("/diagint/watched/")
        self.assertEqual(len([k for k in watched if inst(self.base, 1) in k]), 2, watched)


class CollectdFleet(CollectdPair):
    def test_member_killed_then_quorum_lost_then_back(self):
        everyone = self.start_pair()
        self.one_interrupt(1, everyone[1:])
        # One member down (the leader or not): the next endpoint answers, still exactly one.
        self.cluster.kill(0)
        self.one_interrupt(2, everyone[2:])
        # Quorum lost: no automatic interrupt, and a message that says why, once, in both.
        self.cluster.kill(1)
        self.hang(everyone[3:])
        def refused(cd):
            return [r for r in cd.records() if r["target"].endswith(inst(self.base, 3))]
        for cd in self.cds:
            self.assertTrue(tc.wait_for(lambda: refused(cd), 30), cd.log())
            self.assertRegex(cd.log(), r"not interrupting aws:us-east-1/%s: fleet brakes could not be consulted"
                             % inst(self.base, 3))
        time.sleep(3)
        self.assertEqual(self.interrupts(3), 0)
        for cd in self.cds:
            recs = [r for r in cd.records() if r["target"].endswith(inst(self.base, 3))]
            self.assertEqual([r["result"]["status"] for r in recs], ["suppressed"], recs)
            self.assertIn("could not be consulted", recs[0]["result"]["error"])
        # Quorum back: the hang still lasts, it is asked again, exactly one interrupt.
        self.cluster.start_member(0)
        self.cluster.start_member(1)
        self.cluster.wait_healthy(30)
        self.assertTrue(tc.wait_for(lambda: self.interrupts(3) >= 1, 30), "\n".join(c.log() for c in self.cds))
        time.sleep(3)
        self.assertEqual(self.interrupts(3), 1)

    def test_instance_not_found_gives_the_claim_back(self):
        # The provider says the instance does not exist: no interrupt happened, so the claim is given back at
        # once (the other monitor may try; it gets the same answer) and nothing stays blocked.
        tc.LAB.script(inst(self.base, 1), [{"status": 400, "code": "InvalidInstanceID.NotFound"}])
        everyone = self.start_pair()
        self.hang(everyone[1:])
        target = "aws:us-east-1/" + inst(self.base, 1)
        self.assertTrue(tc.wait_for(lambda: len([1 for _, r in self.records("failed") if r["target"] == target])
                                    == 2, 30), "\n".join(c.log() for c in self.cds))
        self.assertEqual(self.cluster.keys("/diagint/claims/" + target), [])

    def test_winner_killed_its_claim_ends_with_the_cooldown(self):
        cooldown = 12
        everyone = self.start_pair(cooldown=cooldown)
        t0 = time.monotonic()
        winner, loser = self.one_interrupt(1, everyone[1:])
        winner.proc.send_signal(signal.SIGKILL)  # dies holding the claim and its storm entries
        winner.proc.wait()
        winner.heartbeat_stop()
        # Web-1 stays silent for the loser: refused while the dead monitor's claim lives, acted on when its lease
        # (the cooldown) ends: not blocked beyond it.
        self.assertTrue(tc.wait_for(lambda: self.interrupts(1) >= 2, cooldown + 15), loser.log())
        took = time.monotonic() - t0
        self.assertGreater(took, cooldown - 1, "acted inside the dead monitor's cooldown")
        self.assertLess(took, cooldown + 12, "blocked beyond the cooldown")
        self.cds.remove(winner)
        winner.logf.close()


class Watchers(unittest.TestCase):
    """Two watchers on one private libvirtd, a third on another: one fleet (plain http here; TLS: the collectd
    class above)."""

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="wfl-", dir=tc.TMP)
        cls.cluster = etcdlab.Cluster(os.path.join(cls.work, "etcd") + "/", tls=False)
        os.makedirs(cls.cluster.dir, exist_ok=True)
        cls.cluster.start()
        cls.guest = diaglab.built_guest()
        cls.lvs, cls.watchers = [], []
        try:
            cls.lv1 = cls.libvirtd("lv1")
            cls.lv2 = cls.libvirtd("lv2")
            cls.w = [cls.watcher("a", cls.lv1), cls.watcher("b", cls.lv1), cls.watcher("c", cls.lv2)]
            for w in cls.w:
                w.wait_for(r"fleet brakes on etcd .* as watch@", 20)
                w.wait_for(r"connected to .*subscribed", 20)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for w in cls.watchers:
            w.stop()
        for lv in cls.lvs:
            lv.stop()
        cls.cluster.stop()

    @classmethod
    def path(cls, *p):
        return os.path.join(cls.work, *p)

    @classmethod
    def libvirtd(cls, tag):
        lv = diaglab.PrivateLibvirtd(cls.path(tag))
        cls.lvs.append(lv)
        return lv.start()

    @classmethod
    def watcher(cls, tag, lv):
        os.makedirs(cls.path("dumps-" + tag))
        conf = cls.cluster.config(cls.path("diagint-%s.conf" % tag), extra="Monitor = watch@%s\n" % tag, watch=(
            "StateFile = %s\nSocket = %s\nCooldown = 10m\nMaxActions = 20\nStormMinDomains = 10\n"
            "Heartbeat = diagint-heartbeat\nHeartbeatDomains = fl-*\nHeartbeatInterval = 1\nHeartbeatMisses = 3\n"
            "PanicTimeout = 3\n" % (cls.path("watch-%s.state" % tag), cls.path("watch-%s.sock" % tag))))
        with open(conf, "a") as f:
            f.write("[capture]\nDestination = %s\n" % cls.path("dumps-" + tag))
        w = watchlab.Watcher(cls.path("watch-%s.log" % tag), conf, lv.uri, cls.path("audit-%s.jsonl" % tag), tag=tag)
        cls.watchers.append(w)
        return w

    def records(self, tag):
        try:
            with open(self.path("audit-%s.jsonl" % tag)) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def dumps(self, name):
        return sum((watchlab.dump_files(self.path("dumps-" + t), name) for t in "abc"), [])

    def test_etcd_unreachable_at_start_is_said_and_the_watcher_runs(self):
        conf = self.path("dead.conf")
        with open(conf, "w") as f:
            f.write("[fleet]\nEndpoints = http://127.0.0.1:9 http://127.0.0.1:19\nDialTimeout = 200ms\n"
                    "CommandTimeout = 1s\nMonitor = watch@dead\n[watch]\nStateFile = %s\nSocket = %s\n" % (
                        self.path("dead.state"), self.path("dead.sock")))
        os.chmod(conf, 0o600)
        w = watchlab.Watcher(self.path("watch-dead.log"), conf, self.lv1.uri, self.path("audit-dead.jsonl"), "dead")
        try:
            w.wait_for(r"warning: fleet: etcd does not answer \(.*127\.0\.0\.1:9.*\): no automatic NMI or capture "
                       r"until it does", 20)
            w.wait_for(r"connected to .*subscribed", 20)
        finally:
            self.assertEqual(w.stop(), 0, w.text())

    def test_two_watchers_one_nmi_one_dump_then_recreated_elsewhere_refused(self):
        # A guest that logs each NMI instead of panicking: its console counts every NMI it got.
        uuid = "f1ee7000-0000-4000-8000-0000000000b1"
        con1 = self.path("console-fl-1.log")
        self.lv1.create(diaglab.domain_xml("fl-1", self.guest, con1, uuid=uuid, heartbeat_stop_after=4,
                                           nmi_panics=False))
        a, b, c = self.w
        for w in (a, b):
            w.wait_for(r"fl-1: first heartbeat seen", 60)
        self.assertTrue(diaglab.wait_for_console(con1, "heartbeat stops", 60))
        # One of the two claims, sends the NMI, waits PanicTimeout and captures; the other is refused.
        m = None
        deadline = time.time() + 60
        while time.time() < deadline and not m:
            for w in (a, b):
                m = m or re.search(r"fl-1: sending an NMI", w.text()) and w
            time.sleep(0.2)
        self.assertTrue(m, a.text() + b.text())
        winner, loser = (a, b) if m is a else (b, a)
        loser.wait_for(r"fl-1: refused by the fleet brakes: claimed by watch@%s at \S+ for interrupt" % winner.tag, 20)
        dumps = watchlab.wait_dumps(self.path("dumps-" + winner.tag), "fl-1", 1, 60, winner)
        watchlab.wait_quiet(winner, "fl-1")
        self.assertEqual(diaglab.quiet_nmis(con1), 1, "NMIs on fl-1's console")
        self.assertEqual(self.dumps("fl-1"), [dumps[0], dumps[0] + ".json"], "one dump, from the winner only")
        self.assertEqual(watchlab.audit_actions(self.path("audit-%s.jsonl" % winner.tag), "libvirt:fl-1"),
                         [("inject", "ok")])
        refused = [r for r in self.records(loser.tag) if r["action"] == "inject"]
        self.assertEqual([r["result"]["status"] for r in refused], ["suppressed"], "said once: %s" % refused)
        self.assertIn("claimed by watch@%s at " % winner.tag, refused[0]["reason"])
        self.assertIn("/diagint/claims/libvirt-uuid:" + uuid, self.cluster.keys("/diagint/claims/"))

        # The same guest (same UUID) re-created under another libvirtd, hung again inside the cooldown: its
        # watcher there is refused by the first claim, and says whose.
        self.lv1.virsh("destroy", "fl-1")
        con2 = self.path("console-fl-1b.log")
        self.lv2.create(diaglab.domain_xml("fl-1", self.guest, con2, uuid=uuid, heartbeat_stop_after=4,
                                           nmi_panics=False))
        c.wait_for(r"fl-1: first heartbeat seen", 60)
        c.wait_for(r"fl-1: refused by the fleet brakes: claimed by watch@%s at \S+ for interrupt \(fleet "
                   r"cooldown until " % winner.tag, 40)
        # It keeps asking each interval (it logs the lasting hang), refused each time, said once.
        self.assertEqual(diaglab.quiet_nmis(con2), 0, "no NMI for the re-created guest")
        recs = [r for r in self.records("c") if r["action"] == "inject"]
        self.assertEqual([r["result"]["status"] for r in recs], ["suppressed"], recs)
        self.assertIn("claimed by watch@%s" % winner.tag, recs[0]["reason"])
        self.assertEqual(len(self.dumps("fl-1")), 2, "still the one dump and its sidecar")
        self.lv2.virsh("destroy", "fl-1")


if __name__ == "__main__":
    unittest.main(verbosity=2)
