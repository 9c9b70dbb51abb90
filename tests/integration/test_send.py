"""`diagint send` end to end against the loopback cloud lab (tests/cloudlab): every provider, every
credential source, failure injection, retries, dry runs, concurrency with connection reuse. Each test asserts
how many requests the lab saw, so a duplicate interrupt cannot pass unnoticed. Run with /usr/bin/python3
(Debian's python3-botocore, python3-cryptography, python3-jwt)."""
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
from cloudlab import AWS_KEY, AWS_SECRET, AWS_TOKEN  # noqa: E402

AWS_I = "i-0123456789abcdef0"
GCP_T = "gcp:lab-project/us-central1-a/web-%d"
OCI_I = "ocid1.instance.oc1.iad.labinstance%d"
OS_S = "4f2a6c1e-5b7d-4e21-9a0b-3c8d2e1f0a%02d"
LAB = None
TMP = None


def setUpModule():
    global LAB, TMP
    TMP = tempfile.mkdtemp(prefix="diagint-cloudlab-")
    LAB = cloudlab.Lab(TMP).start()


def tearDownModule():
    LAB.stop()
    shutil.rmtree(TMP, ignore_errors=True)


def diagint_bin():
    return os.path.join(os.environ.get("DG_BUILD_DIR", os.path.join(HERE, "..", "..", "build")), "cli", "diagint")


class Run:
    def __init__(self, p):
        self.rc, self.out, self.err = p.returncode, p.stdout, p.stderr

    def json(self):
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def __repr__(self):
        return "rc=%d\nstdout=%s\nstderr=%s" % (self.rc, self.out, self.err)


class SendTest(unittest.TestCase):
    def setUp(self):
        LAB.reset()
        self.home = tempfile.mkdtemp(dir=TMP)
        self.env = LAB.env(self.home)

    def aws_env(self):
        self.env.update(AWS_ACCESS_KEY_ID=AWS_KEY, AWS_SECRET_ACCESS_KEY=AWS_SECRET, AWS_SESSION_TOKEN=AWS_TOKEN)

    def send(self, *args, env=None):
        p = subprocess.run([diagint_bin(), "send"] + list(args), capture_output=True, text=True, timeout=120,
                           env=env or self.env)
        r = Run(p)
        # Secrets never appear in what diagint prints.
        for secret in [AWS_SECRET, AWS_TOKEN, cloudlab.IMDS_SECRET, cloudlab.GCP_CLIENT_SECRET, cloudlab.GCP_REFRESH,
                       cloudlab.OS_PASSWORD, cloudlab.OS_APPCRED_SECRET, cloudlab.OCI_PASSPHRASE] + \
                list(LAB.issued_tokens):
            self.assertNotIn(secret, r.out + r.err)
        self.assertNotIn("BEGIN", r.out + r.err)
        return r

    def assertNoAuthFailures(self):
        self.assertEqual(LAB.failures, [])


class Aws(SendTest):
    def test_env_credentials_with_session_token(self):
        self.aws_env()
        r = self.send("--json", "aws:us-east-1/" + AWS_I)
        self.assertEqual(r.rc, 0, r)
        res = r.json()[0]
        self.assertEqual((res["status"], res["attempts"], res["sent"]), ("ok", 1, True))
        self.assertRegex(res["request_id"], r"^[0-9a-f-]{36}$")
        self.assertEqual(LAB.count("aws.interrupt", AWS_I), 1)
        self.assertEqual(LAB.count("aws.region.us-east-1"), 1)
        self.assertNoAuthFailures()

    def test_shared_credentials_file_and_profile(self):
        LAB.write_aws_files(self.home, profile="lab")
        self.env["AWS_PROFILE"] = "lab"
        r = self.send("aws:eu-west-1/" + AWS_I)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("aws:eu-west-1/%s: ok:" % AWS_I, r.out)
        self.assertEqual(LAB.count("aws.interrupt", AWS_I), 1)
        self.assertNoAuthFailures()

    def test_config_file_profile(self):
        LAB.write_aws_files(self.home, profile="cfg", in_config=True)
        self.env["AWS_PROFILE"] = "cfg"
        r = self.send("aws:eu-west-1/" + AWS_I)
        self.assertEqual(r.rc, 0, r)
        self.assertNoAuthFailures()

    def test_default_profile_is_used_without_aws_profile(self):
        LAB.write_aws_files(self.home, profile="lab")
        r = self.send("aws:us-east-1/" + AWS_I)   # [default] has wrong keys: the lab refuses them
        self.assertEqual(r.rc, 3, r)
        self.assertIn("shared credentials file", r.out)
        self.assertEqual(LAB.count("aws.interrupt", AWS_I), 0)

    def test_unknown_profile(self):
        LAB.write_aws_files(self.home)
        self.env["AWS_PROFILE"] = "nope"
        r = self.send("aws:us-east-1/" + AWS_I)
        self.assertEqual(r.rc, 2, r)
        self.assertIn("AWS profile 'nope'", r.out)

    def test_credentials_file_readable_by_others_is_refused(self):
        LAB.write_aws_files(self.home, profile="lab")
        os.chmod(os.path.join(self.home, ".aws", "credentials"), 0o644)
        self.env["AWS_PROFILE"] = "lab"
        r = self.send("aws:us-east-1/" + AWS_I)
        self.assertEqual(r.rc, 2, r)
        self.assertIn("chmod 600", r.out)
        self.assertEqual(LAB.count("aws.interrupt", AWS_I), 0)

    def test_imds_v2(self):
        del self.env["AWS_EC2_METADATA_DISABLED"]
        self.env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://%s/" % LAB.meta_host
        r = self.send("aws:us-east-1/" + AWS_I)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual((LAB.count("imds.token"), LAB.count("imds.role"), LAB.count("imds.creds")), (1, 1, 1))
        self.assertEqual(LAB.count("imds.unauthorized"), 0)
        self.assertNoAuthFailures()

    def test_imds_disabled(self):
        self.env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://%s/" % LAB.meta_host
        r = self.send("aws:us-east-1/" + AWS_I)
        self.assertEqual(r.rc, 3, r)
        self.assertIn("no AWS credentials found", r.out)
        self.assertIn("AWS_EC2_METADATA_DISABLED", r.out)
        self.assertEqual(LAB.count("imds.token"), 0)

    def test_dry_run_sends_dryrun_only(self):
        self.aws_env()
        r = self.send("--dry-run", "--json", "aws:us-east-1/" + AWS_I)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("DryRunOperation", r.json()[0]["message"])
        self.assertFalse(r.json()[0]["sent"])
        self.assertEqual((LAB.count("aws.dryrun", AWS_I), LAB.count("aws.interrupt", AWS_I)), (1, 0))

    def test_dry_run_unauthorized(self):
        self.aws_env()
        LAB.script(AWS_I, [{"status": 403, "code": "UnauthorizedOperation", "message": "not allowed"}])
        r = self.send("--dry-run", "aws:us-east-1/" + AWS_I)
        self.assertEqual(r.rc, 3, r)
        self.assertIn("ec2:SendDiagnosticInterrupt", r.out)

    def test_errors_map_to_statuses_and_are_not_retried(self):
        self.aws_env()
        cases = [(403, "UnauthorizedOperation", 3, "ec2:SendDiagnosticInterrupt"),
                 (400, "InvalidInstanceID.NotFound", 4, "not found"),
                 (400, "IncorrectInstanceState", 4, "must be running"),
                 (400, "UnsupportedOperation", 4, "Nitro"),
                 (500, "InternalError", 1, "not resent"),
                 (503, "Unavailable", 5, "not resent")]
        for i, (status, code, rc, words) in enumerate(cases):
            inst = "i-%017x" % (0x100 + i)
            LAB.script(inst, [{"status": status, "code": code}])
            r = self.send("aws:us-east-1/" + inst)
            self.assertEqual(r.rc, rc, (code, r))
            self.assertIn(words, r.out, code)
            self.assertIn("request id ", r.out, code)
            self.assertEqual(LAB.count("aws.interrupt", inst), 1, code)

    def test_throttled_then_ok(self):
        self.aws_env()
        LAB.script(AWS_I, [{"status": 503, "code": "RequestLimitExceeded"}, {"status": 200}])
        r = self.send("--json", "aws:us-east-1/" + AWS_I)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json()[0]["attempts"], 2)
        self.assertEqual(LAB.count("aws.interrupt", AWS_I), 2)

    def test_throttled_until_giving_up(self):
        self.aws_env()
        LAB.script(AWS_I, [{"status": 503, "code": "RequestLimitExceeded"}])
        r = self.send("--json", "--retries", "2", "aws:us-east-1/" + AWS_I)
        self.assertEqual(r.rc, 5, r)
        self.assertEqual(r.json()[0]["attempts"], 3)
        self.assertIn("gave up after 3 attempts", r.json()[0]["message"])
        self.assertEqual(LAB.count("aws.interrupt", AWS_I), 3)

    def test_retry_after_honoured_and_too_long_gives_up(self):
        self.aws_env()
        LAB.script(AWS_I, [{"status": 429, "code": "Throttling", "headers": {"Retry-After": "1"}}, {"status": 200}])
        r = self.send("--json", "aws:us-east-1/" + AWS_I)
        self.assertEqual((r.rc, r.json()[0]["attempts"]), (0, 2), r)
        inst = "i-0000000000000abcd"
        LAB.script(inst, [{"status": 429, "code": "Throttling", "headers": {"Retry-After": "3600"}}])
        r = self.send("aws:us-east-1/" + inst)
        self.assertEqual(r.rc, 5, r)
        self.assertIn("longer than diagint waits", r.out)
        self.assertEqual(LAB.count("aws.interrupt", inst), 1)

    def test_stall_after_request_is_never_resent(self):
        self.aws_env()
        LAB.script(AWS_I, [{"stall": 5}])
        r = self.send("--json", "--timeout", "1", "aws:us-east-1/" + AWS_I)
        self.assertEqual(r.rc, 5, r)
        res = r.json()[0]
        self.assertIn("may have been delivered", res["message"])
        self.assertEqual((res["attempts"], res["sent"]), (1, True))
        self.assertEqual(LAB.count("aws.interrupt", AWS_I), 1)

    def test_truncated_success_and_malformed_error_bodies(self):
        self.aws_env()
        LAB.script(AWS_I, [{"status": 200, "truncate": True}])
        r = self.send("aws:us-east-1/" + AWS_I)
        # A cut answer is not EC2's yes: failed, and never sent again (it may have arrived).
        self.assertEqual(r.rc, 1, r)
        self.assertIn("may or may not have reached", r.out)
        inst = "i-0000000000000bad0"
        LAB.script(inst, [{"status": 403, "body": "<Response><Errors><Err"}])
        r = self.send("aws:us-east-1/" + inst)
        self.assertEqual(r.rc, 3, r)
        self.assertEqual(LAB.count("aws.interrupt", AWS_I) + LAB.count("aws.interrupt", inst), 2)

    def test_connection_refused_is_retried(self):
        self.aws_env()
        r = self.send("--json", "--retries", "2", "--endpoint", "https://127.0.0.1:%d/" % LAB.closed_port(),
                      "aws:us-east-1/" + AWS_I)
        self.assertEqual(r.rc, 5, r)
        res = r.json()[0]
        self.assertEqual((res["attempts"], res["sent"]), (3, False))
        self.assertIn("cannot reach", res["message"])

    def test_untrusted_certificate(self):
        self.aws_env()
        r = self.send("--endpoint", LAB.rogue_base + "/", "aws:us-east-1/" + AWS_I)
        self.assertEqual(r.rc, 2, r)
        self.assertIn("not trusted", r.out)
        self.assertIn("--cacert", r.out)
        self.assertEqual(LAB.rogue.handshakes, 0)
        self.assertEqual(LAB.count("aws.interrupt", AWS_I), 0)
        # The same endpoint with its CA given is trusted.
        r = self.send("--endpoint", LAB.rogue_base + "/", "--cacert", LAB.rogue_cacert, "aws:us-east-1/" + AWS_I)
        self.assertEqual(r.rc, 0, r)

    def test_many_targets_reuse_connections(self):
        self.aws_env()
        insts = ["i-%017x" % (0x1000 + i) for i in range(20)]
        r = self.send("--json", "--parallel", "4", *["aws:us-east-1/" + i for i in insts])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual([x["status"] for x in r.json()], ["ok"] * 20)
        self.assertEqual([x["target"] for x in r.json()], ["aws:us-east-1/" + i for i in insts])
        for i in insts:
            self.assertEqual(LAB.count("aws.interrupt", i), 1)
        self.assertLessEqual(LAB.https.connections, 4)
        self.assertGreaterEqual(LAB.https.connections, 1)

    def test_ten_thousand_targets_under_the_default_descriptor_limit(self):
        """--help promises 10,000 targets per run; at the default `ulimit -n 1024` each target's authorization
        must not keep descriptors open until the end (it did: 400 targets sent nothing)."""
        self.aws_env()
        n = 10000
        insts = ["i-%017x" % (0x200000 + i) for i in range(n)]
        argv = [diagint_bin(), "send", "--json", "--parallel", "8"] + ["aws:us-east-1/" + i for i in insts]
        p = subprocess.run(["sh", "-c", 'ulimit -n 1024 && exec "$@"', "sh"] + argv, capture_output=True, text=True,
                           timeout=600, env=self.env)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        res = [json.loads(x) for x in p.stdout.splitlines()]
        self.assertEqual((len(res), sum(x["status"] == "ok" for x in res)), (n, n))
        self.assertEqual(LAB.count("aws.interrupt"), n, "each target once")
        with open(self.env["DIAGINT_AUDIT_LOG"]) as f:
            outcomes = sum('"action":"send"' in line for line in f)
        self.assertEqual(outcomes, n, "every outcome recorded")

    def test_repeated_target_is_sent_once(self):
        self.aws_env()
        r = self.send("aws:us-east-1/" + AWS_I, "aws:us-east-1/" + AWS_I)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("repeated target", r.err)
        self.assertEqual(LAB.count("aws.interrupt", AWS_I), 1)


class Transport(SendTest):
    """https only, wherever the endpoint comes from; values from remote servers never become headers."""

    def test_plain_http_endpoints_from_the_environment_are_refused(self):
        self.aws_env()
        plain = "http://%s/" % LAB.meta_host  # the lab's plain-http listener serves every API
        for var, target in (("AWS_ENDPOINT_URL_EC2", "aws:us-east-1/" + AWS_I),
                            ("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE", GCP_T % 1)):
            env = dict(self.env, **{var: plain + ("compute/v1/" if "CLOUDSDK" in var else "")})
            if target.startswith("gcp:"):
                env["GOOGLE_APPLICATION_CREDENTIALS"] = LAB.write_gcp_service_account()
            r = self.send(target, env=env)
            self.assertEqual(r.rc, 2, (var, r))
            self.assertIn("https only", r.out + r.err, var)
        self.assertEqual((LAB.count("aws.interrupt"), LAB.count("gcp.interrupt")), (0, 0))

    def test_plain_http_token_uri_is_refused(self):
        path = LAB.write_gcp_service_account()
        with open(path) as f:
            doc = json.load(f)
        doc["token_uri"] = "http://%s/token" % LAB.meta_host
        with open(path, "w") as f:
            json.dump(doc, f)
        self.env["GOOGLE_APPLICATION_CREDENTIALS"] = path
        r = self.send(GCP_T % 1)
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("https only", r.out + r.err)
        self.assertEqual((LAB.count("gcp.token.jwt"), LAB.count("gcp.interrupt")), (0, 0), "the key never left")

    def test_token_with_crlf_is_not_sent_on(self):
        LAB.token_suffix = "\r\nX-Injected: 1"
        self.env["GOOGLE_APPLICATION_CREDENTIALS"] = LAB.write_gcp_service_account()
        r = self.send(GCP_T % 1)
        self.assertEqual(r.rc, 1, r)
        self.assertIn("not a token", r.out + r.err)
        self.assertEqual(LAB.count("gcp.interrupt"), 0)

    def test_html_200_is_not_success(self):
        self.aws_env()
        LAB.script(AWS_I, [{"status": 200, "body": "<html><body>proxy login</body></html>"}])
        r = self.send("--json", "aws:us-east-1/" + AWS_I)
        self.assertEqual(r.rc, 1, r)
        self.assertIn("may or may not have reached", r.json()[0]["message"])
        self.assertEqual(LAB.count("aws.interrupt", AWS_I), 1, "never sent again")


class Gcp(SendTest):
    def test_service_account_jwt(self):
        self.env["GOOGLE_APPLICATION_CREDENTIALS"] = LAB.write_gcp_service_account()
        r = self.send(GCP_T % 1)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual((LAB.count("gcp.token.jwt"), LAB.count("gcp.interrupt", "web-1")), (1, 1))
        self.assertNoAuthFailures()

    def test_authorized_user_refresh(self):
        self.env["GOOGLE_APPLICATION_CREDENTIALS"] = LAB.write_gcp_authorized_user()
        r = self.send(GCP_T % 1)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(LAB.count("gcp.token.refresh"), 1)

    def test_gcloud_adc_file(self):
        d = os.path.join(self.home, ".config", "gcloud")
        os.makedirs(d)
        LAB.write_gcp_authorized_user(os.path.join(d, "application_default_credentials.json"))
        r = self.send(GCP_T % 1)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(LAB.count("gcp.token.refresh"), 1)

    def test_metadata_server(self):
        self.env["GCE_METADATA_HOST"] = LAB.meta_host
        r = self.send(GCP_T % 1)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual((LAB.count("gcp.metadata"), LAB.count("gcp.interrupt", "web-1")), (1, 1))

    def test_no_credentials_anywhere(self):
        r = self.send(GCP_T % 1)
        self.assertEqual(r.rc, 3, r)
        self.assertIn("no Google credentials", r.out)

    def test_token_fetched_once_for_many_targets(self):
        self.env["GOOGLE_APPLICATION_CREDENTIALS"] = LAB.write_gcp_service_account()
        r = self.send(*[GCP_T % i for i in range(8)])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(LAB.count("gcp.token.jwt"), 1)
        self.assertEqual(LAB.count("gcp.interrupt"), 8)

    def test_key_file_readable_by_others_is_refused(self):
        self.env["GOOGLE_APPLICATION_CREDENTIALS"] = LAB.write_gcp_service_account(mode=0o644)
        r = self.send(GCP_T % 1)
        self.assertEqual(r.rc, 2, r)
        self.assertIn("chmod 600", r.out)
        self.assertEqual(LAB.count("gcp.token.jwt"), 0)

    def test_errors(self):
        self.env["GOOGLE_APPLICATION_CREDENTIALS"] = LAB.write_gcp_service_account()
        LAB.script("web-1", [{"status": 403, "code": "forbidden", "message": "Required permission"}])
        LAB.script("web-2", [{"status": 404, "code": "notFound"}])
        LAB.script("web-3", [{"status": 429, "code": "rateLimitExceeded"}, {"status": 200}])
        LAB.script("web-4", [{"status": 403, "code": "rateLimitExceeded"}, {"status": 200}])
        LAB.script("web-5", [{"status": 400, "code": "resourceNotReady", "message": "instance is not running"}])
        r = self.send("--json", *[GCP_T % i for i in range(1, 6)])
        res = r.json()
        self.assertEqual([x["exit"] for x in res], [3, 4, 0, 0, 4], r)
        self.assertEqual(r.rc, 3)
        self.assertIn("compute.instances.sendDiagnosticInterrupt", res[0]["message"])
        self.assertIn("roles/compute.instanceAdmin.v1", res[0]["message"])
        self.assertTrue(res[0]["request_id"])
        self.assertEqual([x["attempts"] for x in res], [1, 1, 2, 2, 1])
        self.assertEqual([LAB.count("gcp.interrupt", "web-%d" % i) for i in range(1, 6)], [1, 1, 2, 2, 1])

    def test_dry_run(self):
        self.env["GOOGLE_APPLICATION_CREDENTIALS"] = LAB.write_gcp_service_account()
        LAB.instance_state["web-2"] = "TERMINATED"
        r = self.send("--dry-run", "--json", GCP_T % 1, GCP_T % 2)
        self.assertEqual([x["exit"] for x in r.json()], [0, 4], r)
        self.assertEqual(LAB.count("gcp.get"), 2)
        self.assertEqual(LAB.count("gcp.testperm"), 1)
        self.assertEqual(LAB.count("gcp.interrupt"), 0)
        LAB.gcp_permissions = []
        try:
            r = self.send("--dry-run", GCP_T % 1)
        finally:
            LAB.gcp_permissions = ["compute.instances.sendDiagnosticInterrupt"]
        self.assertEqual(r.rc, 3, r)
        self.assertIn("lacks the permission compute.instances.sendDiagnosticInterrupt", r.out)
        self.assertEqual(LAB.count("gcp.interrupt"), 0)


class Oci(SendTest):
    def send(self, *args, env=None):
        # OCI has no endpoint variable of its own: name the lab, so no name is ever looked up off this host.
        return super().send("--endpoint", "oci=" + LAB.base, *args, env=env)

    def oci_env(self, **kw):
        self.env["OCI_CLI_CONFIG_FILE"] = LAB.write_oci_config(**kw)
        self.env["OCI_CLI_PROFILE"] = "LAB"

    def test_api_key_profile(self):
        self.oci_env()
        r = self.send("--json", "oci:us-ashburn-1/" + OCI_I % 1)
        self.assertEqual(r.rc, 0, r)
        self.assertTrue(r.json()[0]["request_id"])
        self.assertEqual(LAB.count("oci.interrupt", OCI_I % 1), 1)
        self.assertNoAuthFailures()

    def test_encrypted_key_with_pass_phrase(self):
        self.oci_env(encrypted=True)
        r = self.send("oci:us-ashburn-1/" + OCI_I % 1)
        self.assertEqual(r.rc, 0, r)
        self.assertNoAuthFailures()

    def test_encrypted_key_wrong_or_missing_pass_phrase(self):
        self.oci_env(encrypted=True, passphrase="wrong")
        r = self.send("oci:us-ashburn-1/" + OCI_I % 1)
        self.assertEqual(r.rc, 2, r)
        self.assertIn("wrong pass phrase", r.out)
        self.oci_env(encrypted=True, passphrase="")
        r = self.send("oci:us-ashburn-1/" + OCI_I % 1)
        self.assertEqual(r.rc, 2, r)
        self.assertIn("set pass_phrase", r.out)
        self.assertEqual(LAB.count("oci.interrupt"), 0)

    def test_key_readable_by_others_is_refused(self):
        self.oci_env(key_mode=0o644)
        r = self.send("oci:us-ashburn-1/" + OCI_I % 1)
        self.assertEqual(r.rc, 2, r)
        self.assertIn("chmod 600", r.out)

    def test_unknown_profile(self):
        self.oci_env()
        self.env["OCI_CLI_PROFILE"] = "NOPE"
        r = self.send("oci:us-ashburn-1/" + OCI_I % 1)
        self.assertEqual(r.rc, 2, r)
        self.assertIn("[NOPE]", r.out)

    def test_errors_and_retry_token(self):
        self.oci_env()
        LAB.script(OCI_I % 1, [{"status": 404, "code": "NotAuthorizedOrNotFound"}])
        LAB.script(OCI_I % 2, [{"status": 409, "code": "IncorrectState"}])
        LAB.script(OCI_I % 3, [{"status": 429, "code": "TooManyRequests", "headers": {"Retry-After": "0"}},
                               {"status": 503, "code": "ServiceUnavailable", "headers": {"Retry-After": "0"}},
                               {"status": 200}])
        LAB.script(OCI_I % 4, [{"status": 401, "code": "NotAuthenticated"}])
        r = self.send("--json", *["oci:us-ashburn-1/" + OCI_I % i for i in range(1, 5)])
        res = r.json()
        self.assertEqual([x["exit"] for x in res], [4, 4, 0, 3], r)
        self.assertIn("manage instance-family", res[0]["message"])
        self.assertEqual(res[2]["attempts"], 3)
        self.assertEqual(LAB.count("oci.interrupt", OCI_I % 3), 3)
        # Every retry carried the same opc-retry-token.
        self.assertEqual(len(LAB.counts[("oci.retry_tokens", OCI_I % 3)]), 1)

    def test_dry_run(self):
        self.oci_env()
        LAB.instance_state[OCI_I % 2] = "STOPPED"
        r = self.send("--dry-run", "--json", "oci:us-ashburn-1/" + OCI_I % 1, "oci:us-ashburn-1/" + OCI_I % 2)
        self.assertEqual([x["exit"] for x in r.json()], [0, 4], r)
        self.assertEqual((LAB.count("oci.get"), LAB.count("oci.interrupt")), (2, 0))


class OpenStack(SendTest):
    def test_password(self):
        self.env.update(LAB.openstack_env())
        r = self.send("--json", "openstack:" + OS_S % 1)
        self.assertEqual(r.rc, 0, r)
        self.assertTrue(r.json()[0]["request_id"].startswith("req-"))
        self.assertEqual((LAB.count("os.token.password"), LAB.count("os.interrupt", OS_S % 1)), (1, 1))

    def test_application_credential(self):
        self.env.update(LAB.openstack_env(appcred=True))
        r = self.send("openstack:" + OS_S % 1, "openstack:" + OS_S % 2)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual((LAB.count("os.token.appcred"), LAB.count("os.interrupt")), (1, 2))

    def test_wrong_password(self):
        self.env.update(LAB.openstack_env())
        self.env["OS_PASSWORD"] = "nope"
        r = self.send("openstack:" + OS_S % 1)
        self.assertEqual(r.rc, 3, r)
        self.assertEqual(LAB.count("os.interrupt"), 0)

    def test_errors(self):
        self.env.update(LAB.openstack_env())
        LAB.script(OS_S % 1, [{"status": 409, "message": "Cannot 'trigger_crash_dump' instance while it is locked"}])
        LAB.script(OS_S % 2, [{"status": 403}])
        LAB.script(OS_S % 3, [{"status": 404}])
        LAB.script(OS_S % 4, [{"status": 429, "headers": {"Retry-After": "0"}}, {"status": 202}])
        r = self.send("--json", *["openstack:" + OS_S % i for i in range(1, 5)])
        res = r.json()
        self.assertEqual([x["exit"] for x in res], [4, 3, 4, 0], r)
        self.assertIn("os_compute_api:servers:trigger_crash_dump", res[1]["message"])
        self.assertEqual([LAB.count("os.interrupt", OS_S % i) for i in range(1, 5)], [1, 1, 1, 2])

    def test_dry_run(self):
        self.env.update(LAB.openstack_env())
        r = self.send("--dry-run", "openstack:" + OS_S % 1)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual((LAB.count("os.get"), LAB.count("os.interrupt")), (1, 0))


class ResendGuard(SendTest):
    """libcurl sends a request again by itself when a reused keep-alive connection closes before any answer
    (Curl_retry_request): safe for a GET, a second interrupt for us. The lab reads each interrupt that arrives on a
    reused connection and closes it unanswered; with --parallel 1 every later target goes out on the connection the
    one before used (or, for GCP and OpenStack, the token request). The guard (http.c, CURLOPT_PREREQFUNCTION) must
    stop the resend: each target reaches the lab exactly once, and the ones dropped say that their interrupt may
    have been delivered (status 5, unavailable, never retried). Without the guard the resend arrives on a fresh
    connection, the lab answers it, and the count is 2."""

    DROPPED = "no answer from %s at 127.0.0.1:%d after the request was sent (the connection closed and " \
              "libcurl wanted to resend it): the interrupt may have been delivered. Not resent"

    def check(self, kind, api, targets, instances, extra=()):
        for i in instances:
            LAB.script(i, [{"drop": "reused", "status": 200}])
        r = self.send("--json", "--parallel", "1", "--retries", "3", *extra, *targets)
        res = r.json()
        self.assertEqual([x["target"] for x in res], targets, r)
        # Server side: every target's interrupt arrived exactly once, resend or not.
        self.assertEqual([LAB.count(kind, i) for i in instances], [1] * len(instances), (LAB.drops, r))
        dropped = [i for i, _reused in LAB.drops]
        self.assertTrue(dropped, "the lab dropped nothing: no connection was reused (%r)" % r)
        self.assertEqual([reused for _i, reused in LAB.drops], [True] * len(dropped), "only reused ones dropped")
        self.assertEqual(len(set(dropped)), len(dropped), LAB.drops)
        for inst, x in zip(instances, res):
            if inst in dropped:
                self.assertEqual((x["status"], x["exit"], x["sent"], x["attempts"]), ("unavailable", 5, True, 1), x)
                self.assertIn(self.DROPPED % (api, LAB.port), x["message"])
                self.assertIn("check the instance's console before sending again", x["message"])
            else:
                self.assertEqual((x["status"], x["exit"], x["sent"]), ("ok", 0, True), x)
        # The first failed target decides the exit status.
        self.assertEqual(r.rc, 5, r)
        self.assertNoAuthFailures()
        # The record of each dropped one says the same: an outcome nobody can know, not a failure to send.
        with open(self.env["DIAGINT_AUDIT_LOG"]) as f:
            recs = [json.loads(x) for x in f if x.strip()]
        outcomes = {x["target"]: x["result"] for x in recs if x["action"] == "send"}
        for t, inst in zip(targets, instances):
            if inst in dropped:
                self.assertIn("may have been delivered", outcomes[t]["error"], outcomes[t])
        return res

    def test_aws(self):
        self.aws_env()
        insts = ["i-%017x" % (0x2000 + i) for i in range(4)]
        res = self.check("aws.interrupt", "the EC2 API", ["aws:us-east-1/" + i for i in insts], insts)
        # The first goes out on a new connection and is answered; the second reuses it and is dropped; the third
        # needs a new connection (the guard closed the old one), the fourth reuses that one.
        self.assertEqual([x["exit"] for x in res], [0, 5, 0, 5], res)

    def test_gcp(self):
        self.env["GOOGLE_APPLICATION_CREDENTIALS"] = LAB.write_gcp_service_account()
        res = self.check("gcp.interrupt", "the Compute Engine API", [GCP_T % i for i in range(1, 5)],
                         ["web-%d" % i for i in range(1, 5)])
        # The token request opened the connection: the first interrupt already reuses it.
        self.assertEqual([x["exit"] for x in res], [5, 0, 5, 0], res)
        self.assertEqual(LAB.count("gcp.token.jwt"), 1)

    def test_oci(self):
        self.env["OCI_CLI_CONFIG_FILE"] = LAB.write_oci_config()
        self.env["OCI_CLI_PROFILE"] = "LAB"
        insts = [OCI_I % i for i in range(1, 5)]
        res = self.check("oci.interrupt", "the OCI Compute API", ["oci:us-ashburn-1/" + i for i in insts], insts,
                         extra=("--endpoint", "oci=" + LAB.base))
        self.assertEqual([x["exit"] for x in res], [0, 5, 0, 5], res)

    def test_openstack(self):
        self.env.update(LAB.openstack_env())
        insts = [OS_S % i for i in range(1, 5)]
        res = self.check("os.interrupt", "the Nova API", ["openstack:" + i for i in insts], insts)
        self.assertEqual([x["exit"] for x in res], [5, 0, 5, 0], res)
        self.assertEqual(LAB.count("os.token.password"), 1)

    def test_fresh_connection_closed_unanswered(self):
        # Not reused: libcurl does not resend by itself, and diagint does not either.
        self.aws_env()
        LAB.script(AWS_I, [{"drop": "always"}])
        r = self.send("--json", "--retries", "3", "aws:us-east-1/" + AWS_I)
        self.assertEqual(r.rc, 5, r)
        x = r.json()[0]
        self.assertEqual((x["status"], x["sent"], x["attempts"]), ("unavailable", True, 1), x)
        self.assertIn("the interrupt may have been delivered", x["message"])
        self.assertEqual((LAB.count("aws.interrupt", AWS_I), LAB.drops), (1, [(AWS_I, False)]))


class LabRefuses(SendTest):
    """The lab's own checks can fail: requests made here by hand, with botocore and PyJWT, that a real service
    would refuse (a stale signing date, a token for another scope, an expired token) are refused by the lab too."""

    def post(self, path, body, headers):
        import http.client
        import ssl
        ctx = ssl.create_default_context(cafile=LAB.cacert)
        c = http.client.HTTPSConnection("127.0.0.1", LAB.port, context=ctx, timeout=10)
        try:
            c.request("POST" if body is not None else "GET", path, body=body, headers=headers)
            resp = c.getresponse()
            return resp.status, resp.read().decode()
        finally:
            c.close()

    def aws_signed(self, when):
        import datetime
        from unittest import mock
        import botocore.auth
        import botocore.awsrequest
        import botocore.credentials
        body = "Action=SendDiagnosticInterrupt&Version=2016-11-15&InstanceId=" + AWS_I
        req = botocore.awsrequest.AWSRequest(method="POST", url="https://127.0.0.1:%d/" % LAB.port, data=body,
                                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        creds = botocore.credentials.Credentials(AWS_KEY, AWS_SECRET, AWS_TOKEN)
        with LAB.sign_lock, mock.patch.object(botocore.auth, "datetime") as dt:
            dt.datetime.utcnow.return_value = when
            dt.datetime.strftime = datetime.datetime.strftime
            botocore.auth.SigV4Auth(creds, "ec2", "us-east-1").add_auth(req)
        return self.post("/", body, dict(req.headers))

    def test_aws_request_date_must_be_current(self):
        import datetime
        now = datetime.datetime.utcnow()
        self.assertEqual(self.aws_signed(now)[0], 200)
        self.assertEqual(LAB.count("aws.interrupt", AWS_I), 1)
        for skew in (-6, 6):   # minutes: a replayed request, a clock ahead
            status, body = self.aws_signed(now + datetime.timedelta(minutes=skew))
            self.assertEqual(status, 400, body)
            self.assertIn("<Code>RequestExpired</Code>", body)
        self.assertEqual(LAB.count("aws.interrupt", AWS_I), 1, "refused before it counts as an interrupt")
        self.assertEqual(len(LAB.failures), 2, LAB.failures)

    def gcp_token(self, scope):
        import time
        import urllib.parse
        import jwt as pyjwt
        now = int(time.time())
        assertion = pyjwt.encode({"iss": cloudlab.GCP_SA_EMAIL, "aud": LAB.base + "/token", "scope": scope,
                                  "iat": now, "exp": now + 3600}, LAB.sa_key, algorithm="RS256",
                                 headers={"kid": "labkey1"})
        form = urllib.parse.urlencode({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                       "assertion": assertion})
        return self.post("/token", form, {"Content-Type": "application/x-www-form-urlencoded"})

    def test_gcp_token_scope_and_expiry(self):
        import time
        status, body = self.gcp_token("https://www.googleapis.com/auth/devstorage.read_only")
        self.assertEqual((status, json.loads(body)["error"]), (400, "invalid_scope"), body)
        LAB.token_lifetime = 1
        try:
            status, body = self.gcp_token("https://www.googleapis.com/auth/cloud-platform")
        finally:
            LAB.token_lifetime = 3600
        self.assertEqual(status, 200, body)
        tok = json.loads(body)["access_token"]
        path = "/compute/v1/projects/lab-project/zones/us-central1-a/instances/web-1"
        self.assertEqual(self.post(path, None, {"Authorization": "Bearer " + tok})[0], 200)
        time.sleep(1.2)
        self.assertEqual(self.post(path, None, {"Authorization": "Bearer " + tok})[0], 401, "expired")
        # And what diagint asks for is a scope the lab accepts.
        self.env["GOOGLE_APPLICATION_CREDENTIALS"] = LAB.write_gcp_service_account()
        LAB.failures.clear()
        r = self.send(GCP_T % 1)
        self.assertEqual(r.rc, 0, r)
        self.assertNoAuthFailures()


class Mixed(SendTest):
    def test_every_provider_in_one_run(self):
        self.aws_env()
        self.env["GOOGLE_APPLICATION_CREDENTIALS"] = LAB.write_gcp_service_account()
        self.env["OCI_CLI_CONFIG_FILE"] = LAB.write_oci_config()
        self.env["OCI_CLI_PROFILE"] = "LAB"
        self.env.update(LAB.openstack_env())
        targets = ["aws:us-east-1/" + AWS_I, GCP_T % 1, "oci:us-ashburn-1/" + OCI_I % 1, "openstack:" + OS_S % 1,
                   "libvirt:test"]
        r = self.send("--json", "--reason", "lab run", "-c", "test:///default",
                      "--endpoint", "oci=" + LAB.base, *targets)
        self.assertEqual(r.rc, 0, r)
        res = r.json()
        self.assertEqual([x["target"] for x in res], targets)
        self.assertEqual({x["status"] for x in res}, {"ok"})
        self.assertEqual({x["reason"] for x in res}, {"lab run"})
        for kind, inst in (("aws.interrupt", AWS_I), ("gcp.interrupt", "web-1"), ("oci.interrupt", OCI_I % 1),
                           ("os.interrupt", OS_S % 1)):
            self.assertEqual(LAB.count(kind, inst), 1, kind)
        self.assertNoAuthFailures()
        # The audit log has the outcome of every target, with request ids and attempts.
        with open(self.env["DIAGINT_AUDIT_LOG"]) as f:
            recs = [json.loads(x) for x in f if x.strip()]
        outcomes = {x["target"]: x for x in recs if x["action"] == "send"}
        self.assertEqual(set(outcomes), set(targets))
        self.assertEqual(outcomes["aws:us-east-1/" + AWS_I]["result"]["attempts"], 1)
        self.assertTrue(outcomes["aws:us-east-1/" + AWS_I]["result"]["request_id"])
        self.assertEqual(outcomes[GCP_T % 1]["reason"], "lab run")

    def test_bare_endpoint_with_two_clouds_is_ambiguous(self):
        r = self.send("--endpoint", LAB.base, "aws:us-east-1/" + AWS_I, GCP_T % 1)
        self.assertEqual(r.rc, 2, r)
        self.assertIn("ambiguous", r.err)

    def test_bad_target_stops_everything(self):
        self.aws_env()
        r = self.send("aws:us-east-1/" + AWS_I, "aws:us-east-1/i-XYZ")
        self.assertEqual(r.rc, 2, r)
        self.assertIn("INSTANCE_ID 'i-XYZ' is not valid", r.err)
        self.assertEqual(LAB.count("aws.interrupt"), 0)

    def test_libvirt_not_found(self):
        r = self.send("-c", "test:///default", "libvirt:no-such-domain")
        self.assertEqual(r.rc, 4, r)

    def test_help_teaches(self):
        r = self.send("--help")
        self.assertEqual(r.rc, 0)
        for word in ("gcp:PROJECT/ZONE/INSTANCE", "aws:REGION/INSTANCE_ID", "oci:REGION/INSTANCE_OCID",
                     "openstack:SERVER_ID", "libvirt:DOMAIN", "GOOGLE_APPLICATION_CREDENTIALS", "AWS_PROFILE",
                     "OCI_CLI_PROFILE", "OS_AUTH_URL", "Exit status", "--dry-run"):
            self.assertIn(word, r.out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
