"""Loopback HTTPS servers that play GCP, AWS EC2, OCI and OpenStack for `diagint send`, and the two metadata
services (GCE, EC2 IMDSv2) over plain HTTP.

Every request is authenticated independently of diagint's code: AWS SigV4 is recomputed with botocore, OCI
signatures are verified with the API key's public key (python3-cryptography), Google JWT assertions with PyJWT,
bearer and Keystone tokens against the ones this lab issued. Certificates are made at start-up by a CA of the
lab's own. Requests are counted by kind and by instance, TCP connections and TLS handshakes by server.

Only 127.0.0.1 is ever bound. Usage:

    lab = Lab(tmpdir); lab.start()
    env = lab.env()                       # environment for diagint: credentials, endpoints, CA
    lab.script("i-0123...", [{"status": 503, "code": "RequestLimitExceeded"}, {"status": 200}])
    ... run diagint ...
    lab.count("aws.interrupt", "i-0123...")
    lab.stop()
"""
import base64
import datetime
import hashlib
import http.server
import json
import os
import socket
import ssl
import threading
import time
import urllib.parse
import uuid
from unittest import mock

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

import jwt as pyjwt
import botocore.auth
import botocore.awsrequest
import botocore.credentials

AWS_KEY = "AKIDLABEXAMPLE000001"
AWS_SECRET = "labSecretKey/K7MDENG+bPxRfiCYEXAMPLEKEY"
AWS_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE" + "x" * 700  # session tokens are long: longer than inih's default line
IMDS_KEY = "ASIALABIMDS000000002"
IMDS_SECRET = "imdsSecret/abcdefghijklmnopqrstuvwxyz0123"
IMDS_TOKEN = "IMDSsessionTOKEN" + "y" * 300
GCP_SA_EMAIL = "diagint-lab@lab-project.iam.gserviceaccount.com"
GCP_CLIENT_ID = "lab-client.apps.googleusercontent.com"
GCP_CLIENT_SECRET = "lab-client-secret"
GCP_REFRESH = "1//lab-refresh-token"
OCI_TENANCY = "ocid1.tenancy.oc1..aaaalabtenancy"
OCI_USER = "ocid1.user.oc1..aaaalabuser"
OCI_PASSPHRASE = "lab pass; phrase #1"
OS_USER, OS_PASSWORD, OS_PROJECT = "labuser", "lab-password", "labproject"
OS_APPCRED_ID, OS_APPCRED_SECRET = "a1b2c3d4appcred", "appcred-secret"
GCP_COMPUTE_SCOPES = ("https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/compute")


def _key_pem(key, password=None):
    enc = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc).decode()


def _make_ca(name):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _make_leaf(ca_key, ca_cert):
    import ipaddress
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def _write(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


DROP = ("drop",)  # a route's answer: close the connection without answering


class _TLSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 512  # socketserver's 5 drops SYNs when 100 clients connect at once (1 s retransmits)

    def __init__(self, lab, handler, tls_context):
        self.lab = lab
        self.tls_context = tls_context
        self.connections = 0
        self.handshakes = 0
        self.resumed = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), handler)

    def finish_request(self, request, client_address):
        with self.lock:
            self.connections += 1
        if self.tls_context is not None:
            try:
                request.settimeout(10)
                request = self.tls_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
            with self.lock:
                self.handshakes += 1
                self.resumed += 1 if request.session_reused else 0
        try:
            self.RequestHandlerClass(request, client_address, self)
        finally:
            if self.tls_context is not None:
                request.close()

    def handle_error(self, request, client_address):
        pass  # a client that went away is not a test failure


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    # Headers and body go out in two writes: with Nagle on, a client's delayed ACK adds 40 ms to every answer.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def _dispatch(self, method):
        lab = self.server.lab
        # One handler object serves one connection: requests_served > 1 means a reused (keep-alive) connection.
        self.requests_served = getattr(self, "requests_served", 0) + 1
        body = self._read_body()
        url = urllib.parse.urlsplit(self.path)
        try:
            if lab.latency:
                time.sleep(lab.latency)
            out = lab.route(self, method, url, body)
        except Exception as e:  # a lab bug shows as a 599 the test will notice
            out = (599, {}, ("lab error: %r" % e).encode())
        if out is None:
            return
        if out is DROP:
            # Read, then closed without a byte of answer: what a server (or a load balancer's idle timeout) does
            # to a keep-alive connection that a client reuses at the wrong moment.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        status, headers, payload = out
        if headers.get("_truncate"):
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload) + 100))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class Lab:
    def __init__(self, tmpdir, latency=0.0):
        self.dir = tmpdir
        self.latency = latency
        self.lock = threading.Lock()
        self.sign_lock = threading.Lock()
        self.counts = {}
        self.scripts = {}
        self.stop_event = threading.Event()
        self.issued_tokens = set()
        self.token_expiry = {}  # token -> time.time() after which the lab refuses it, as the real services do
        self.token_lifetime = 3600
        self.token_suffix = ""  # appended to every access_token handed out: a hostile token endpoint
        self.failures = []  # authentication failures the lab saw: (kind, why)
        self.drops = []  # (instance, connection reused?) for every request closed unanswered by a "drop" script
        self.gcp_permissions = ["compute.instances.sendDiagnosticInterrupt"]
        self.instance_state = {}  # instance -> state string for dry runs
        # Other read-only request kinds, added by modules beside this one (doctorlab.py for `diagint doctor`):
        self.aws_actions = {}            # EC2 Action -> handler(form, rid), after authentication
        self.gcp_instance_extra = {}     # instance -> more fields for its instances.get answer
        self.last_headers = {}

        self.ca_key, self.ca_cert = _make_ca("diagint lab CA")
        self.rogue_key, self.rogue_cert = _make_ca("untrusted CA")
        leaf_key, leaf_cert = _make_leaf(self.ca_key, self.ca_cert)
        rogue_leaf_key, rogue_leaf_cert = _make_leaf(self.rogue_key, self.rogue_cert)
        self.cacert = _write(os.path.join(tmpdir, "lab-ca.pem"),
                             self.ca_cert.public_bytes(serialization.Encoding.PEM).decode(), 0o644)
        self.rogue_cacert = _write(os.path.join(tmpdir, "rogue-ca.pem"),
                                   self.rogue_cert.public_bytes(serialization.Encoding.PEM).decode(), 0o644)
        self._contexts = {}
        for name, k, c in (("good", leaf_key, leaf_cert), ("rogue", rogue_leaf_key, rogue_leaf_cert)):
            certfile = _write(os.path.join(tmpdir, "%s-cert.pem" % name),
                              c.public_bytes(serialization.Encoding.PEM).decode())
            keyfile = _write(os.path.join(tmpdir, "%s-key.pem" % name), _key_pem(k))
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(certfile, keyfile)
            self._contexts[name] = ctx

        self.sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.oci_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        der = self.oci_key.public_key().public_bytes(serialization.Encoding.DER,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)
        self.oci_fingerprint = ":".join("%02x" % b for b in hashlib.md5(der).digest())
        self.oci_key_id = "%s/%s/%s" % (OCI_TENANCY, OCI_USER, self.oci_fingerprint)

    # --- life cycle -------------------------------------------------------------------------------------
    def start(self):
        self.https = _TLSServer(self, _Handler, self._contexts["good"])
        self.rogue = _TLSServer(self, _Handler, self._contexts["rogue"])
        self.http = _TLSServer(self, _Handler, None)
        for s in (self.https, self.rogue, self.http):
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.port = self.https.server_address[1]
        self.base = "https://127.0.0.1:%d" % self.port
        self.rogue_base = "https://127.0.0.1:%d" % self.rogue.server_address[1]
        self.meta_host = "127.0.0.1:%d" % self.http.server_address[1]
        return self

    def stop(self):
        self.stop_event.set()
        for s in (self.https, self.rogue, self.http):
            s.shutdown()
            s.server_close()

    def closed_port(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return port

    # --- bookkeeping ------------------------------------------------------------------------------------
    def _count(self, kind, instance=None):
        with self.lock:
            self.counts[(kind, instance)] = self.counts.get((kind, instance), 0) + 1
            if instance is not None:
                self.counts[(kind, None)] = self.counts.get((kind, None), 0) + 1

    def count(self, kind, instance=None):
        with self.lock:
            return self.counts.get((kind, instance), 0)

    def reset(self):
        with self.lock:
            self.counts.clear()
            self.scripts.clear()
            self.failures.clear()
            self.drops.clear()
            self.instance_state.clear()
            self.token_suffix = ""
        for s in (self.https, self.rogue, self.http):
            with s.lock:
                s.connections = s.handshakes = s.resumed = 0

    def script(self, instance, responses):
        """Answers for an instance's interrupt (and dry-run) requests, in order; the last one repeats.
        Each is a dict: status, code (provider error code), message, headers, body, stall (seconds), truncate,
        drop ("reused": a request that arrives on a reused keep-alive connection is read, counted and the
        connection closed without an answer, while one on a fresh connection gets the rest of the entry as its
        answer; "always": closed unanswered either way). Every drop is listed in lab.drops."""
        with self.lock:
            self.scripts[instance] = list(responses)

    def _next(self, instance):
        with self.lock:
            s = self.scripts.get(instance)
            if not s:
                return None
            return s.pop(0) if len(s) > 1 else s[0]

    def _fail(self, kind, why):
        with self.lock:
            self.failures.append((kind, why))

    def _stall(self, seconds):
        self.stop_event.wait(seconds)
        return None  # no answer: the handler closes the connection

    # --- files and environment ------------------------------------------------------------------------------
    def write_gcp_service_account(self, path=None, mode=0o600):
        path = path or os.path.join(self.dir, "gcp-sa.json")
        doc = {"type": "service_account", "project_id": "lab-project", "private_key_id": "labkey1",
               "private_key": _key_pem(self.sa_key), "client_email": GCP_SA_EMAIL, "client_id": "1234",
               "token_uri": self.base + "/token"}
        return _write(path, json.dumps(doc), mode)

    def write_gcp_authorized_user(self, path=None, mode=0o600):
        path = path or os.path.join(self.dir, "gcp-user.json")
        doc = {"type": "authorized_user", "client_id": GCP_CLIENT_ID, "client_secret": GCP_CLIENT_SECRET,
               "refresh_token": GCP_REFRESH, "token_uri": self.base + "/token"}
        return _write(path, json.dumps(doc), mode)

    def write_aws_files(self, home, profile="lab", in_config=False):
        os.makedirs(os.path.join(home, ".aws"), exist_ok=True)
        cred = "[default]\naws_access_key_id = AKIDWRONG\naws_secret_access_key = wrong\n\n"
        conf = "[default]\nregion = us-east-1\n"
        keys = "aws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n" % (
            AWS_KEY, AWS_SECRET, AWS_TOKEN)
        if in_config:
            conf += "\n[profile %s]\nregion = eu-west-1\n%s" % (profile, keys)
        else:
            cred += "[%s]\n%s" % (profile, keys)
        _write(os.path.join(home, ".aws", "credentials"), cred)
        # A config that holds keys is a secret like credentials (mode-checked); one without keys may be 0644.
        _write(os.path.join(home, ".aws", "config"), conf, 0o600 if in_config else 0o644)

    def write_oci_config(self, path=None, profile="LAB", encrypted=False, passphrase=None, key_mode=0o600,
                         config_mode=0o600):
        path = path or os.path.join(self.dir, "oci-config")
        keyfile = os.path.join(self.dir, "oci-key%s.pem" % ("-enc" if encrypted else ""))
        _write(keyfile, _key_pem(self.oci_key, OCI_PASSPHRASE if encrypted else None), key_mode)
        text = "[DEFAULT]\ntenancy = %s\nregion = us-ashburn-1\n\n[%s]\nuser = %s\nfingerprint = %s\n" \
               "key_file = %s\n" % (OCI_TENANCY, profile, OCI_USER, self.oci_fingerprint, keyfile)
        if encrypted:
            text += "pass_phrase = %s\n" % (passphrase if passphrase is not None else OCI_PASSPHRASE)
        return _write(path, text, config_mode)

    def env(self, home):
        """A clean environment: nothing from the caller's clouds, no metadata service off this machine."""
        return {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": home,
            "LANG": "C.UTF-8",
            "DIAGINT_AUDIT_LOG": os.path.join(home, "audit.jsonl"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL_EC2": self.base + "/",
            "AWS_CA_BUNDLE": self.cacert,
            "GCE_METADATA_HOST": "127.0.0.1:%d" % self.closed_port(),
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE": self.base + "/compute/v1/",
            "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE": self.cacert,
            "OCI_CLI_CERT_BUNDLE": self.cacert,
            "OS_CACERT": self.cacert,
        }

    def openstack_env(self, appcred=False):
        e = {"OS_AUTH_URL": self.base + "/identity/v3", "OS_REGION_NAME": "RegionOne", "OS_INTERFACE": "public"}
        if appcred:
            e.update({"OS_AUTH_TYPE": "v3applicationcredential", "OS_APPLICATION_CREDENTIAL_ID": OS_APPCRED_ID,
                      "OS_APPLICATION_CREDENTIAL_SECRET": OS_APPCRED_SECRET})
        else:
            e.update({"OS_USERNAME": OS_USER, "OS_PASSWORD": OS_PASSWORD, "OS_PROJECT_NAME": OS_PROJECT,
                      "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default"})
        return e

    # --- routing ----------------------------------------------------------------------------------------
    def route(self, h, method, url, body):
        p = url.path
        with self.lock:
            self.last_headers = dict(h.headers)
        if p == "/" and method == "POST":
            return self.aws(h, body)
        if p.startswith("/compute/v1/"):
            return self.gcp(h, method, p, body)
        if p == "/token":
            return self.gcp_token(h, body)
        if p.startswith("/computeMetadata/"):
            return self.gce_metadata(h, p)
        if p.startswith("/latest/"):
            return self.imds(h, method, p)
        if p.startswith("/20160918/instances/"):
            return self.oci(h, method, url, body)
        if p == "/identity/v3/auth/tokens":
            return self.keystone(h, body)
        if p.startswith("/compute/v2.1/servers/"):
            return self.nova(h, method, p, body)
        return 404, {}, b"no such lab endpoint"

    def _scripted(self, instance, render, h=None):
        s = self._next(instance)
        if s is None:
            return None
        if s.get("drop"):
            reused = h is not None and getattr(h, "requests_served", 1) > 1
            if s["drop"] == "always" or reused:
                with self.lock:
                    self.drops.append((instance, reused))
                return DROP
        if "stall" in s:
            return self._stall(s["stall"])
        out = render(s)
        if s.get("truncate"):
            out[1]["_truncate"] = True
            return out[0], out[1], out[2][:10]
        return out

    # --- AWS EC2 ----------------------------------------------------------------------------------------
    def aws(self, h, body):
        auth = h.headers.get("Authorization", "")
        amz_date = h.headers.get("X-Amz-Date", "")
        rid = str(uuid.uuid4())

        def err(status, code, msg):
            x = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>%s</Code><Message>%s"
                 "</Message></Error></Errors><RequestID>%s</RequestID></Response>" % (code, msg, rid))
            return status, {"Content-Type": "text/xml;charset=UTF-8"}, x.encode()

        try:
            fields = dict(kv.split(" ", 1)[1].split("=", 1) if " " in kv else kv.split("=", 1)
                          for kv in auth.split(", "))
            cred = fields["Credential"].split("/")
            signed = fields["SignedHeaders"].split(";")
        except (KeyError, ValueError, IndexError):
            self._fail("aws", "no SigV4 Authorization")
            return err(401, "AuthFailure", "no valid Authorization header")
        secrets = {AWS_KEY: (AWS_SECRET, AWS_TOKEN), IMDS_KEY: (IMDS_SECRET, IMDS_TOKEN)}
        if cred[0] not in secrets:
            self._fail("aws", "unknown key " + cred[0])
            return err(401, "AuthFailure", "AWS was not able to validate the provided access credentials")
        secret, token = secrets[cred[0]]
        for need in ("host", "x-amz-date", "content-type"):
            if need not in signed:
                self._fail("aws", "%s not signed" % need)
                return err(400, "IncompleteSignature", "%s must be signed" % need)
        # botocore recomputes the signature from the headers the client says it signed.
        headers = {k: h.headers[k] for k in h.headers.keys() if k.lower() in signed and k.lower() != "x-amz-security-token"}
        sent_token = h.headers.get("X-Amz-Security-Token")
        req = botocore.awsrequest.AWSRequest(method="POST", url="https://%s/" % h.headers["Host"], data=body,
                                             headers=headers)
        creds = botocore.credentials.Credentials(cred[0], secret, sent_token if sent_token else None)
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
        except ValueError:
            self._fail("aws", "bad X-Amz-Date %r" % amz_date)
            return err(400, "IncompleteSignature", "bad X-Amz-Date")
        # AWS refuses a request signed more than 5 minutes from its own clock (a replay window, and a bad clock).
        if abs((datetime.datetime.utcnow() - when).total_seconds()) > 300:
            self._fail("aws", "X-Amz-Date %s is more than 5 minutes off" % amz_date)
            return err(400, "RequestExpired", "Request has expired.")
        # mock.patch swaps a module global: one signature at a time.
        with self.sign_lock, mock.patch.object(botocore.auth, "datetime") as dt:
            dt.datetime.utcnow.return_value = when
            dt.datetime.strftime = datetime.datetime.strftime
            botocore.auth.SigV4Auth(creds, "ec2", cred[2]).add_auth(req)
        expected = req.headers["Authorization"]
        if expected != auth:
            self._fail("aws", "signature mismatch")
            return err(403, "SignatureDoesNotMatch", "The request signature we calculated does not match")
        if sent_token != token:
            self._fail("aws", "session token missing or wrong")
            return err(401, "AuthFailure", "session token missing or wrong")
        form = dict(urllib.parse.parse_qsl(body.decode()))
        if form.get("Action") in self.aws_actions and form.get("Version") == "2016-11-15":
            return self.aws_actions[form["Action"]](form, rid)
        if form.get("Action") != "SendDiagnosticInterrupt" or form.get("Version") != "2016-11-15":
            return err(400, "InvalidAction", "unexpected action")
        inst = form.get("InstanceId", "")
        dry = form.get("DryRun") == "true"
        self._count("aws.dryrun" if dry else "aws.interrupt", inst)
        self._count("aws.region." + cred[2])

        def render(s):
            if s.get("status", 200) == 200 and "body" in s:
                return 200, {"Content-Type": "text/html"}, s["body"].encode()  # a proxy's page, say
            if s.get("status", 200) == 200:
                return self._aws_ok(rid)
            out = err(s["status"], s.get("code", "InternalError"), s.get("message", "scripted"))
            out[1].update(s.get("headers", {}))
            if "body" in s:
                return out[0], out[1], s["body"].encode()
            return out

        out = self._scripted(inst, render, h) if inst in self.scripts else None
        if out is not None or inst in self.scripts:
            return out
        if dry:
            return err(412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
        return self._aws_ok(rid)

    def _aws_ok(self, rid):
        x = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SendDiagnosticInterruptResponse xmlns=\"http://ec2."
             "amazonaws.com/doc/2016-11-15/\"><requestId>%s</requestId><return>true</return>"
             "</SendDiagnosticInterruptResponse>" % rid)
        return 200, {"Content-Type": "text/xml;charset=UTF-8"}, x.encode()

    # --- EC2 IMDSv2 -------------------------------------------------------------------------------------
    def imds(self, h, method, p):
        if p == "/latest/api/token" and method == "PUT":
            if not h.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                return 400, {}, b"missing TTL"
            self._count("imds.token")
            return 200, {}, b"lab-imds-session-token"
        if h.headers.get("X-aws-ec2-metadata-token") != "lab-imds-session-token":
            self._count("imds.unauthorized")
            return 401, {}, b""
        if p == "/latest/meta-data/iam/security-credentials/":
            self._count("imds.role")
            return 200, {}, b"lab-role"
        if p == "/latest/meta-data/iam/security-credentials/lab-role":
            self._count("imds.creds")
            exp = (datetime.datetime.utcnow() + datetime.timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
            doc = {"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": IMDS_KEY, "SecretAccessKey": IMDS_SECRET,
                   "Token": IMDS_TOKEN, "Expiration": exp}
            return 200, {}, json.dumps(doc).encode()
        return 404, {}, b""

    # --- Google -----------------------------------------------------------------------------------------
    def _issue(self, prefix="ya29.lab-"):
        t = prefix + uuid.uuid4().hex
        with self.lock:
            self.issued_tokens.add(t)
            self.token_expiry[t] = time.time() + self.token_lifetime
        return t

    def token_valid(self, t):
        with self.lock:
            return t in self.issued_tokens and time.time() < self.token_expiry.get(t, 0)

    def gcp_token(self, h, body):
        form = dict(urllib.parse.parse_qsl(body.decode()))
        grant = form.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            try:
                hdr = pyjwt.get_unverified_header(form.get("assertion", ""))
                claims = pyjwt.decode(form["assertion"], self.sa_key.public_key(), algorithms=["RS256"],
                                      audience=self.base + "/token", issuer=GCP_SA_EMAIL)
                if hdr.get("kid") != "labkey1" or "scope" not in claims or claims["exp"] - claims["iat"] != 3600:
                    raise ValueError("claims %r header %r" % (claims, hdr))
                # Google issues a token for the scopes asked; one without Compute Engine's would be refused there.
                if not set(claims["scope"].split()) & set(GCP_COMPUTE_SCOPES):
                    self._fail("gcp.token", "scope %r" % claims["scope"])
                    return 400, {"Content-Type": "application/json"}, json.dumps(
                        {"error": "invalid_scope", "error_description": "no Compute Engine scope"}).encode()
            except Exception as e:
                self._fail("gcp.token", repr(e))
                return 400, {"Content-Type": "application/json"}, json.dumps(
                    {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}).encode()
            self._count("gcp.token.jwt")
        elif grant == "refresh_token":
            if (form.get("client_id"), form.get("client_secret"), form.get("refresh_token")) != \
                    (GCP_CLIENT_ID, GCP_CLIENT_SECRET, GCP_REFRESH):
                self._fail("gcp.token", "bad refresh grant")
                return 400, {"Content-Type": "application/json"}, json.dumps(
                    {"error": "invalid_grant", "error_description": "Bad Request"}).encode()
            self._count("gcp.token.refresh")
        else:
            return 400, {}, b'{"error":"unsupported_grant_type"}'
        doc = {"access_token": self._issue() + self.token_suffix, "expires_in": self.token_lifetime,
               "token_type": "Bearer"}
        return 200, {"Content-Type": "application/json"}, json.dumps(doc).encode()

    def gce_metadata(self, h, p):
        if h.headers.get("Metadata-Flavor") != "Google":
            return 403, {}, b"Missing Metadata-Flavor:Google header."
        if p != "/computeMetadata/v1/instance/service-accounts/default/token":
            return 404, {}, b""
        self._count("gcp.metadata")
        doc = {"access_token": self._issue(), "expires_in": self.token_lifetime, "token_type": "Bearer"}
        return 200, {"Metadata-Flavor": "Google", "Content-Type": "application/json"}, json.dumps(doc).encode()

    def gcp(self, h, method, p, body):
        parts = p[len("/compute/v1/"):].split("/")
        if len(parts) < 6 or parts[0] != "projects" or parts[2] != "zones" or parts[4] != "instances":
            return 404, {}, b"bad path"
        inst = parts[5]
        action = parts[6] if len(parts) > 6 else None
        rid = uuid.uuid4().hex

        def gerr(status, reason, message):
            d = {"error": {"code": status, "message": message, "errors": [{"message": message, "domain": "global",
                                                                          "reason": reason}],
                           "details": [{"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": rid}]}}
            return status, {"Content-Type": "application/json"}, json.dumps(d).encode()

        auth = h.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not self.token_valid(auth[7:]):
            self._fail("gcp", "bad or expired bearer token")
            return gerr(401, "authError", "Request had invalid authentication credentials.")
        kind = {"sendDiagnosticInterrupt": "gcp.interrupt", "testIamPermissions": "gcp.testperm", None: "gcp.get"}
        if action not in kind or (action and method != "POST") or (not action and method != "GET"):
            return 404, {}, b"bad action"
        self._count(kind[action], inst)
        if action == "testIamPermissions":
            asked = json.loads(body or b"{}").get("permissions", [])
            return 200, {"Content-Type": "application/json"}, json.dumps(
                {"permissions": [x for x in asked if x in self.gcp_permissions]} if
                any(x in self.gcp_permissions for x in asked) else {}).encode()

        def render(s):
            if s.get("status", 200) == 200:
                return 200, {}, b""
            out = gerr(s["status"], s.get("code", "backendError"), s.get("message", "scripted"))
            out[1].update(s.get("headers", {}))
            return out[0], out[1], s["body"].encode() if "body" in s else out[2]

        if inst in self.scripts:
            return self._scripted(inst, render, h)
        if action is None:
            return 200, {"Content-Type": "application/json"}, json.dumps(
                dict({"id": "123", "name": inst, "status": self.instance_state.get(inst, "RUNNING")},
                     **self.gcp_instance_extra.get(inst, {}))).encode()
        return 200, {"Content-Length": "0"}, b""

    # --- OCI --------------------------------------------------------------------------------------------
    def oci(self, h, method, url, body):
        inst = urllib.parse.unquote(url.path.rsplit("/", 1)[1])
        rid = uuid.uuid4().hex.upper()

        def oerr(status, code, msg):
            return status, {"Content-Type": "application/json", "opc-request-id": rid}, json.dumps(
                {"code": code, "message": msg}).encode()

        auth = h.headers.get("Authorization", "")
        try:
            params = {}
            for part in auth[len("Signature "):].split(","):
                k, v = part.split("=", 1)
                params[k] = v.strip('"')
            names = params["headers"].split(" ")
            if params.get("version") != "1" or params.get("algorithm") != "rsa-sha256" or \
                    params.get("keyId") != self.oci_key_id:
                raise ValueError("bad parameters %r" % params)
            need = ["date", "(request-target)", "host"]
            if method in ("POST", "PUT"):
                need += ["content-length", "content-type", "x-content-sha256"]
            if any(n not in names for n in need):
                raise ValueError("headers %r lack one of %r" % (names, need))
            lines = []
            for n in names:
                if n == "(request-target)":
                    lines.append("(request-target): %s %s" % (method.lower(), h.path))
                else:
                    lines.append("%s: %s" % (n, h.headers.get(n, "")))
            self.oci_key.public_key().verify(base64.b64decode(params["signature"]), "\n".join(lines).encode(),
                                             padding.PKCS1v15(), hashes.SHA256())
            if "x-content-sha256" in names and h.headers["x-content-sha256"] != \
                    base64.b64encode(hashlib.sha256(body).digest()).decode():
                raise ValueError("x-content-sha256 does not match the body")
            when = datetime.datetime.strptime(h.headers["date"], "%a, %d %b %Y %H:%M:%S GMT")
            if abs((datetime.datetime.utcnow() - when).total_seconds()) > 300:
                raise ValueError("clock skew")
        except Exception as e:
            self._fail("oci", repr(e))
            return oerr(401, "NotAuthenticated", "The required information to complete authentication was "
                                                "not provided or was incorrect.")
        q = urllib.parse.parse_qs(url.query)
        if method == "POST":
            if q.get("action") != ["SENDDIAGNOSTICINTERRUPT"]:
                return oerr(400, "InvalidParameter", "bad action")
            kind = "oci.interrupt"
            with self.lock:
                self.counts.setdefault(("oci.retry_tokens", inst), set()).add(h.headers.get("opc-retry-token"))
        else:
            kind = "oci.get"
        self._count(kind, inst)

        def render(s):
            if s.get("status", 200) == 200:
                return self._oci_instance(inst, rid)
            out = oerr(s["status"], s.get("code", "InternalServerError"), s.get("message", "scripted"))
            out[1].update(s.get("headers", {}))
            return out[0], out[1], s["body"].encode() if "body" in s else out[2]

        if inst in self.scripts:
            return self._scripted(inst, render, h)
        return self._oci_instance(inst, rid)

    def _oci_instance(self, inst, rid):
        doc = {"id": inst, "lifecycleState": self.instance_state.get(inst, "RUNNING"), "displayName": "lab"}
        return 200, {"Content-Type": "application/json", "opc-request-id": rid}, json.dumps(doc).encode()

    # --- OpenStack --------------------------------------------------------------------------------------
    def keystone(self, h, body):
        try:
            ident = json.loads(body)["auth"]["identity"]
        except (ValueError, KeyError):
            return 400, {}, b"bad auth body"
        ok = False
        if ident.get("methods") == ["password"]:
            u = ident["password"]["user"]
            ok = u.get("name") == OS_USER and u.get("password") == OS_PASSWORD and \
                u.get("domain", {}).get("name") == "Default"
            scope = json.loads(body)["auth"].get("scope", {}).get("project", {})
            ok = ok and scope.get("name") == OS_PROJECT
            kind = "os.token.password"
        elif ident.get("methods") == ["application_credential"]:
            a = ident["application_credential"]
            ok = a.get("id") == OS_APPCRED_ID and a.get("secret") == OS_APPCRED_SECRET
            kind = "os.token.appcred"
        if not ok:
            self._fail("keystone", "bad credentials")
            return 401, {"Content-Type": "application/json"}, b'{"error":{"code":401,"title":"Unauthorized"}}'
        self._count(kind)
        tok = self._issue("gAAAAlab")
        exp = (datetime.datetime.utcnow() + datetime.timedelta(seconds=self.token_lifetime)).strftime(
            "%Y-%m-%dT%H:%M:%S.000000Z")
        compute = self.base + "/compute/v2.1"
        catalog = [{"type": "identity", "name": "keystone", "endpoints": [
                       {"interface": "public", "region": "RegionOne", "url": self.base + "/identity"}]},
                   {"type": "compute", "name": "nova", "endpoints": [
                       {"interface": "internal", "region": "RegionOne", "url": "https://10.0.0.1:8774/v2.1"},
                       {"interface": "public", "region": "RegionTwo", "url": "https://10.0.0.2:8774/v2.1"},
                       {"interface": "public", "region": "RegionOne", "url": compute}]}]
        doc = {"token": {"expires_at": exp, "methods": ident["methods"], "catalog": catalog}}
        return 201, {"Content-Type": "application/json", "X-Subject-Token": tok}, json.dumps(doc).encode()

    def nova(self, h, method, p, body):
        parts = p[len("/compute/v2.1/servers/"):].split("/")
        sid = parts[0]
        rid = "req-" + str(uuid.uuid4())
        hdrs = {"Content-Type": "application/json", "x-openstack-request-id": rid, "x-compute-request-id": rid}
        if not self.token_valid(h.headers.get("X-Auth-Token")):
            self._fail("nova", "bad or expired token")
            return 401, hdrs, b'{"error": {"code": 401, "title": "Unauthorized"}}'
        if h.headers.get("OpenStack-API-Version") != "compute 2.17":
            return 400, hdrs, b'{"badRequest": {"message": "microversion 2.17 needed", "code": 400}}'
        if method == "POST" and parts[1:] == ["action"]:
            if json.loads(body) != {"trigger_crash_dump": None}:
                return 400, hdrs, b'{"badRequest": {"message": "bad action body", "code": 400}}'
            kind = "os.interrupt"
        elif method == "GET" and len(parts) == 1:
            kind = "os.get"
        else:
            return 404, hdrs, b""
        self._count(kind, sid)

        def render(s):
            st = s.get("status", 202)
            if st in (200, 202):
                return (202, hdrs, b"") if kind == "os.interrupt" else self._nova_server(sid, hdrs)
            out = dict(hdrs)
            out.update(s.get("headers", {}))
            name = {409: "conflictingRequest", 404: "itemNotFound", 403: "forbidden", 400: "badRequest"}.get(
                st, "computeFault")
            return st, out, s["body"].encode() if "body" in s else json.dumps(
                {name: {"message": s.get("message", "scripted"), "code": st}}).encode()

        if sid in self.scripts:
            return self._scripted(sid, render, h)
        return (202, hdrs, b"") if kind == "os.interrupt" else self._nova_server(sid, hdrs)

    def _nova_server(self, sid, hdrs):
        doc = {"server": {"id": sid, "status": self.instance_state.get(sid, "ACTIVE"), "locked": False}}
        return 200, hdrs, json.dumps(doc).encode()
