"""`diagint doctor` on cloud targets against the loopback cloud lab (tests/cloudlab, with doctorlab's read-only
request kinds): ready and unready instances per provider, permission and not-found cases. Every test asserts the
lab saw no interrupt request of any provider: doctor never interrupts. Run with /usr/bin/python3."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cloudlab"))
import cloudlab  # noqa: E402
import doctorlab  # noqa: E402
from cloudlab import AWS_KEY, AWS_SECRET, AWS_TOKEN  # noqa: E402

AWS_I = "i-0123456789abcdef%d"
GCP_T = "gcp:lab-project/us-central1-a/web-%d"
OCI_I = "ocid1.instance.oc1.iad.labinstance%d"
OS_S = "4f2a6c1e-5b7d-4e21-9a0b-3c8d2e1f0a%02d"
LAB = None
TMP = None


def setUpModule():
    global LAB, TMP
    TMP = tempfile.mkdtemp(prefix="diagint-doctorlab-")
    LAB = doctorlab.install(cloudlab.Lab(TMP).start())


def tearDownModule():
    LAB.stop()
    shutil.rmtree(TMP, ignore_errors=True)


def diagint_bin():
    return os.path.join(os.environ.get("DG_BUILD_DIR", os.path.join(HERE, "..", "..", "build")), "cli", "diagint")


class Run:
    def __init__(self, p):
        self.rc, self.out, self.err = p.returncode, p.stdout, p.stderr

    def docs(self):
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def checks(self, i=0):
        return {c["check"]: c for c in self.docs()[i]["checks"]}

    def __repr__(self):
        return "rc=%d\nstdout=%s\nstderr=%s" % (self.rc, self.out, self.err)


class DoctorCloud(unittest.TestCase):
    def setUp(self):
        doctorlab.reset(LAB)
        self.home = tempfile.mkdtemp(dir=TMP)
        self.env = LAB.env(self.home)
        self.env.update(AWS_ACCESS_KEY_ID=AWS_KEY, AWS_SECRET_ACCESS_KEY=AWS_SECRET, AWS_SESSION_TOKEN=AWS_TOKEN)
        self.env["GOOGLE_APPLICATION_CREDENTIALS"] = LAB.write_gcp_service_account()
        self.env["OCI_CLI_CONFIG_FILE"] = LAB.write_oci_config()
        self.env["OCI_CLI_PROFILE"] = "LAB"
        self.env.update(LAB.openstack_env())

    def tearDown(self):
        # The whole point: not one interrupt request reached any provider.
        self.assertEqual(doctorlab.interrupts(LAB), 0, "doctor sent an interrupt")
        self.assertEqual(LAB.failures, [], "every request was properly signed")

    def doctor(self, *args):
        p = subprocess.run([diagint_bin(), "doctor", "--endpoint", "oci=" + LAB.base] + list(args),
                           capture_output=True, text=True, timeout=120, env=self.env)
        r = Run(p)
        for secret in [AWS_SECRET, AWS_TOKEN, cloudlab.OS_PASSWORD] + list(LAB.issued_tokens):
            self.assertNotIn(secret, r.out + r.err)
        return r

    # --- AWS ----------------------------------------------------------------------------------------------
    def test_aws_ready(self):
        r = self.doctor("--json", "aws:us-east-1/" + AWS_I % 1)
        self.assertEqual(r.rc, 0, r)
        c = r.checks()
        self.assertEqual(c["dry-run-interrupt"]["level"], "ok")
        self.assertIn("DryRunOperation", c["dry-run-interrupt"]["message"])
        self.assertEqual(c["instance-state"]["level"], "ok")
        self.assertEqual(c["instance-type"]["level"], "ok")
        self.assertIn("Nitro", c["instance-type"]["message"])
        self.assertEqual(c["guest-config"]["level"], "warn")
        self.assertEqual((LAB.count("aws.dryrun", AWS_I % 1), LAB.count("aws.describe_instances", AWS_I % 1),
                          LAB.count("aws.describe_instance_types", "m5.large")), (1, 1, 1))

    def test_aws_instance_types(self):
        cases = {1: ("a1.large", "fail"), 2: ("t2.micro", "fail"), 3: ("m5.metal", "ok"), 4: ("c6g.large", "ok")}
        for i, (itype, _level) in cases.items():
            doctorlab.aws_instance(LAB, AWS_I % i, itype=itype)
        r = self.doctor("--json", *["aws:us-east-1/" + AWS_I % i for i in cases])
        self.assertEqual(r.rc, 1, r)
        for n, (i, (itype, level)) in enumerate(cases.items()):
            self.assertEqual(r.checks(n)["instance-type"]["level"], level, (itype, r.checks(n)["instance-type"]))
        self.assertIn("A1", r.checks(0)["instance-type"]["message"])
        self.assertIn("xen", r.checks(1)["instance-type"]["message"])
        self.assertEqual([d["ready"] for d in r.docs()], [False, False, True, True])

    def test_aws_stopped(self):
        doctorlab.aws_instance(LAB, AWS_I % 1, state="stopped")
        r = self.doctor("aws:us-east-1/" + AWS_I % 1)
        self.assertEqual(r.rc, 1, r)
        self.assertRegex(r.out, r"FAIL +instance-state +instance \S+ is stopped")
        self.assertIn("fix: start the instance", r.out)

    def test_aws_not_authorized(self):
        LAB.script(AWS_I % 1, [{"status": 403, "code": "UnauthorizedOperation", "message": "not allowed"}])
        r = self.doctor("--json", "aws:us-east-1/" + AWS_I % 1)
        self.assertEqual(r.rc, 3, r)
        c = r.checks()
        self.assertEqual(c["dry-run-interrupt"]["level"], "fail")
        self.assertIn("ec2:SendDiagnosticInterrupt", c["dry-run-interrupt"]["fix"])
        self.assertEqual(r.docs()[0]["status"], "denied")

    def test_aws_not_found(self):
        LAB.script(AWS_I % 1, [{"status": 400, "code": "InvalidInstanceID.NotFound", "message": "no such"}])
        r = self.doctor("aws:us-east-1/" + AWS_I % 1)
        self.assertEqual(r.rc, 4, r)
        self.assertIn("NOT CHECKED", r.out)

    def test_unreachable(self):
        r = self.doctor("--json", "--endpoint", "aws=https://127.0.0.1:%d/" % LAB.closed_port(),
                        "aws:us-east-1/" + AWS_I % 1)
        self.assertEqual(r.rc, 5, r)
        self.assertEqual(r.docs()[0]["status"], "unavailable")
        self.assertIn("cannot reach", r.checks()["dry-run-interrupt"]["message"])

    # --- GCP ----------------------------------------------------------------------------------------------
    def test_gcp_ready_and_secure_boot(self):
        doctorlab.gcp_secure_boot(LAB, "web-1", False)
        doctorlab.gcp_secure_boot(LAB, "web-2", True)
        r = self.doctor("--json", GCP_T % 1, GCP_T % 2)
        self.assertEqual(r.rc, 1, r)
        ok, sb = r.checks(0), r.checks(1)
        self.assertEqual(ok["instance-and-permission"]["level"], "ok")
        self.assertIn("compute.instances.sendDiagnosticInterrupt", ok["instance-and-permission"]["message"])
        self.assertEqual(ok["secure-boot"]["level"], "ok")
        self.assertEqual(sb["secure-boot"]["level"], "fail")
        self.assertIn("--no-shielded-secure-boot", sb["secure-boot"]["fix"])
        self.assertEqual((LAB.count("gcp.testperm"), LAB.count("gcp.get")), (2, 4))

    def test_gcp_not_running(self):
        LAB.instance_state["web-1"] = "TERMINATED"
        r = self.doctor("--json", GCP_T % 1)
        self.assertEqual(r.rc, 1, r)
        self.assertIn("TERMINATED", r.checks()["instance-and-permission"]["message"])

    def test_gcp_no_permission(self):
        LAB.gcp_permissions = []
        try:
            r = self.doctor(GCP_T % 1)
        finally:
            LAB.gcp_permissions = ["compute.instances.sendDiagnosticInterrupt"]
        self.assertEqual(r.rc, 3, r)
        self.assertIn("roles/compute.instanceAdmin.v1", r.out)

    # --- OCI ----------------------------------------------------------------------------------------------
    def test_oci(self):
        LAB.instance_state[OCI_I % 2] = "STOPPING"
        r = self.doctor("--json", "oci:us-ashburn-1/" + OCI_I % 1, "oci:us-ashburn-1/" + OCI_I % 2)
        self.assertEqual(r.rc, 1, r)
        ready, busy = r.checks(0), r.checks(1)
        self.assertEqual(ready["instance"]["level"], "ok")
        self.assertEqual(ready["policy"]["level"], "warn")
        self.assertIn("manage instance-family", ready["policy"]["fix"])
        self.assertEqual(busy["instance"]["level"], "fail")
        self.assertIn("STOPPING", busy["instance"]["message"])
        self.assertEqual(LAB.count("oci.get"), 2)

    # --- OpenStack ----------------------------------------------------------------------------------------
    def test_openstack(self):
        LAB.instance_state[OS_S % 2] = "SHUTOFF"
        r = self.doctor("--json", "openstack:" + OS_S % 1, "openstack:" + OS_S % 2)
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(r.checks(0)["server-and-microversion"]["level"], "ok")
        self.assertEqual(r.checks(1)["server-and-microversion"]["level"], "fail")
        self.assertEqual(LAB.count("os.get"), 2)
        # The lab answers only requests that carry microversion 2.17: the read proves it is available.
        self.assertTrue(r.docs()[0]["ready"])

    # --- all at once --------------------------------------------------------------------------------------
    def test_every_provider(self):
        targets = ["aws:us-east-1/" + AWS_I % 1, GCP_T % 1, "oci:us-ashburn-1/" + OCI_I % 1, "openstack:" + OS_S % 1,
                   "libvirt:test"]
        r = self.doctor("-c", "test:///default", "-D", TMP, *targets)
        # libvirt's test domain has no <panic> and on_crash=destroy: that one is not ready.
        self.assertEqual(r.rc, 1, r)
        self.assertIn("4 of 5 targets ready", r.err)
        for t in targets[:4]:
            self.assertIn("=> %s: ready" % t, r.out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
