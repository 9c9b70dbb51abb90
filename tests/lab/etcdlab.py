"""A real etcd cluster on loopback for the fleet brakes' tests and bench: N `etcd` processes (Debian's etcd-server
3.4) with --name/--initial-cluster on 127.0.0.1 free ports, data in a temporary directory, started and stopped
here. Optionally TLS with client certificates on the client URLs (a CA, a server and a client certificate made
with python3-cryptography).

    lab = Cluster(tmpdir, n=3).start()       # waits until every member is healthy and a leader is elected
    lab.endpoints                            # ["http://127.0.0.1:PORT", ...]
    lab.kill(0)                              # SIGKILL one member
    lab.keys("/diagint/")                    # what etcdctl sees
    lab.stop()                               # every process, and the data
"""
import atexit
import datetime
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request

SKIP = 77


def etcd_binary():
    for p in ("/usr/bin/etcd", shutil.which("etcd") or ""):
        if p and os.access(p, os.X_OK):
            return p
    return None


def require_etcd_or_skip():
    """Exit 77 (a visible skip) without etcd; under DIAGINT_REQUIRE_GUEST=1 (CI) a failure instead."""
    if etcd_binary() and shutil.which("etcdctl"):
        return
    msg = "etcd/etcdctl missing (scripts/deps fleet installs etcd-server and etcd-client)"
    if os.environ.get("DIAGINT_REQUIRE_GUEST") == "1":
        print("FAIL: " + msg)
        raise SystemExit(1)
    print("SKIP: " + msg)
    raise SystemExit(SKIP)


def _free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def make_tls(d, client_cn="diagint"):
    """CA, server certificate for 127.0.0.1, client certificate; returns a dict of PEM paths. client_cn None: a
    client certificate without a CommonName, which etcd's JSON gateway needs when auth is enabled (it refuses
    a CN it would otherwise have to ignore)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    import ipaddress

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write(path, data, mode):
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as f:
            f.write(data)
        return path

    def key_pem(k):
        return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("diagint etcd lab CA")).issuer_name(name("diagint etcd lab CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    out = {"ca": write(os.path.join(d, "etcd-ca.pem"), ca.public_bytes(serialization.Encoding.PEM), 0o644)}
    for role, cn, eku in (("server", "127.0.0.1", [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                          ("client", client_cn, [ExtendedKeyUsageOID.CLIENT_AUTH])):
        k = ec.generate_private_key(ec.SECP256R1())
        subject = name(cn) if cn else x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "diagint")])
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.subject).public_key(k.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.ExtendedKeyUsage(eku), critical=False))
        if role == "server":
            b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                              x509.DNSName("localhost")]), critical=False)
        c = b.sign(ca_key, hashes.SHA256())
        out[role + "_cert"] = write(os.path.join(d, "etcd-%s.pem" % role), c.public_bytes(serialization.Encoding.PEM),
                                    0o644)
        out[role + "_key"] = write(os.path.join(d, "etcd-%s-key.pem" % role), key_pem(k), 0o600)
    return out


class Cluster:
    def __init__(self, tmpdir, n=3, tls=False, client_cn="diagint"):
        self.dir = tmpdir
        self.n = n
        self.tls = make_tls(tmpdir, client_cn) if tls else None
        ports = _free_ports(2 * n)
        self.client_ports, self.peer_ports = ports[:n], ports[n:]
        scheme = "https" if tls else "http"
        self.endpoints = ["%s://127.0.0.1:%d" % (scheme, p) for p in self.client_ports]
        self.procs = [None] * n
        self.token = "diagint-lab-%d-%d" % (os.getpid(), int(time.time() * 1000))

    def _args(self, i):
        cluster = ",".join("m%d=http://127.0.0.1:%d" % (k, p) for k, p in enumerate(self.peer_ports))
        a = [etcd_binary(), "--name", "m%d" % i, "--data-dir", os.path.join(self.dir, "m%d" % i),
             "--listen-client-urls", self.endpoints[i], "--advertise-client-urls", self.endpoints[i],
             "--listen-peer-urls", "http://127.0.0.1:%d" % self.peer_ports[i],
             "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % self.peer_ports[i],
             "--initial-cluster", cluster, "--initial-cluster-state", "new",
             "--initial-cluster-token", self.token,
             # Loopback: elections in half a second instead of a second; fsyncs stay as in production.
             "--heartbeat-interval", "50", "--election-timeout", "500", "--logger", "zap", "--log-level", "warn"]
        if self.tls:
            a += ["--cert-file", self.tls["server_cert"], "--key-file", self.tls["server_key"],
                  "--client-cert-auth", "--trusted-ca-file", self.tls["ca"]]
        return a

    def start(self, timeout=30):
        # Members run in sessions of their own (a kill of the test's process group leaves them): stopped at exit
        # whatever happens, and right away when the cluster does not come up.
        atexit.register(self.stop)
        for i in range(self.n):
            self.start_member(i)
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def start_member(self, i):
        log = open(os.path.join(self.dir, "m%d.log" % i), "ab")
        self.procs[i] = subprocess.Popen(self._args(i), stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        log.close()

    def _ssl(self):
        if not self.tls:
            return None
        ctx = ssl.create_default_context(cafile=self.tls["ca"])
        ctx.load_cert_chain(self.tls["client_cert"], self.tls["client_key"])
        return ctx

    def healthy(self, i):
        try:
            with urllib.request.urlopen(self.endpoints[i] + "/health", timeout=2, context=self._ssl()) as r:
                return json.loads(r.read().decode()).get("health") == "true"
        except Exception:
            return False

    def wait_healthy(self, timeout=30, members=None):
        deadline = time.monotonic() + timeout
        members = range(self.n) if members is None else members
        while time.monotonic() < deadline:
            for i in members:
                if self.procs[i] and self.procs[i].poll() is not None:
                    raise RuntimeError("etcd member m%d exited: %s" % (i, self.log(i)[-2000:]))
            if all(self.healthy(i) for i in members):
                return
            time.sleep(0.1)
        raise RuntimeError("etcd cluster not healthy within %ds: %s" % (timeout, self.log(0)[-2000:]))

    def log(self, i):
        try:
            with open(os.path.join(self.dir, "m%d.log" % i), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def kill(self, i):
        p = self.procs[i]
        if p and p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        self.procs[i] = None

    def stop(self):
        for i in range(self.n):
            self.kill(i)

    def etcdctl(self, *args):
        alive = [e for i, e in enumerate(self.endpoints) if self.procs[i]]
        cmd = ["etcdctl", "--endpoints", ",".join(alive), "--command-timeout", "5s"]
        if self.tls:
            cmd += ["--cacert", self.tls["ca"], "--cert", self.tls["client_cert"], "--key", self.tls["client_key"]]
        env = dict(os.environ, ETCDCTL_API="3")
        return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=30, env=env)

    def keys(self, prefix):
        p = self.etcdctl("get", "--prefix", "--keys-only", prefix)
        if p.returncode:
            raise RuntimeError("etcdctl: " + p.stderr)
        return [k for k in p.stdout.splitlines() if k]

    def config(self, path, extra="", endpoints=None, watch=""):
        """A diagint.conf with [fleet] for this cluster (mode 0600)."""
        lines = ["[fleet]", "Endpoints = " + " ".join(endpoints or self.endpoints), "DialTimeout = 500ms",
                 "CommandTimeout = 3s"]
        if self.tls:
            lines += ["CACert = " + self.tls["ca"], "Cert = " + self.tls["client_cert"], "Key = " + self.tls["client_key"]]
        text = "\n".join(lines) + "\n" + extra
        if watch:
            text += "[watch]\n" + watch
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(text)
        return path
