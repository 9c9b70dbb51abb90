#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Seed corpora for the fuzz harnesses (tests/fuzz/corpus/NAME), from the test fixtures: the string literals of
tests/*.c (adjacent literals joined, macros expanded by the C preprocessor for the providers' canned answers),
the cloud lab's answers (tests/cloudlab) and the hook's test definitions (tests/integration), plus synthetic
streams where the tests build them at run time (kdump, audit logs, PEM keys). Run from the source root:
    tests/fuzz/mkcorpus.py [BUILD_DIR]
BUILD_DIR (default build-test) holds dg_config.h for the preprocessor and the core library for the audit seeds.
Existing seeds are kept (crash reproducers included); new ones are named by the SHA-1 of their bytes, as
libFuzzer names them."""
import hashlib
import hmac
import os
import re
import struct
import subprocess
import sys
import tempfile

SRC = os.getcwd()
BUILD = sys.argv[1] if len(sys.argv) > 1 else "build-test"
CORPUS = os.path.join(SRC, "tests", "fuzz", "corpus")
MAX_SEED = 8192

ESC = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'", "a": "\a", "e": "\x1b"}


def c_literals(text):
    """Every C string literal, adjacent ones joined, escapes decoded."""
    out, cur, i, n = [], None, 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
            continue
        if text.startswith("/*", i):
            i = text.find("*/", i) + 2
            continue
        if c == "'":
            i = text.find("'", i + 2 if text[i + 1] == "\\" else i + 1) + 1
            if cur is not None:
                out.append(cur)
                cur = None
            continue
        if c == '"':
            i += 1
            s = []
            while text[i] != '"':
                if text[i] == "\\":
                    e = text[i + 1]
                    if e == "x":
                        m = re.match(r"[0-9a-fA-F]{1,2}", text[i + 2:])
                        s.append(chr(int(m.group(0), 16)))
                        i += 2 + len(m.group(0))
                        continue
                    s.append(ESC.get(e, e))
                    i += 2
                else:
                    s.append(text[i])
                    i += 1
            i += 1
            cur = (cur or "") + "".join(s)
            continue
        if not c.isspace() and cur is not None:
            out.append(cur)
            cur = None
        i += 1
    if cur is not None:
        out.append(cur)
    return out


def literals(*files):
    out = []
    for f in files:
        out += c_literals(open(os.path.join(SRC, f), encoding="utf-8", errors="replace").read())
    return out


def preprocessed(f):
    cmd = ["cc", "-E", "-P", "-D_GNU_SOURCE", "-I" + os.path.join(SRC, "shared/include"), "-I" + BUILD,
           "-I" + os.path.join(SRC, "tests"), "-I/usr/include/json-c", "-I/usr/include/libxml2",
           os.path.join(SRC, f)]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def add(name, data):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    if not data or len(data) > MAX_SEED:
        return
    d = os.path.join(CORPUS, name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, hashlib.sha1(data).hexdigest())
    if not os.path.exists(path):
        open(path, "wb").write(data)


def rsa_pem():
    return subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                          check=True, capture_output=True, text=True).stdout


def conf_seeds():
    for s in literals("tests/test_config.c", "tests/test_watch_config.c", "tests/test_untrusted_files.c",
                      "tests/test_send.c", "tests/test_retention.c"):
        if "[capture]" in s or "[watch]" in s or "[domain:" in s:
            add("config", s)
    for f in ("docs/diagint.conf.example", "debian/diagint.conf"):
        if os.path.exists(os.path.join(SRC, f)):
            add("config", open(os.path.join(SRC, f)).read())


def ini_seeds():
    for s in literals("tests/test_ini.c", "tests/test_creds_aws.c", "tests/test_creds_oci.c", "tests/test_config.c"):
        if re.search(r"^\[[^\]\n]+\]", s, re.M):
            add("ini", s)


def aws_seeds():
    lits = literals("tests/test_creds_aws.c")
    creds = [s for s in lits if "aws_access_key_id" in s and "[" in s]
    confs = [s for s in lits if "[default]" in s or "[profile" in s]
    for c in creds:
        add("creds_aws", c)
        for k in confs:
            add("creds_aws", c + "\n%%\n" + k)
    for k in confs:
        add("creds_aws", "\n%%\n" + k)


def gcp_seeds(pem):
    import json
    for s in literals("tests/test_creds_gcp.c"):
        if s.startswith("{") and "type" in s:
            add("creds_gcp", s)
    sa = {"type": "service_account", "project_id": "p", "private_key_id": "k1", "private_key": pem,
          "client_email": "sa@p.iam.gserviceaccount.com", "token_uri": "https://oauth2.googleapis.com/token"}
    add("creds_gcp", json.dumps(sa))
    add("creds_gcp", json.dumps({"type": "authorized_user", "client_id": "c.apps.googleusercontent.com",
                                 "client_secret": "s", "refresh_token": "1//r"}))


def oci_seeds(pem):
    for s in literals("tests/test_creds_oci.c"):
        if "[DEFAULT]" in s or "tenancy" in s:
            s = re.sub(r"key_file *= *[^\n]*", "key_file = ~/key.pem", s)
            if "key_file" not in s:
                s += "key_file = ~/key.pem\n"
            add("creds_oci", s + "\n%%\n" + pem)
    add("creds_oci", "[DEFAULT]\nuser=ocid1.user.oc1..u\nfingerprint=aa:bb\ntenancy=ocid1.tenancy.oc1..t\n"
                     "region=us-ashburn-1\nkey_file=~/key.pem\n\n%%\n" + pem)


def answer(status, flags, headers, body):
    head = "%d %d\n" % (status, flags) + "".join("%s: %s\n" % kv for kv in headers)
    return (head + "\n").encode() + (body if isinstance(body, bytes) else body.encode("utf-8", "surrogateescape"))


def reply_seeds():
    hdr = {"aws": ("x-amzn-requestid", "req-h"), "gcp": ("x-goog-request-id", "g"),
           "oci": ("opc-request-id", "OPC-1"), "openstack": ("x-openstack-request-id", "req-1")}
    for prov in ("aws", "gcp", "oci", "openstack"):
        text = preprocessed("tests/test_provider_%s.c" % prov)
        for m in re.finditer(r"\bexpect\(ctx,\s*(\d+),\s*", text):
            rest = text[m.end():]
            lits = []
            j = 0
            # the body: string literals (joined) or NULL
            if rest.startswith("NULL") or rest.startswith("((void *)0)"):
                body = ""
                j = rest.index(",")
            else:
                k = 0
                while True:
                    mm = re.match(r'\s*"', rest[k:])
                    if not mm:
                        break
                    k += mm.end() - 1
                    # find the closing quote
                    q = k + 1
                    while rest[q] != '"':
                        q += 2 if rest[q] == "\\" else 1
                    lits.append(rest[k:q + 1])
                    k = q + 1
                body = "".join(c_literals(" ".join(lits))) if lits else ""
                j = k + rest[k:].index(",")
            args = [a.strip() for a in rest[j + 1:].split(",")[:2]]
            dry = args[0] in ("true", "1")
            index = int(args[1]) if prov == "gcp" and args[1].isdigit() else 0
            flags = (1 if dry else 0) | index << 1
            add("reply_" + prov, answer(int(m.group(1)), flags, [hdr[prov]], body))
        add("reply_" + prov, answer(429, 0, [("retry-after", "3"), hdr[prov]], ""))
        add("reply_" + prov, answer(503, 0, [("retry-after", "Wed, 21 Oct 2026 07:28:00 GMT")], ""))


def token_seeds():
    tok = '{"access_token":"ya29.lab-token","expires_in":3599,"token_type":"Bearer"}'
    add("token_gcp", answer(200, 0, [("content-type", "application/json")], tok))
    add("token_gcp", answer(200, 1, [("metadata-flavor", "Google"), ("content-type", "application/json")], tok))
    add("token_gcp", answer(200, 1, [], tok))
    add("token_gcp", answer(400, 0, [], '{"error":"invalid_grant","error_description":"Invalid JWT Signature."}'))
    add("token_gcp", answer(400, 0, [], '{"error":"unsupported_grant_type"}'))
    add("token_gcp", answer(403, 1, [], "Missing Metadata-Flavor:Google header."))
    add("token_gcp", answer(500, 0, [], ""))
    cat = ('{"token":{"expires_at":"2026-12-06T18:00:00.000000Z","methods":["password"],"catalog":['
           '{"type":"identity","name":"keystone","endpoints":[{"interface":"public","region":"RegionOne",'
           '"url":"https://keystone:5000/v3"}]},{"type":"compute","name":"nova","endpoints":['
           '{"interface":"internal","region":"RegionOne","url":"https://nova-int:8774/v2.1"},'
           '{"interface":"public","region":"RegionOne","url":"https://nova:8774/v2.1"},'
           '{"interface":"public","region":"RegionTwo","url":"https://nova2:8774/v2.1"}]}]}}')
    for flags in (0, 1):
        add("token_openstack", answer(201, flags, [("x-subject-token", "gAAAAABlab"),
                                                   ("content-type", "application/json")], cat))
    add("token_openstack", answer(201, 0, [("x-subject-token", "gAAAAABlab")],
                                  '{"token":{"expires_at":"2026-12-06T18:00:00Z"}}'))
    add("token_openstack", answer(401, 0, [], '{"error":{"code":401,"title":"Unauthorized"}}'))
    add("token_openstack", answer(201, 0, [], cat))
    add("token_openstack", answer(503, 0, [], ""))


def xml_seeds():
    for name, memory, unit in (("big", "1", "TiB"), ("odd", "1", "furlongs"), ("web-1", "131072", "KiB"),
                               ("b", "1073741824", "b"), ("e", "16", "EiB"), ("x" * 300, "128", "MiB")):
        add("hook_xml", "<domain type='kvm'><name>%s</name><uuid>3f2a6c1e-5b7d-4e21-9a0b-3c8d2e1f0a9b</uuid>"
                        "<memory unit='%s'>%s</memory></domain>" % (name, unit, memory))
    tmpl = os.path.join(SRC, "tests/lab/mkguest.py")
    for s in re.findall(r"<domain.*?</domain>", open(tmpl).read(), re.S):
        add("hook_xml", s)
    for s in literals("tests/test_watch_config.c", "tests/test_probe.c"):
        if "<watch" in s or "watch" in s and s.startswith("<"):
            add("watch_meta", s)
    add("watch_meta", "<watch xmlns='https://diagint.dev/xmlns/watch/1' enabled='yes' probes='heartbeat cputime "
                      "agent' heartbeat='login:' probe-interval='5' probe-misses='3' cooldown='30m' "
                      "destination='/var/lib/diagint/dumps'/>")


def kdump_seeds():
    def be(v):
        return struct.pack(">q", v)

    head = b"makedumpfile".ljust(16, b"\0") + be(1) + be(1)
    head = head.ljust(4096, b"\0")
    recs = be(0) + be(8) + b"KDUMP   " + be(4096) + be(16) + bytes(range(16)) + be(8) + be(4) + b"abcd"
    end = be(-1) + be(-1)
    for sel in (0, 3, 7):
        add("kdumpflat", bytes([sel]) + head + recs + end)
    add("kdumpflat", bytes([1]) + head + end)
    add("kdumpflat", bytes([2]) + head + recs)                     # truncated
    add("kdumpflat", bytes([4]) + head + be(-5) + be(8) + b"x" * 8 + end)  # negative offset
    add("kdumpflat", bytes([5]) + head + end + b"trailing")


def audit_seeds():
    """Real logs from the core's writer (a throwaway program linked with the build's library)."""
    prog = r'''
#include <stdio.h>
#include <string.h>
#include "diagint/audit.h"
int main(int argc, char **argv)
{
	static const unsigned char key[] = "0123456789abcdef-fuzz-key";
	struct dg_audit_log *log;
	struct dg_audit_event ev;
	struct dg_error err = { 0 };
	int keyed = argv[2][0] == 'k';
	if (argc < 3 || dg_audit_log_open(argv[1], keyed ? key : NULL, keyed ? sizeof(key) - 1 : 0,
	    DG_AUDIT_NO_SYSLOG | DG_AUDIT_NO_KAUDIT | DG_AUDIT_NO_FSYNC, &log, &err) < 0)
		return 1;
	for (int i = 0; i < 3; i++) {
		dg_audit_event_init(&ev, "cli", i ? "inject" : "authorize");
		snprintf(ev.target, sizeof(ev.target), "libvirt:web-%d", i);
		snprintf(ev.reason, sizeof(ev.reason), "fuzz seed \"%d\"\\", i);
		ev.result = i == 2 ? DG_AUDIT_DENIED : DG_AUDIT_OK;
		if (dg_audit_append(log, &ev, NULL, &err) < 0)
			return 1;
	}
	dg_audit_log_free(log);
	return 0;
}
'''
    with tempfile.TemporaryDirectory() as d:
        c = os.path.join(d, "mk.c")
        open(c, "w").write(prog)
        exe = os.path.join(d, "mk")
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "json-c", "libcrypto", "inih", "libcurl",
                                "libxml-2.0", "libvirt", "libvirt-qemu"], capture_output=True, text=True,
                               check=True).stdout.split()
        libaudit = subprocess.run(["pkg-config", "--libs", "audit"], capture_output=True, text=True).stdout.split()
        subprocess.run(["cc", "-D_GNU_SOURCE", "-I" + os.path.join(SRC, "shared/include"), "-I" + BUILD, c,
                        os.path.join(BUILD, "shared/libdiagint-core.a"), "-o", exe, "-lpthread"] + flags + libaudit,
                       check=True)
        for kind in ("plain", "keyed"):
            log = os.path.join(d, kind + ".jsonl")
            subprocess.run([exe, log, kind], check=True)
            data = open(log, "rb").read()
            head = open(log + ".head", "rb").read()
            add("audit_verify", data + b"\n%%\n" + head)
            add("audit_verify", data)
            add("audit_query", data)
            lines = data.split(b"\n")
            add("audit_verify", b"\n".join(lines[:1] + lines[2:]) + b"\n%%\n" + head)  # a record cut out
            add("audit_verify", data[:-20] + b"\n%%\n" + head)                         # torn tail
            for line in lines:
                add("audit_line", line)
            add("audit_line", head)
    add("audit_line", '{"v":1,"seq":0,"sha256":"' + "0" * 64 + '"}\n')


def anchor_seeds():
    """Announcements as tests/test_audit_anchor.c writes them: syslog, auditd (TRUSTED_APP, hex log=), forged."""
    log = "/var/log/diagint/audit.jsonl"
    h1, h2 = "a" * 64, "c" * 64
    op = 'op=diagint-audit-head log="%s" seq=%d sha256="%s"'
    add("audit_anchor", "Nov 22 10:00:00 kvm7 diagint[7]: " + op % (log, 9, h2) + "\n")
    add("audit_anchor", "type=TRUSTED_APP msg=audit(1795341600.000:5): pid=7 uid=0 auid=4294967295 "
        "ses=4294967295 msg='op=diagint-audit-head log=%s seq=3 sha256=\"%s\" exe=\"/usr/bin/diagint\" "
        "hostname=? addr=? terminal=? res=success'\n" % (log.encode().hex().upper(), h1))
    add("audit_anchor", "Nov 22 10:00:01 kvm7 diagint[8]: " + op % ("/tmp/other", 4, h1) + "\n" +
        'op=diagint-audit-head log="%s" seq=x sha256=zz\n' % log +
        'op=diagint-audit-head log="%s" seq=1 sha256=%s\n' % (log, h2))
    add("audit_anchor", "type=USER_MSG msg=audit(1795341600.000:6): pid=9 uid=1000 msg='" + op % (log, 5, h1) +
        "'\n")


def imds_seeds():
    """The credentials document as the cloud lab's metadata service (and EC2) writes it."""
    add("imds_aws", '{\n  "Code" : "Success",\n  "LastUpdated" : "2026-12-06T15:00:00Z",\n  "Type" : "AWS-HMAC",\n'
        '  "AccessKeyId" : "ASIALAB",\n  "SecretAccessKey" : "lab-secret",\n  "Token" : "lab-session-token",\n'
        '  "Expiration" : "2026-12-06T21:00:00Z"\n}\n')
    add("imds_aws", '{"Code":"AssumeRoleUnauthorizedAccess","Message":"denied","LastUpdated":"2026-12-06T15:00:00Z"}')
    add("imds_aws", '{"Code":"Success","AccessKeyId":"A","SecretAccessKey":"s","Expiration":"2026-12-06T21:00:00+00:00"}')


def heartbeat_seeds():
    add("heartbeat", "Welcome\nvm login: ")
    add("heartbeat", "kernel: Linux\n\n%%\nvm login: \n")
    add("heartbeat", "log\0in: x login:\n%%\nlog")
    add("heartbeat", "vm log\n%%\nin: ")


def main():
    pem = rsa_pem()
    conf_seeds()
    ini_seeds()
    aws_seeds()
    gcp_seeds(pem)
    oci_seeds(pem)
    reply_seeds()
    token_seeds()
    xml_seeds()
    kdump_seeds()
    audit_seeds()
    anchor_seeds()
    imds_seeds()
    heartbeat_seeds()
    for d in sorted(os.listdir(CORPUS)):
        print("%-16s %3d seeds" % (d, len(os.listdir(os.path.join(CORPUS, d)))))


main()
