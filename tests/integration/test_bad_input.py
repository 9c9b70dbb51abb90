"""The bad-input catalogue: every class of bad input the programs meet, one table, run against the built
programs. Each case says what is fed, the exit status and a fragment of the message it must get; the test checks
that, and that the message is one line (plus, for usage errors, the "Try '... --help'" line), names the problem
and, where the project promises one (usage, permission, credentials), says how to fix it.

docs/bad-input.md is this table rendered with the messages the programs actually printed. The test fails when
the document differs from what it would render now, so the two cannot drift:
    DG_BUILD_DIR=build-test /usr/bin/python3 tests/integration/test_bad_input.py --write
regenerates it (docs/testing.md). Runs as root (the CLI acting directly, as `sudo diagint` would); without root
it skips (fails under DIAGINT_REQUIRE_GUEST=1)."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.environ.get("DG_SOURCE_DIR", os.path.join(HERE, "..", "..")))
BUILD = os.path.abspath(os.environ.get("DG_BUILD_DIR", os.path.join(SRC, "build")))
DIAGINT = os.path.join(BUILD, "cli", "diagint")
HOOK = os.path.join(BUILD, "libvirt-hook", "diagint-hook")
PLUGIN_DIR = os.path.join(BUILD, "collectd-plugin")
COLLECTD = "/usr/sbin/collectd"
PAM_DIR = "/lib/x86_64-linux-gnu/security"
DOC = os.path.join(SRC, "docs", "bad-input.md")
HUNG = 999  # the status shown for a program killed after 10 s
NOWHERE = "qemu:///system?socket=/nonexistent/diagint-bad-input.sock"
AWS_T = "aws:eu-west-1/i-0123456789abcdef0"
GCP_T = "gcp:my-project/us-central1-a/web-1"
OCI_T = "oci:us-ashburn-1/ocid1.instance.oc1.iad.anexample"
OS_T = "openstack:4f2a6c1e-5b7d-4e21-9a0b-3c8d2e1f0a01"

# A fix hint: the message says what to do (or the usage line points at --help).
HINT = re.compile(r"Try '|\bnot [^.]*, [^.]*\bor\b|\d+ to \d+|e\.g\.|yes/no|'Key = value'|\(0 = |0-100|http\(s\)://|"
                  r"\b(use|give|write|set|name|make|"
                  r"create|point|check|chmod|chown|run|add|remove|pass|enable|install|known|expected|must|only|"
                  r"supports?|needs?|see|between|at least|at most|longer than|from .* to)\b", re.I)


class Case:
    def __init__(self, cls, fed, kind, arg, status, frag, hint=None, multi=False, gap=None):
        self.cls, self.fed, self.kind, self.arg, self.status, self.frag = cls, fed, kind, arg, status, frag
        # Usage, permission and credential errors promise a fix; elsewhere naming the problem is enough.
        self.hint = hint if hint is not None else status in (2, 3)
        self.multi = multi  # the whole usage text, on purpose
        # A known gap: what the program does today, pinned, with why it is not handled well (not counted as such).
        self.gap = gap


CASES = []
CLASSES = {}


def klass(name, what):
    CLASSES[name] = what
    return name


def add(cls, fed, kind, arg, status, frag, **kw):
    CASES.append(Case(cls, fed, kind, arg, status, frag, **kw))


# --- diagint.conf -------------------------------------------------------------------------------------------
C = klass("diagint.conf: syntax and sections",
          "The configuration as `diagint dumps list --config FILE` (and every other command) reads it.")
for text, frag, fed in [
    ("[capture\nFormat = elf\n", "not 'Key = value', '[section]' or a comment", "a section header without ]"),
    ("Format elf\n", "not 'Key = value', '[section]' or a comment", "a line without ="),
    ("[captur]\nFormat = elf\n", "unknown section [captur] (known:", "a misspelt section"),
    ("[]\nFormat = elf\n", "unknown section [] (known:", "an empty section name"),
    ("[domain:]\nFormat = elf\n", "unknown section [domain:] (known:", "[domain:] without a name"),
    ("[Watch2]\nCooldown = 1h\n", "unknown section [Watch2]", "[Watch2]"),
    ("[fleets]\nUser = x\n", "unknown section [fleets]", "[fleets]"),
    ("Format = elf\n", "unknown section [] (known:", "a key before any section"),
    ("[capture]\n\x00\x01\x02garbage\n", "a NUL byte: diagint.conf is a text file", "binary with NUL bytes"),
    ("[capture]\n" + "Destination = /" + "d" * 5000 + "\n", "", "a 5000-byte line"),
    ("[capture]\n= elf\n", "unknown key '' in [capture]", "a value without a key"),
    ("\xef\xbb\xbf[capture]\nFormat = raw\n", "Format 'raw' unknown", "a UTF-8 BOM, then a bad value"),
]:
    add(C, fed, "conf", text, 2, frag)
for key, value, frag in [
    ("Foo", "1", "unknown key 'Foo' in [capture] (known: Destination"),
    ("Destinaton", "/srv", "unknown key 'Destinaton' in [capture]"),
    ("Destination", "relative/dir", "Destination 'relative/dir' must be an absolute directory or |COMMAND"),
    ("Destination", "", "Destination '' must be an absolute directory or |COMMAND"),
    ("Destination", "|", "Destination '|' has no command after the pipe"),
    ("Destination", "|   ", "Destination '|' has no command after the pipe"),
    ("Destination", "/" + "x" * 4200, "Destination is too long"),
    ("Destination", "~/dumps", "must be an absolute directory"),
    ("Format", "raw", "Format 'raw' unknown (use elf, kdump-zlib"),
    ("Format", "ELF", "Format 'ELF' unknown"),
    ("Format", "", "Format '' unknown"),
    ("Sparse", "maybe", "Sparse 'maybe' is not a boolean (yes/no)"),
    ("Sparse", "2", "Sparse '2' is not a boolean"),
    ("Sparse", "", "Sparse '' is not a boolean"),
    ("MaxUse", "lots", "MaxUse 'lots' is neither a size (e.g. 20G) nor a percentage"),
    ("MaxUse", "150%", "MaxUse '150%' is neither a size"),
    ("MaxUse", "-5%", "MaxUse '-5%' is neither a size"),
    ("MaxUse", "-1G", "MaxUse '-1G' is neither a size"),
    ("MaxUse", "99999999999999999999G", "MaxUse '99999999999999999999G' is neither a size"),
    ("MaxUse", "16777216T", "MaxUse '16777216T' is neither a size"),
    ("MaxUse", "20 furlongs", "MaxUse '20 furlongs' is neither a size"),
    ("KeepFree", "1e400%", "KeepFree '1e400%' is neither a size"),
    ("KeepFree", "nan%", "KeepFree 'nan%' is neither a size"),
    ("KeepFree", "", "KeepFree '' is neither a size"),
    ("FloodLimit", "-1", "FloodLimit '-1' is not a count (0 = no limit)"),
    ("FloodLimit", "1.5", "FloodLimit '1.5' is not a count"),
    ("FloodLimit", "100001", "FloodLimit '100001' is not a count"),
    ("FloodLimit", "99999999999999999999999", "FloodLimit '99999999999999999999999' is not a count"),
    ("FloodLimit", "three", "FloodLimit 'three' is not a count"),
    ("FloodLimit", "", "FloodLimit '' is not a count"),
    ("FloodWindow", "0", "FloodWindow '0' is not a duration (e.g. 3600, 1h)"),
    ("FloodWindow", "0.5", "FloodWindow '0.5' is not a duration"),
    ("FloodWindow", "400d", "FloodWindow '400d' is not a duration"),
    ("FloodWindow", "1x", "FloodWindow '1x' is not a duration"),
    ("FloodWindow", "inf", "FloodWindow 'inf' is not a duration"),
    ("FloodWindow", "-1h", "FloodWindow '-1h' is not a duration"),
    ("StallTimeout", "0", "StallTimeout '0' is not a duration from 0.1 s to 1 day"),
    ("StallTimeout", "0.01", "StallTimeout '0.01' is not a duration from 0.1 s to 1 day"),
    ("StallTimeout", "25d", "StallTimeout '25d' is not a duration from 0.1 s to 1 day"),
    ("StallTimeout", "2d", "StallTimeout '2d' is not a duration from 0.1 s to 1 day"),
    ("StallTimeout", "nan", "StallTimeout 'nan' is not a duration"),
    ("StallTimeout", "1e308", "StallTimeout '1e308' is not a duration"),
    ("Shrink", "gzip", "Shrink 'gzip' is not no, zlib, lzo (or yes: zlib)"),
    ("Shrink", "2", "Shrink '2' is not no, zlib, lzo"),
]:
    add(klass("diagint.conf: [capture] and [domain:NAME] values",
              "Each key of [capture] (the same rules in [domain:NAME])."),
        "%s = %s" % (key, value if len(value) < 40 else value[:12] + "... (%d bytes)" % len(value)),
        "conf", "[capture]\n%s = %s\n" % (key, value), 2, frag)
for key, value, frag in [
    ("FloodLimit", "x", "FloodLimit 'x' is not a count"),
    ("Destination", "relative", "Destination 'relative' must be an absolute directory"),
    ("Bogus", "1", "unknown key 'Bogus' in [domain:web-1]"),
]:
    add("diagint.conf: [capture] and [domain:NAME] values", "[domain:web-1] %s = %s" % (key, value), "conf",
        "[domain:web-1]\n%s = %s\n" % (key, value), 2, frag)

W = klass("diagint.conf: [watch]", "The watcher's section (diagint-watch(8)); read by every command.")
for key, value in [
    ("Bogus", "1"), ("Cooldown", "soon"), ("Cooldown", "-1h"), ("Cooldown", "1e400"), ("MaxActions", "-3"),
    ("MaxActions", "many"), ("ActionWindow", "0"), ("ActionWindow", "forever"), ("StormPercent", "150%"),
    ("StormPercent", "-1%"), ("StormPercent", "half"), ("StormMinDomains", "-2"), ("MaxCaptures", "0.5"),
    ("MaxCaptures", "x"), ("DryRun", "perhaps"), ("Probes", "telepathy"), ("ProbeInterval", "0"),
    ("ProbeInterval", "1y"), ("ProbeMisses", "0"), ("ProbeMisses", "lots"), ("AgentTimeout", "-5"),
    ("AgentTimeout", "nan"), ("CpuTimeMin", "-1"), ("OnWatchdog", "explode"), ("OnPanic", "explode"),
    ("AfterCapture", "shred"), ("CaptureBeforeNMI", "sometimes"), ("PanicTimeout", "0"), ("HeartbeatInterval", "x"),
    ("HeartbeatMisses", "-1"), ("ReconnectMax", "never"), ("HookRefuseStart", "dunno"), ("StateFile", "relative"),
    ("Socket", "relative.sock"),
]:
    add(W, "%s = %s" % (key, value), "conf", "[watch]\n%s = %s\n" % (key, value), 2, key)

F = klass("diagint.conf: [fleet]", "The fleet brakes' etcd settings (docs/fleet.md).")
for body, frag, fed in [
    ("Bogus = 1\n", "unknown key 'Bogus' in [fleet] (known: Endpoints", "an unknown key"),
    ("Endpoints = http://127.0.0.1:2379\nUser = u\nPassword = p\n", "go over https only", "a password over http"),
    ("Endpoints = ftp://127.0.0.1:2379\n", "Endpoints", "an ftp:// endpoint"),
    ("Endpoints =\n", "Endpoints", "no endpoints"),
    ("Endpoints = https://\n", "Endpoints", "an endpoint without a host"),
    ("Endpoints = https://a:2379\nUser = u\n", "give User and Password together", "a User without Password"),
    ("Endpoints = https://a:2379\nPassword = p\n", "give User and Password together", "a Password without User"),
    ("Endpoints = https://a:2379\nCert = /etc/c.pem\n", "give Cert and Key together", "a Cert without Key"),
    ("Endpoints = https://a:2379\nUser = bad user\nPassword = p\n", "User 'bad user' is not an etcd user name",
     "a user name with a space"),
    ("Endpoints = https://a:2379\nUser = u\nPassword = " + "p" * 300 + "\n",
     "Password is empty or longer than 255 bytes", "a 300-byte password"),
    ("Endpoints = https://a:2379\nKeyPrefix = diagint\n", "KeyPrefix 'diagint' must start and end with '/'",
     "a KeyPrefix without slashes"),
    ("Endpoints = https://a:2379\nDialTimeout = 0\n", "DialTimeout", "DialTimeout = 0"),
    ("Endpoints = https://a:2379\nCommandTimeout = forever\n", "CommandTimeout", "CommandTimeout = forever"),
    ("Endpoints = https://a:2379\nRequireFleet = perhaps\n", "RequireFleet", "RequireFleet = perhaps"),
    ("Endpoints = https://a:2379\nCACert = relative.pem\n", "CACert", "a relative CACert"),
    ("Endpoints = https://a:2379\nKey = relative.pem\nCert = /c.pem\n", "Key", "a relative Key"),
]:
    add(F, fed, "conf", "[fleet]\n" + body, 2, frag)
add(F, "a Password in a file others can read (0644)", "conf",
    ("[fleet]\nEndpoints = https://a:2379\nUser = u\nPassword = p\n", 0o644), 2,
    "holds the etcd Password of [fleet] but others can read it")

K = klass("diagint.conf: the file itself", "What --config names (or $DIAGINT_CONFIG for the hook).")
for fed, spec, frag in [
    ("a file that does not exist", ("missing",), "does not exist: check --config"),
    ("a directory", ("dir",), "it is not a regular file; name a regular file"),
    ("a FIFO (would hang a reader)", ("fifo",), "it is not a regular file; name a regular file"),
    ("/dev/zero (endless)", ("link", "/dev/zero"), "it is not a regular file; name a regular file"),
    ("/dev/null (a device)", ("link", "/dev/null"), "it is not a regular file; name a regular file"),
    ("2 MiB of comments", ("big", 2 << 20), "it is too large; name a regular file (at most 1024 KiB)"),
    ("a dangling symlink", ("link", "/nonexistent/diagint.conf"), "does not exist: check --config"),
]:
    add(K, fed, "conffile", spec, 2, frag)

# --- targets ------------------------------------------------------------------------------------------------
T = klass("targets (`diagint send -n TARGET`)", "The target grammar, before anything is asked of anyone.")
for target, frag in [
    ("", "empty target: write PROVIDER:ID"),
    ("web-1", "names no provider: write PROVIDER:ID"),
    (":web-1", "unknown provider '' in target ':web-1'"),
    ("nope:x", "unknown provider 'nope' in target 'nope:x': use one of"),
    ("AWS:eu-west-1/i-0123456789abcdef0", "unknown provider 'AWS'"),
    ("aws:", "is incomplete: aws targets are aws:REGION/INSTANCE_ID"),
    ("aws:eu-west-1", "is incomplete"),
    ("aws:eu-west-1/", "INSTANCE_ID is empty"),
    ("aws:/i-0123456789abcdef0", "REGION is empty"),
    ("aws:eu-west-1//i-0123456789abcdef0", "too many parts"),
    ("aws:eu-west-1/../i-1", "has too many parts"),
    ("aws:../i-0123456789abcdef0", "REGION '..' is a dot segment"),
    ("aws:./i-0123456789abcdef0", "REGION '.' is a dot segment"),
    ("aws:eu-west-1/i-0123456789abcdef0/x", "has too many parts"),
    ("aws:EU-WEST-1/i-0123456789abcdef0", "REGION 'EU-WEST-1' is not valid"),
    ("aws:eu-west-1/i-XYZ", "INSTANCE_ID 'i-XYZ' is not valid"),
    ("aws:eu-west-1/i-0123456789ABCDEF0", "is not valid"),
    ("aws:eu-west-1/i-012345678", "is not valid"),
    ("aws:eu-west-1/0123456789abcdef0", "is not valid"),
    ("aws:eu_west_1/i-0123456789abcdef0", "REGION 'eu_west_1' is not valid"),
    ("aws:eu-west-1/i-0123456789abcdef0\n", "contains a space or control character"),
    ("aws:eu-west-1/i-0123 456789abcdef0", "contains a space or control character"),
    ("aws:eu-west-1/i-0123456789abcdef0\x1b[2K", "contains a space or control character"),
    ("gcp:../us-central1-a/web-1", "PROJECT '..' is a dot segment"),
    ("gcp:my-project/../web-1", "ZONE '..' is a dot segment"),
    ("gcp:my-project/us-central1-a/..", "INSTANCE '..' is a dot segment"),
    ("gcp:my-project//web-1", "ZONE is empty"),
    ("gcp:my-project/us-central1-a", "is incomplete: gcp targets are gcp:PROJECT/ZONE/INSTANCE"),
    ("gcp:My_Project/us-central1-a/web-1", "PROJECT 'My_Project' is not valid"),
    ("gcp:my-project/US-CENTRAL1-A/web-1", "ZONE 'US-CENTRAL1-A' is not valid"),
    ("gcp:my-project/us-central1-a/Web_1", "INSTANCE 'Web_1' is not valid"),
    ("gcp:my-project/us-central1-a/web-1/extra", "has too many parts"),
    ("gcp:my-project/us-central1-a/web%2f1", "INSTANCE 'web%2f1' is not valid"),
    ("oci:us-ashburn-1", "is incomplete: oci targets are oci:REGION/INSTANCE_OCID"),
    ("oci:us-ashburn-1/i-0123", "INSTANCE_OCID 'i-0123' is not valid"),
    ("oci:us-ashburn-1/OCID1.INSTANCE.OC1.IAD.X", "is not valid"),
    ("oci:../ocid1.instance.oc1.iad.anexample", "REGION '..' is a dot segment"),
    ("oci:us-ashburn-1/ocid1.instance.oc1.iad.anexample/x", "has too many parts"),
    ("openstack:", "SERVER_ID is empty (openstack targets are openstack:SERVER_ID"),
    ("openstack:web-1", "SERVER_ID 'web-1' is not valid"),
    ("openstack:4f2a6c1e-5b7d-4e21-9a0b", "is not valid"),
    ("openstack:4f2a6c1e-5b7d-4e21-9a0b-3c8d2e1f0a01/x", "has too many parts"),
    ("openstack:..", "SERVER_ID '..' is a dot segment"),
    ("libvirt:", "DOMAIN is empty (libvirt targets are libvirt:DOMAIN"),
    ("libvirt:..", "DOMAIN '..' is a dot segment"),
    ("libvirt:web/1", "has too many parts"),
    ("libvirt:" + "w" * 600, "is too long"),
    ("aws:eu-west-1/" + "i" * 5000, "is too long"),
]:
    shown = target.encode("unicode_escape").decode() if target and any(ord(c) < 32 for c in target) else target
    if len(shown) > 60:
        shown = shown[:30] + "... (%d bytes)" % len(target)
    add(T, "`%s`" % shown if shown else "(empty)", "cli", ["send", "-n", target], 2, frag)

# --- options ------------------------------------------------------------------------------------------------
O = klass("command-line options", "Commands, verbs, option values; checked before anything is done.")
for argv, frag in [
    ([], "Usage: diagint COMMAND"),
    (["bogus"], "unknown command 'bogus'. Run 'diagint --help' for the list"),
    (["help", "bogus"], "unknown command 'bogus'"),
    (["--bogus"], "unknown command '--bogus'"),
    (["inject"], "inject"),
    (["inject", "--bogus", "web-1"], "option '--bogus' is unknown or needs a value"),
    (["inject", "-Z", "web-1"], "option -Z is unknown or needs a value"),
    (["inject", "--timeout"], "option -t is unknown or needs a value"),
    (["inject", "--timeout", "0", "web-1"], "bad --timeout '0': give seconds"),
    (["inject", "--timeout", "-1", "web-1"], "bad --timeout '-1'"),
    (["inject", "--timeout", "abc", "web-1"], "bad --timeout 'abc'"),
    (["inject", "--timeout", "nan", "web-1"], "bad --timeout 'nan'"),
    (["inject", "--timeout", "inf", "web-1"], "bad --timeout 'inf'"),
    (["inject", "--timeout", "1e9", "web-1"], "bad --timeout '1e9'"),
    (["inject", "--format", "raw", "web-1"], "raw"),
    (["inject", "web-1", "web-2"], "inject"),
    (["inject", "--bogus=1", "web-1"], "option '--bogus=1' is unknown or needs a value"),
    (["capture", "--bogus", "web-1"], "option '--bogus' is unknown or needs a value"),
    (["capture"], "capture"),
    (["send"], "send"),
    (["send", "--bogus", AWS_T], "option '--bogus' is unknown or needs a value"),
    (["send", "-n", "--parallel", "0", AWS_T], "bad --parallel '0': give 1 to 1000"),
    (["send", "-n", "--parallel", "1001", AWS_T], "bad --parallel '1001'"),
    (["send", "-n", "--parallel", "x", AWS_T], "bad --parallel 'x'"),
    (["send", "-n", "--retries", "11", AWS_T], "bad --retries '11'"),
    (["send", "-n", "--retries", "-1", AWS_T], "bad --retries '-1'"),
    (["send", "-n", "--timeout", "0", AWS_T], "bad --timeout '0'"),
    (["send", "-n", "--timeout", "99999999", AWS_T], "bad --timeout '99999999'"),
    (["send", "-n", "--endpoint", "http://127.0.0.1:1", AWS_T], "https"),
    (["send", "-n", "--endpoint", "aws=http://127.0.0.1:1", AWS_T], "https"),
    (["send", "-n", "--endpoint", "nope=https://127.0.0.1:1", AWS_T], "nope"),
    (["send", "-n", "--endpoint", "ftp://x", AWS_T], "ftp://x"),
    (["send", "-n", "--endpoint"], "needs a value"),
    (["send", "-n", "--cacert", "none.pem", "--endpoint", "https://127.0.0.1:1", AWS_T],
     "--cacert none.pem: No such file or directory; name a PEM file of CA certificates"),
    (["send", "-n", "--cacert", "/dev/null", "--endpoint", "https://127.0.0.1:1", AWS_T],
     "--cacert /dev/null is not a regular file"),
    (["send", "-n", "--cacert", ".", "--endpoint", "https://127.0.0.1:1", AWS_T], "--cacert . is not a regular file"),
    (["dumps", "bogus"], "bogus"),
    (["dumps", "list", "--since", "someday", "-d", "."], "--since: cannot read the time 'someday': give 2026-12-01"),
    (["dumps", "list", "--since", "2026-13-45", "-d", "."], "--since: cannot read the time '2026-13-45'"),
    (["dumps", "list", "--since", "2026-02-30", "-d", "."], "--since: cannot read the time '2026-02-30'"),
    (["dumps", "list", "--until", "25:00", "-d", "."], "--until: cannot read the time '25:00'"),
    (["dumps", "list", "--since", "99999999999d", "-d", "."], "the time '99999999999d' is out of range"),
    (["dumps", "list", "--since", "", "-d", "."], "--since: cannot read the time ''"),
    (["dumps", "show", "../../etc/passwd", "-d", "."], "../../etc/passwd"),
    (["dumps", "show", "nosuch.gcore", "-d", "."], "nosuch.gcore"),
    (["dumps", "remove", "../x.gcore", "-d", "."], "../x.gcore"),
    (["dumps", "shrink", "nosuch.gcore", "-d", "."], "'nosuch.gcore' is not an ELF dump's name"),
    (["dumps", "shrink", "web-20260101-000000.gcore", "--compress", "gzip", "-d", "."], "gzip"),
    (["dumps", "shrink", "web-20260101-000000.gcore", "--dump-level", "32", "-d", "."], "32"),
    (["dumps", "shrink", "web-20260101-000000.gcore", "--dump-level", "-1", "-d", "."], "-1"),
    (["audit", "bogus"], "bogus"),
    (["audit", "list", "--since", "someday"], "someday"),
    (["audit", "list", "--until", "2026-02-30"], "--until: cannot read the time '2026-02-30'"),
    (["audit", "list", "--result", "maybe"], "maybe"),
    (["audit", "show"], "show"),
    (["audit", "show", "abc"], "abc"),
    (["audit", "verify", "--bogus"], "option '--bogus' is unknown or needs a value"),
    (["watch", "--bogus"], "option '--bogus' is unknown or needs a value"),
    (["watch", "extra-arg"], "extra-arg"),
    (["doctor", "--agent-timeout", "0"], "agent-timeout"),
    (["doctor", "--bogus"], "option '--bogus' is unknown or needs a value"),
    (["doctor", "nope:x"], "nope"),
]:
    multi = argv == []  # the whole usage text
    fed = " ".join(a if a and len(a) < 40 and a.isprintable() else repr(a[:20] + ("..." if len(a) > 20 else ""))
                   for a in argv) or "(no arguments)"
    add(O, "`diagint %s`" % fed, "cli", argv, 2, frag, multi=multi, hint=not multi)
add(O, "`diagint dumps list -d /nonexistent/dumps`", "cli", ["dumps", "list", "-d", "/nonexistent/dumps"], 0,
    "/nonexistent/dumps does not exist", multi=True)

# --- audit log ----------------------------------------------------------------------------------------------
A = klass("audit log (`diagint audit verify`)",
          "A real log written by diagint (three failed sends: authorize and send records, FILE.head), then "
          "changed the way someone with write access but no key would, or damaged.")
for fed, mut, status, frag, key in [
    ("one byte of a record changed", "flip", 1, "", False),
    ("a record deleted from the middle", "delmid", 1, "", False),
    ("two records swapped", "swap", 1, "", False),
    ("the last record cut (head still names it)", "cuttail", 1, "", False),
    ("the last line cut in half", "halfline", 1, "", False),
    ("a line that is not JSON appended", "junk", 1, "", False),
    ("a record appended twice", "dup", 1, "", False),
    ("seq rewritten", "seq", 1, "", False),
    ("prev rewritten", "prev", 1, "", False),
    ("history rewritten and the chain recomputed, head deleted", "rechain", 1, "", False),
    ("history rewritten and the chain recomputed, head recomputed too (without a key, only an external anchor "
     "can tell: docs/audit.md)", "rechainhead", 0, "ok", False),
    ("the head deleted", "nohead", 1, "", False),
    ("the head garbled", "garbledhead", 1, "", False),
    ("the head rolled back to an earlier one", "oldhead", 0, "lags the last record", False),
    ("the head emptied", "emptyhead", 1, "", False),
    ("the log emptied (head kept)", "emptylog", 1, "", False),
    ("NUL bytes in a record", "nul", 1, "", False),
    ("a 2 MiB line appended", "hugeline", 1, "", False),
    ("the log replaced by a FIFO", "fifo", 2, "", False),
    ("the log replaced by a directory", "dir", 2, "", False),
    ("the log missing", "missing", 4, "cannot read the audit log", False),
    ("with the key: one byte changed", "flip", 1, "", True),
    ("with the key: HMACs stripped, chain recomputed", "striphmac", 1, "", True),
    ("with the key: a record's HMAC replaced", "badhmac", 1, "", True),
    ("with the key: the head's HMAC stripped", "headnohmac", 1, "the head anchor carries no HMAC", True),
    ("with a different key", "otherkey", 1, "", True),
]:
    add(A, fed, "audit", (mut, key), status, frag, hint=False, multi=True,
        gap="reported as a note with status 0: a crash while several writers flush can leave the head behind "
        "too, so verify cannot tell a rollback from that" if mut == "oldhead" else None)
for fed, spec, frag in [
    ("a key file readable by others (0644)", ("mode", 0o644), "is readable by others (mode 644): chmod 600"),
    ("an empty key file", ("size", 0), "must hold"),
    ("a 4-byte key", ("size", 4), "must hold"),
    ("a key file that is a FIFO", ("fifo",), "is not a regular file"),
    ("a key file that is a directory", ("dir",), "is not a regular file"),
    ("a key file that does not exist", ("missing",), "audit key"),
    ("/dev/zero as the key (a symlink)", ("link", "/dev/zero"), "cannot read the audit key"),
]:
    add(klass("audit key file (`--key-file`)", "The HMAC key `audit verify` (and every writer) reads."),
        fed, "auditkey", spec, 2, frag)

W2 = klass("audit log for writing (`diagint send`, every command that records)",
           "What $DIAGINT_AUDIT_LOG (or --audit-log) names when a record is to be written: the writer changes "
           "nothing it has not proven to be a diagint audit log (the test compares the bytes before and after).")
for fed, files, frag in [
    ("a FIFO", {"audit.jsonl": ("fifo",)}, "the audit log $DIR/audit.jsonl is not a regular file"),
    ("a directory", {"audit.jsonl": ("dir",)}, "Is a directory"),
    ("a symlink to /dev/null", {"audit.jsonl": ("link", "/dev/null")}, "Too many levels of symbolic links"),
    ("a text file that is not an audit log", {"audit.jsonl": ("hello\nworld", 0o600)},
     "is not a diagint audit log (its first line is not an audit record): nothing was changed"),
    ("the head a FIFO", {"audit.jsonl.head": ("fifo",)}, "head anchor $DIR/audit.jsonl.head is not a regular file"),
    ("the head a directory", {"audit.jsonl.head": ("dir",)}, "head anchor"),
]:
    add(W2, fed, "auditwrite", files, 2, frag)
add(W2, "a JSON file that is not an audit log", "auditwrite", {"audit.jsonl": ('{"a":1}\n', 0o600)}, 1,
    "is not a diagint audit record: check it with 'diagint audit verify', then move the file aside")


# --- the hook -----------------------------------------------------------------------------------------------
H = klass("libvirt hook input",
          "What libvirt hands `/etc/libvirt/hooks/qemu.d/diagint`: arguments and the domain XML on stdin, both "
          "from a domain definition (untrusted). The hook never blocks libvirt: status 0, a line on stderr "
          "(and syslog) when it ignores something.")
DOM = "<domain type='kvm'><name>web</name><uuid>3f2a6c1e-5b7d-4e21-9a0b-3c8d2e1f0a9b</uuid>%s</domain>"
for fed, args, xml, frag in [
    ("no arguments", [], "", "called with 0 arguments, expected DOMAIN OP SUBOP EXTRA; ignoring"),
    ("one argument", ["web"], "", "called with 1 argument, expected DOMAIN OP SUBOP EXTRA; ignoring"),
    ("an unknown operation", ["web", "frobnicate", "begin", "-"], DOM % "", "unknown operation 'frobnicate begin'"),
    ("empty stdin", ["web", "prepare", "begin", "-"], "", "the domain XML on stdin is missing or malformed"),
    ("stdin not XML", ["web", "prepare", "begin", "-"], "not xml at all", "missing or malformed"),
    ("XML cut short", ["web", "prepare", "begin", "-"], "<domain><name>web</na", "missing or malformed"),
    ("a domain without <memory>", ["web", "prepare", "begin", "-"], "<domain><name>web</name></domain>", None),
    ("memory in an unknown unit", ["web", "prepare", "begin", "-"], DOM % "<memory unit='furlongs'>1</memory>",
     None),
    ("negative memory", ["web", "prepare", "begin", "-"], DOM % "<memory unit='KiB'>-5</memory>", None),
    ("memory that overflows 64 bits", ["web", "prepare", "begin", "-"],
     DOM % "<memory unit='EiB'>99999999999</memory>", None),
    ("memory not a number", ["web", "prepare", "begin", "-"], DOM % "<memory>lots</memory>", None),
    ("an external entity (XXE)", ["web", "prepare", "begin", "-"],
     "<!DOCTYPE d [<!ENTITY x SYSTEM 'file:///etc/shadow'>]>" + DOM % "<memory>&x;</memory>", None),
    ("entity expansion (billion laughs)", ["web", "prepare", "begin", "-"],
     "<!DOCTYPE d [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>"
     "<!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'><!ENTITY d '&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;'>]>"
     + DOM % "<memory>&d;</memory>", None),
    ("10,000 nested elements", ["web", "prepare", "begin", "-"], "<domain>" + "<x>" * 10000 + "</domain>",
     "missing or malformed"),
    ("the XML names another domain", ["web", "prepare", "begin", "-"],
     "<domain><name>other</name><memory unit='KiB'>1024</memory></domain>", None),
    ("NUL bytes in the XML", ["web", "prepare", "begin", "-"], "<domain>\x00<name>web</name></domain>",
     "missing or malformed"),
    ("a 20,000-byte domain name", ["n" * 20000, "prepare", "begin", "-"], DOM % "<memory>1</memory>", None),
    ("a domain name with / and ..", ["../../etc", "prepare", "begin", "-"], DOM % "<memory>1</memory>", None),
    ("a domain name with control characters", ["web\x1b[2K", "prepare", "begin", "-"],
     DOM % "<memory>1</memory>", None),
    ("a bad configuration", ["web", "prepare", "begin", "-"], ("[capture]\nFoo = 1\n", DOM % "<memory>1</memory>"),
     "unknown key 'Foo' in [capture]"),
    ("a configuration that is a FIFO", ["web", "prepare", "begin", "-"], (("fifo",), DOM % "<memory>1</memory>"),
     "not a regular file"),
    ("a Destination that does not exist", ["web", "prepare", "begin", "-"],
     ("[capture]\nDestination = /nonexistent/dumps\n", DOM % "<memory unit='KiB'>1024</memory>"),
     "/nonexistent/dumps"),
]:
    add(H, fed, "hook", (args, xml), 0, frag, hint=False)

# --- credentials --------------------------------------------------------------------------------------------
R = klass("credential files (`diagint send -n`)",
          "Files that hold (or point at) secrets, as each provider's tools lay them out; checked like ssh checks "
          "its keys, before any request.")
AWS_CREDS = "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG\n"
for fed, target, files, env, frag in [
    ("~/.aws/credentials readable by others", AWS_T, {".aws/credentials": (AWS_CREDS, 0o644)}, {}, "chmod"),
    ("~/.aws/credentials writable by the group", AWS_T, {".aws/credentials": (AWS_CREDS, 0o620)}, {}, "chmod"),
    ("~/.aws/credentials a FIFO", AWS_T, {".aws/credentials": ("fifo",)}, {}, "credentials"),
    ("~/.aws/credentials a directory", AWS_T, {".aws/credentials": ("dir",)}, {}, "credentials"),
    ("~/.aws/credentials /dev/zero", AWS_T, {".aws/credentials": ("link", "/dev/zero")}, {}, "credentials"),
    ("~/.aws/credentials of 2 MiB", AWS_T, {".aws/credentials": ("big", 2 << 20)}, {}, "credentials"),
    ("~/.aws/credentials not INI", AWS_T, {".aws/credentials": ("this is not ini\n", 0o600)}, {}, "not valid INI"),
    ("~/.aws/credentials without the profile", AWS_T, {".aws/credentials": (AWS_CREDS, 0o600)},
     {"AWS_PROFILE": "prod"}, "prod"),
    ("~/.aws/credentials with an id and no secret", AWS_T,
     {".aws/credentials": ("[default]\naws_access_key_id = AKIDEXAMPLE\n", 0o600)}, {}, "aws_secret_access_key"),
    ("~/.aws/config holding a key, readable by others", AWS_T,
     {".aws/config": ("[default]\naws_access_key_id = A\naws_secret_access_key = s\n", 0o644)}, {}, "chmod"),
    ("no AWS credentials anywhere", AWS_T, {}, {}, "no AWS credentials found: set AWS_ACCESS_KEY_ID"),
    ("AWS_SHARED_CREDENTIALS_FILE naming nothing", AWS_T, {}, {"AWS_SHARED_CREDENTIALS_FILE": "nothing"}, "nothing"),
    ("AWS_ENDPOINT_URL_EC2 over http", AWS_T, {".aws/credentials": (AWS_CREDS, 0o600)},
     {"AWS_ENDPOINT_URL_EC2": "http://127.0.0.1:1"}, "https"),
    ("a Google key file readable by others", GCP_T, {"sa.json": ('{"type":"service_account"}', 0o644)},
     {"GOOGLE_APPLICATION_CREDENTIALS": "sa.json"}, "chmod 600"),
    ("a Google key file that is not JSON", GCP_T, {"sa.json": ("not json", 0o600)},
     {"GOOGLE_APPLICATION_CREDENTIALS": "sa.json"}, "is not JSON"),
    ("a Google key file of an unknown type", GCP_T, {"sa.json": ('{"type":"external_account"}', 0o600)},
     {"GOOGLE_APPLICATION_CREDENTIALS": "sa.json"}, "has type \"external_account\""),
    ("a service account without private_key", GCP_T,
     {"sa.json": ('{"type":"service_account","client_email":"a@b.c"}', 0o600)},
     {"GOOGLE_APPLICATION_CREDENTIALS": "sa.json"}, "has no \"private_key\""),
    ("a service account whose private_key is not PEM", GCP_T,
     {"sa.json": ('{"type":"service_account","client_email":"a@b.c","private_key":"nope"}', 0o600)},
     {"GOOGLE_APPLICATION_CREDENTIALS": "sa.json"}, "private_key"),
    ("a service account with an http token_uri", GCP_T, {"sa.json": ("gcp-http", 0o600)},
     {"GOOGLE_APPLICATION_CREDENTIALS": "sa.json"}, "https"),
    ("authorized_user without refresh_token", GCP_T,
     {"sa.json": ('{"type":"authorized_user","client_id":"i","client_secret":"s"}', 0o600)},
     {"GOOGLE_APPLICATION_CREDENTIALS": "sa.json"}, "has no \"refresh_token\""),
    ("GOOGLE_APPLICATION_CREDENTIALS a FIFO", GCP_T, {"sa.json": ("fifo",)},
     {"GOOGLE_APPLICATION_CREDENTIALS": "sa.json"}, "sa.json"),
    ("GOOGLE_APPLICATION_CREDENTIALS naming nothing", GCP_T, {}, {"GOOGLE_APPLICATION_CREDENTIALS": "none.json"},
     "none.json"),
    ("GOOGLE_APPLICATION_CREDENTIALS of 2 MiB", GCP_T, {"sa.json": ("big", 2 << 20)},
     {"GOOGLE_APPLICATION_CREDENTIALS": "sa.json"}, "sa.json"),
    ("no ~/.oci/config", OCI_T, {}, {}, "create it with 'oci setup config'"),
    ("~/.oci/config without the profile", OCI_T, {".oci/config": ("[OTHER]\nuser = u\n", 0o600)}, {},
     "OCI profile [DEFAULT] is not in"),
    ("~/.oci/config missing key_file", OCI_T,
     {".oci/config": ("[DEFAULT]\nuser = u\nfingerprint = f\ntenancy = t\n", 0o600)}, {}, "lacks key_file"),
    ("~/.oci/config with a pass_phrase, readable by others", OCI_T,
     {".oci/config": ("[DEFAULT]\nuser = u\nfingerprint = f\ntenancy = t\nkey_file = k.pem\npass_phrase = x\n",
                      0o644)}, {}, "chmod"),
    ("an OCI key_file readable by others", OCI_T,
     {".oci/config": ("[DEFAULT]\nuser = u\nfingerprint = f\ntenancy = t\nkey_file = ~/k.pem\n", 0o600),
      "k.pem": ("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n", 0o644)}, {}, "chmod"),
    ("an OCI key_file that is not a key", OCI_T,
     {".oci/config": ("[DEFAULT]\nuser = u\nfingerprint = f\ntenancy = t\nkey_file = ~/k.pem\n", 0o600),
      "k.pem": ("not a key\n", 0o600)}, {}, "key"),
    ("an OCI key_file that is a FIFO", OCI_T,
     {".oci/config": ("[DEFAULT]\nuser = u\nfingerprint = f\ntenancy = t\nkey_file = ~/k.pem\n", 0o600),
      "k.pem": ("fifo",)}, {}, "k.pem"),
    ("no OS_AUTH_URL", OS_T, {}, {}, "OS_AUTH_URL"),
    ("OS_AUTH_URL over http", OS_T, {}, {"OS_AUTH_URL": "http://127.0.0.1:5000/v3", "OS_USERNAME": "u",
                                         "OS_PASSWORD": "p", "OS_PROJECT_NAME": "p"}, "https"),
    ("OS_AUTH_URL without a password", OS_T, {}, {"OS_AUTH_URL": "https://127.0.0.1:5000/v3", "OS_USERNAME": "u"},
     "OS_PASSWORD"),
    ("--cacert a FIFO", AWS_T, {".aws/credentials": (AWS_CREDS, 0o600), "ca.pem": ("fifo",)},
     {"--cacert": "ca.pem", "--endpoint": "https://127.0.0.1:1"}, "--cacert ca.pem is not a regular file"),
]:
    # Nothing to use at all is "denied" (3), like a refusal; a file that is there but wrong is the user's to fix (2).
    add(R, fed, "creds", (target, files, env), 3 if fed == "no AWS credentials anywhere" else 2, frag)


# --- cloud replies ------------------------------------------------------------------------------------------
L = klass("cloud API replies (`diagint send`, loopback cloud lab)",
          "What a provider's API (here tests/cloudlab, HTTPS on 127.0.0.1) answers to the interrupt: errors, "
          "pages that are not the provider's success, hostile tokens. One attempt (`--retries 0`).")
LAB_AWS = "i-0123456789abcdef0"
LAB_OS = "4f2a6c1e-5b7d-4e21-9a0b-3c8d2e1f0a01"
for fed, provider, script, status, frag in [
    ("AWS: HTTP 200 with an HTML page (a proxy's login)", "aws",
     {"status": 200, "body": "<html><body>proxy login</body></html>"}, 1, "may or may not have reached"),
    ("AWS: HTTP 200 with an empty body", "aws", {"status": 200, "body": ""}, 1, "may or may not have reached"),
    ("AWS: HTTP 200 with <return>false</return>", "aws",
     {"status": 200, "body": "<SendDiagnosticInterruptResponse><return>false</return>"
      "</SendDiagnosticInterruptResponse>"}, 1, "may or may not have reached"),
    ("AWS: HTTP 400 InvalidInstanceID.NotFound", "aws", {"status": 400, "code": "InvalidInstanceID.NotFound",
                                                         "message": "The instance ID does not exist"}, 4, "NotFound"),
    ("AWS: HTTP 403 UnauthorizedOperation", "aws", {"status": 403, "code": "UnauthorizedOperation"}, 3,
     "not authorized: the identity from the environment (AWS_ACCESS_KEY_ID) needs ec2:SendDiagnosticInterrupt"),
    ("AWS: HTTP 401 AuthFailure", "aws", {"status": 401, "code": "AuthFailure"}, 3, "AuthFailure"),
    ("AWS: HTTP 500 with a body that is not XML (and a control character)", "aws",
     {"status": 500, "body": "<<<\x01garbage"}, 1,
     "may or may not have been delivered, so it was not resent"),
    ("AWS: HTTP 503 RequestLimitExceeded", "aws", {"status": 503, "code": "RequestLimitExceeded"}, 5,
     "RequestLimitExceeded"),
    ("AWS: HTTP 418 with a megabyte of body", "aws", {"status": 418, "body": "x" * (1 << 20)}, 1,
     "EC2 refused the request: HTTP 418 xxxx"),
    ("AWS: the connection closed without an answer", "aws", {"drop": "always"}, 5, "may have been delivered"),
    ("AWS: the answer cut short", "aws", {"status": 200, "truncate": True}, 1, "may or may not have reached"),
    ("GCP: HTTP 404 notFound", "gcp", {"status": 404, "code": "notFound"}, 4, "instance web-1 not found"),
    ("GCP: HTTP 403 forbidden", "gcp", {"status": 403, "code": "forbidden"}, 3,
     "needs the permission compute.instances.sendDiagnosticInterrupt"),
    ("GCP: HTTP 400 with a body that is not JSON", "gcp", {"status": 400, "body": "not json"}, 1, "HTTP 400 not json"),
    ("GCP: HTTP 500 with control characters in the message", "gcp",
     {"status": 500, "message": "bad\x1b[2Kthing\r\nX-Forged: 1"}, 1, "bad?[2Kthing  X-Forged: 1"),
    ("GCP: an access_token with CRLF and a header after it", "gcp-crlf", None, 1, "is not a token"),
    ("OCI: HTTP 404 NotAuthorizedOrNotFound", "oci", {"status": 404, "code": "NotAuthorizedOrNotFound"}, 4,
     "not found in us-ashburn-1, or not authorized"),
    ("OCI: HTTP 409 Conflict", "oci", {"status": 409, "code": "Conflict"}, 4, "cannot take a diagnostic interrupt now"),
    ("OCI: HTTP 500 with a body that is not JSON", "oci", {"status": 500, "body": "garbage"}, 1,
     "OCI answered HTTP 500: garbage"),
    ("OpenStack: HTTP 404", "openstack", {"status": 404}, 4, "not found (itemNotFound"),
    ("OpenStack: HTTP 409 (the server is in a state that cannot take it)", "openstack", {"status": 409}, 4,
     "cannot take a crash dump trigger now"),
    ("OpenStack: HTTP 403", "openstack", {"status": 403}, 3, "needs the Nova policy"),
    ("OpenStack: HTTP 500 with a body that is not JSON", "openstack", {"status": 500, "body": "garbage"}, 1,
     "Nova answered HTTP 500: garbage"),
]:
    add(L, fed, "cloud", (provider, script), status, frag, hint=False)


# --- PAM services -------------------------------------------------------------------------------------------
P = klass("PAM service /etc/pam.d/diagint (`sudo diagint inject`)",
          "A broken service file, read by real Linux-PAM running pam_diagint.so (under pam_wrapper, nss_wrapper and "
          "uid_wrapper: private service files and users, root without privilege), for alice acting through sudo. "
          "Every broken service denies (3), before anything is touched.")
for fed, account, frag in [
    ("an argument the module does not know", "@M@ group=diagint-ops targets=libvirt:web-* colour=blue",
     "pam_diagint is misconfigured: unknown or empty argument 'colour=blue' (allowed:"),
    ("group= naming a group that does not exist", "@M@ group=no-such-group targets=libvirt:web-*",
     "group 'no-such-group' does not exist: create it"),
    ("group= empty", "@M@ group= targets=libvirt:web-*", "unknown or empty argument 'group='"),
    ("targets= empty", "@M@ group=diagint-ops targets=", "unknown or empty argument 'targets='"),
    ("targets= with an unknown provider", "@M@ group=diagint-ops targets=nope:*", "the target matches none of nope:*"),
    ("overrides= naming an unknown kind (a typo is not silently 'nothing granted')",
     "@M@ group=diagint-ops targets=libvirt:web-* overrides=everything",
     "unknown or empty argument 'overrides=everything'"),
    ("overrides= with one misspelt kind among good ones",
     "@M@ group=diagint-ops targets=libvirt:web-* overrides=uri,dset",
     "KIND one of dest uri config endpoint cacert env"),
    ("audit_log= relative", "@M@ group=diagint-ops targets=libvirt:web-* audit_log=relative.jsonl",
     "unknown or empty argument 'audit_log=relative.jsonl'"),
    ("a module path that does not exist", "/nonexistent/pam_diagint.so group=diagint-ops targets=libvirt:web-*",
     "denied alice at its account step: Module is unknown"),
    ("no account line", None, "denied alice at its account step: Permission denied"),
    ("a line that is not PAM", "this is not a pam line", "denied alice at its auth step"),
    ("an empty service file", "", "denied alice at its auth step"),
]:
    add(P, fed, "pam", account, 3, frag, hint=False, multi=True)


# --- the collectd plugin -----------------------------------------------------------------------------------
D = klass("collectd plugin configuration (`collectd -T`)",
          "`<Plugin diagint>` as collectd 5.12 hands it to diagint.so when it checks a configuration (collectd -T): "
          "the plugin's line in collectd's log, then collectd's verdict. Run only where collectd and the plugin "
          "are built.")
for fed, body, frag in [
    ("an unknown option", "Bogus 1", 'unknown option "Bogus"'),
    ("Cooldown not a number", "Cooldown \"soon\"", "Cooldown"),
    ("Cooldown negative", "Cooldown -5", "Cooldown"),
    ("MaxActions negative", "MaxActions -1", "MaxActions"),
    ("MaxUnhealthyPercent 150", "MaxUnhealthyPercent 150", "MaxUnhealthyPercent"),
    ("Retries 99", "Retries 99", "Retries"),
    ("RequestTimeout 0", "RequestTimeout 0", "RequestTimeout"),
    ("QueueSize 0", "QueueSize 0", "QueueSize"),
    ("an Endpoint for an unknown provider", "Endpoint \"nope\" \"https://127.0.0.1:1/\"", "nope"),
    ("Endpoint with one value", "Endpoint \"aws\"", "Endpoint"),
    ("Environment with one value", "Environment \"AWS_PROFILE\"", "Environment"),
    ("a Target without Interrupt", "<Target \"web-2\">\n    Host \"web-2\"\n  </Target>", "web-2"),
    ("a Target without a name", "<Target>\n    Host \"web-2\"\n    Interrupt \"libvirt:web-2\"\n  </Target>", "Target"),
    ("a bad Interrupt target", "<Target \"web-2\">\n    Host \"web-2\"\n    Interrupt \"aws:../i-1\"\n  </Target>",
     "dot segment"),
    ("an Interrupt of an unknown provider", "<Target \"web-2\">\n    Host \"web-2\"\n    Interrupt \"nope:x\"\n"
     "  </Target>", "nope"),
    ("an unknown Detect kind", "<Target \"web-2\">\n    Host \"web-2\"\n    Interrupt \"libvirt:web-2\"\n"
     "    Detect \"telepathy\"\n  </Target>", "telepathy"),
    ("Hits 0", "<Target \"web-2\">\n    Host \"web-2\"\n    Interrupt \"libvirt:web-2\"\n    Hits 0\n  </Target>",
     "Hits"),
    ("NotificationSeverity okay", "<Target \"web-2\">\n    Host \"web-2\"\n    Interrupt \"libvirt:web-2\"\n"
     "    NotificationSeverity \"okay\"\n  </Target>", "NotificationSeverity"),
    ("an unknown option in a Target", "<Target \"web-2\">\n    Host \"web-2\"\n    Interrupt \"libvirt:web-2\"\n"
     "    Bogus 1\n  </Target>", "Bogus"),
]:
    add(D, fed, "collectd", body, 1, frag, multi=True)
add(D, "an http Endpoint", "collectd", "Endpoint \"aws\" \"http://127.0.0.1:1/\"", 1,
    "plain http (or no scheme) is refused: credentials and interrupts go over https only", multi=True)
add(D, "a relative Capture destination", "collectd", "<Target \"web-2\">\n    Host \"web-2\"\n"
    "    Interrupt \"libvirt:web-2\"\n    Capture \"relative\"\n  </Target>", 1,
    "is relative: give an absolute directory", multi=True)
add(D, "a Capture directory that does not exist", "collectd", "<Target \"web-2\">\n    Host \"web-2\"\n"
    "    Interrupt \"libvirt:web-2\"\n    Capture \"/nonexistent/dumps\"\n  </Target>", 1,
    "create it (mode 0700) or name another directory", multi=True)
add(D, "<Fleet> with an unknown key", "collectd", "<Fleet>\n    Endpoints \"https://127.0.0.1:2379\"\n"
    "    Bogus \"1\"\n  </Fleet>", 1, "Bogus", multi=True)
add(D, "<Fleet> with an endpoint that is not http(s)", "collectd", "<Fleet>\n    Endpoints \"ftp://127.0.0.1:2379\"\n"
    "  </Fleet>", 1, "ftp://127.0.0.1:2379", multi=True)
add(D, "<Fleet> without Endpoints", "collectd", "<Fleet>\n    KeyPrefix \"/diagint/\"\n  </Fleet>", 1,
    "Endpoints", multi=True)
add(D, "<Fleet> with a password over http", "collectd", "<Fleet>\n    Endpoints \"http://127.0.0.1:2379\"\n"
    "    User \"diagint\"\n    Password \"secret\"\n  </Fleet>", 1, "https", multi=True)
add(D, "a Capture pipe without a command", "collectd", "<Target \"web-2\">\n    Host \"web-2\"\n"
    "    Interrupt \"libvirt:web-2\"\n    Capture \"|  \"\n  </Target>", 1,
    "has no command after the pipe", multi=True)


# --- running a case -----------------------------------------------------------------------------------------
class Lab:
    """The scratch space: ROOT/case is made afresh for every case (its HOME and working directory); ROOT/base
    holds the audit logs every audit case starts from."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="dg-badinput-")
        self.case = os.path.join(self.root, "case")
        self.base = os.path.join(self.root, "base")
        os.makedirs(self.base)
        self.pem = None
        self.lab = None

    def env(self, extra=None):
        keep = ("PATH", "LANG", "LC_ALL", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")
        env = {k: v for k, v in os.environ.items() if k in keep}
        if extra and extra.get("SUDO_USER"):  # as sudo's env_reset leaves it: nothing that would be an override
            env.update(extra)
            return env
        env.update(HOME=self.case, LIBVIRT_DEFAULT_URI=NOWHERE, AWS_EC2_METADATA_DISABLED="true",
                   GCE_METADATA_HOST="127.0.0.1:9", DIAGINT_AUDIT_LOG=os.path.join(self.case, "audit-out.jsonl"),
                   DIAGINT_CONFIG=os.path.join(self.case, "absent.conf"))
        env.update(extra or {})
        return env

    def fresh(self):
        shutil.rmtree(self.case, ignore_errors=True)
        os.makedirs(self.case)

    def put(self, name, spec):
        path = os.path.join(self.case, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if isinstance(spec, (str, bytes)):
            spec = (spec, 0o600)
        kind = spec[0]
        if kind == "fifo":
            os.mkfifo(path, 0o600)
        elif kind == "dir":
            os.makedirs(path)
        elif kind == "link":
            os.symlink(spec[1], path)
        elif kind == "missing":
            pass
        elif kind == "big":
            with open(path, "w") as f:
                f.write(("# " + "x" * 77 + "\n") * (spec[1] // 80 + 1))
            os.chmod(path, 0o600)
        else:
            data = spec[0]
            if data == "gcp-http":
                data = json.dumps({"type": "service_account", "client_email": "sa@p.iam.gserviceaccount.com",
                                   "private_key": self.key_pem(), "token_uri": "http://127.0.0.1:1/token"})
            with open(path, "wb") as f:
                f.write(data.encode("latin-1") if isinstance(data, str) else data)
            os.chmod(path, spec[1])
        return path

    def cloud(self, provider, script):
        """The environment and target for one scripted answer of the loopback cloud lab (started once)."""
        if self.lab is None:
            sys.path.insert(0, os.path.join(HERE, "..", "cloudlab"))
            import cloudlab
            self.cloudlab = cloudlab
            os.makedirs(os.path.join(self.root, "cloudlab"))
            self.lab = cloudlab.Lab(os.path.join(self.root, "cloudlab")).start()
        lab, cl = self.lab, self.cloudlab
        lab.reset()
        env = {k: v for k, v in lab.env(self.case).items() if k not in ("PATH", "HOME", "LANG")}
        if provider == "aws":
            env.update(AWS_ACCESS_KEY_ID=cl.AWS_KEY, AWS_SECRET_ACCESS_KEY=cl.AWS_SECRET,
                       AWS_SESSION_TOKEN=cl.AWS_TOKEN)
            target, inst = "aws:us-east-1/" + LAB_AWS, LAB_AWS
        elif provider.startswith("gcp"):
            env["GOOGLE_APPLICATION_CREDENTIALS"] = lab.write_gcp_service_account(os.path.join(self.case, "sa.json"))
            target, inst = "gcp:lab-project/us-central1-a/web-1", "web-1"
            if provider == "gcp-crlf":
                lab.token_suffix = "\r\nX-Injected: 1"
        elif provider == "oci":
            env["OCI_CLI_CONFIG_FILE"] = lab.write_oci_config(os.path.join(self.case, "oci.config"))
            env["OCI_CLI_PROFILE"] = "LAB"
            inst = "ocid1.instance.oc1.iad.labinstance1"
            target = "oci:us-ashburn-1/" + inst
            # OCI has no endpoint variable: name the lab, so no name is ever looked up off this host.
            return env, target, ["--endpoint", "oci=" + lab.base] + self.scripted(inst, script)
        else:
            env.update(lab.openstack_env())
            target, inst = "openstack:" + LAB_OS, LAB_OS
        return env, target, self.scripted(inst, script)

    def scripted(self, inst, script):
        if script is not None:
            self.lab.script(inst, [script])
        return []

    def key_pem(self):
        if not self.pem:
            self.pem = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                                      capture_output=True, text=True, check=True).stdout
        return self.pem

    def run(self, argv, env=None, stdin=""):
        try:
            p = subprocess.run(argv, input=stdin.encode("latin-1") if isinstance(stdin, str) else stdin,
                               capture_output=True, timeout=10, env=self.env(env), cwd=self.case)
        except subprocess.TimeoutExpired:
            return HUNG, "", "(hung: killed after 10 s)"
        return p.returncode, p.stdout.decode("utf-8", "backslashreplace"), p.stderr.decode("utf-8", "backslashreplace")

    # The audit logs every audit case starts from: three failed sends each (an authorize and a send record
    # apiece), one log without a key and one with.
    def make_base(self):
        key = os.path.join(self.base, "key")
        with open(key, "wb") as f:
            f.write(hashlib.sha256(b"diagint bad-input catalogue key").digest())
        os.chmod(key, 0o600)
        other = os.path.join(self.base, "otherkey")
        with open(other, "wb") as f:
            f.write(hashlib.sha256(b"another key").digest())
        os.chmod(other, 0o600)
        self.fresh()
        for name, env in (("plain", {}), ("keyed", {"DIAGINT_AUDIT_KEY_FILE": key})):
            log = os.path.join(self.base, name + ".jsonl")
            for i in range(3):
                env = dict(env, DIAGINT_AUDIT_LOG=log)
                rc, out, err = self.run([DIAGINT, "send", "--reason", "r%d" % i, "-c", NOWHERE, "libvirt:web-%d" % i],
                                        env)
                assert rc == 5, (rc, out, err)
                if i == 0:
                    shutil.copy(log + ".head", log + ".head0")


def sha(line):
    return hashlib.sha256(line).hexdigest().encode()


def rechain(lines):
    prev = b"0" * 64
    out = []
    for line in lines:
        line = re.sub(rb'"prev":"[0-9a-f]{64}"', b'"prev":"' + prev + b'"', line, count=1)
        out.append(line)
        prev = sha(line)
    return out


def head_of(lines):
    return b'{"v":1,"seq":%d,"sha256":"%s"}' % (len(lines), sha(lines[-1]))


def mutate(lab, mut, keyed):
    """Copy the base log into the case and change it as mut says. Returns the log's path."""
    src = os.path.join(lab.base, ("keyed" if keyed else "plain") + ".jsonl")
    log = os.path.join(lab.case, "audit.jsonl")
    with open(src, "rb") as f:
        lines = f.read().split(b"\n")[:-1]
    with open(src + ".head", "rb") as f:
        head = f.read()
    if mut == "flip":
        lines[1] = lines[1].replace(b'"user":"root"', b'"user":"r00t"', 1)
    elif mut == "delmid":
        del lines[2]
    elif mut == "swap":
        lines[2], lines[3] = lines[3], lines[2]
    elif mut == "cuttail":
        lines.pop()
    elif mut == "dup":
        lines.append(lines[-1])
    elif mut == "junk":
        lines.append(b"not json")
    elif mut == "seq":
        lines[1] = lines[1].replace(b'"seq":2,', b'"seq":7,', 1)
    elif mut == "prev":
        lines[1] = re.sub(rb'"prev":"[0-9a-f]{64}"', b'"prev":"' + b"1" * 64 + b'"', lines[1])
    elif mut in ("rechain", "rechainhead", "striphmac"):
        lines[0] = lines[0].replace(b'"user":"root"', b'"user":"alice"', 1)
        if mut == "striphmac":
            lines = [re.sub(rb',"hmac":"[0-9a-f]+"', b"", x) for x in lines]
        lines = rechain(lines)
        head = None if mut == "rechain" else head_of(lines)
    elif mut == "badhmac":
        lines[1] = re.sub(rb'"hmac":"[0-9a-f]{64}"', b'"hmac":"' + b"ab" * 32 + b'"', lines[1])
    elif mut == "nul":
        lines[1] = lines[1][:40] + b"\0" + lines[1][41:]
    elif mut == "hugeline":
        lines.append(b'{"v":1,"seq":7,"prev":"' + b"a" * (2 << 20) + b'"}')
    elif mut == "nohead":
        head = None
    elif mut == "garbledhead":
        head = b"\x00garbage{"
    elif mut == "oldhead":
        with open(src + ".head0", "rb") as f:
            head = f.read()
    elif mut == "emptyhead":
        head = b""
    elif mut == "headnohmac":
        head = re.sub(rb',"hmac":"[0-9a-f]+"', b"", head)
    data = b"".join(x + b"\n" for x in lines)
    if mut == "halfline":
        data = data[:len(data) - len(lines[-1]) // 2 - 1]
    if mut == "emptylog":
        data = b""
    if mut == "fifo":
        os.mkfifo(log)
    elif mut == "dir":
        os.makedirs(log)
    elif mut != "missing":
        with open(log, "wb") as f:
            f.write(data)
    if head is not None and mut not in ("fifo", "dir", "missing"):
        with open(log + ".head", "wb") as f:
            f.write(head)
    return log


def run_case(lab, c):
    """Returns (status, message): the message is what the program printed (stderr, then stdout)."""
    lab.fresh()
    if c.kind == "cli":
        rc, out, err = lab.run([DIAGINT] + c.arg)
    elif c.kind == "conf":
        text, mode = c.arg if isinstance(c.arg, tuple) else (c.arg, 0o600)
        lab.put("diagint.conf", (text, mode))
        rc, out, err = lab.run([DIAGINT, "dumps", "list", "--config", "diagint.conf", "-d", "."])
    elif c.kind == "conffile":
        lab.put("diagint.conf", c.arg)
        rc, out, err = lab.run([DIAGINT, "dumps", "list", "--config", "diagint.conf", "-d", "."])
    elif c.kind == "audit":
        mut, keyed = c.arg
        log = mutate(lab, mut, keyed)
        argv = [DIAGINT, "audit", "verify", "--audit-log", log]
        if keyed:
            argv += ["--key-file", os.path.join(lab.base, "otherkey" if mut == "otherkey" else "key")]
        rc, out, err = lab.run(argv)
    elif c.kind == "auditkey":
        shutil.copy(os.path.join(lab.base, "keyed.jsonl"), os.path.join(lab.case, "audit.jsonl"))
        shutil.copy(os.path.join(lab.base, "keyed.jsonl.head"), os.path.join(lab.case, "audit.jsonl.head"))
        spec = c.arg
        if spec[0] in ("mode", "size"):
            data = hashlib.sha256(b"k").digest() if spec[0] == "mode" else b"k" * spec[1]
            spec = (data, spec[1] if spec[0] == "mode" else 0o600)
        lab.put("audit.key", spec)
        rc, out, err = lab.run([DIAGINT, "audit", "verify", "--audit-log", "audit.jsonl", "--key-file", "audit.key"])
    elif c.kind == "hook":
        args, xml = c.arg
        conf = "[capture]\nDestination = %s\n" % os.path.join(lab.case, "dumps")
        os.makedirs(os.path.join(lab.case, "dumps"))
        if isinstance(xml, tuple):
            conf, xml = xml
        lab.put("diagint.conf", conf)
        rc, out, err = lab.run([HOOK] + args, {"DIAGINT_CONFIG": os.path.join(lab.case, "diagint.conf"),
                                               "DIAGINT_WATCH_SOCKET": os.path.join(lab.case, "none.sock")}, xml)
    elif c.kind == "auditwrite":
        for name, spec in c.arg.items():
            lab.put(name, spec)
        before = snapshot(lab.case)
        rc, out, err = lab.run([DIAGINT, "send", "-c", NOWHERE, "libvirt:web-1"],
                               {"DIAGINT_AUDIT_LOG": os.path.join(lab.case, "audit.jsonl")})
        after = snapshot(lab.case)
        changed = [p for p in before if after.get(p) != before[p]]
        if changed:  # new files (an empty head beside the log) are not changes
            err += "\n(BUG: changed %s)" % ", ".join(os.path.basename(p) for p in changed)
    elif c.kind == "pam":
        module = os.path.join(BUILD, "pam-audit", "pam_diagint.so")
        if c.arg == "":
            text = ""
        else:
            text = "auth     required  %s/pam_permit.so\n" % PAM_DIR
            if c.arg is not None:
                # -c NOWHERE below is an operator's choice under sudo: granted (overrides=uri), so that a
                # service that wrongly allows ends at a socket that does not exist, never at a real guest.
                line = c.arg.replace("@M@", module)
                if "pam_diagint.so" in line and "overrides=" not in line:
                    line += " overrides=uri"
                text += line + "\n" if line.startswith("this") else "account  required  %s\n" % line
            text += "session  required  %s\n" % module
        lab.put("pam.d/diagint", (text, 0o644))
        env = {"SUDO_USER": "alice", "LD_PRELOAD": "libpam_wrapper.so:libnss_wrapper.so:libuid_wrapper.so",
               "PAM_WRAPPER": "1", "PAM_WRAPPER_SERVICE_DIR": os.path.join(lab.case, "pam.d"),
               "PAM_WRAPPER_DEBUGLEVEL": "0", "UID_WRAPPER": "1", "UID_WRAPPER_ROOT": "1",
               "NSS_WRAPPER_PASSWD": os.path.join(SRC, "pam-audit", "tests", "passwd"),
               "NSS_WRAPPER_GROUP": os.path.join(SRC, "pam-audit", "tests", "group"), "HOME": "/root",
               "DIAGINT_AUDIT_LOG": os.path.join(lab.case, "audit.jsonl")}
        rc, out, err = lab.run([DIAGINT, "inject", "-c", NOWHERE, "web-1"], env)
        # pam_wrapper prints what PAM would send to syslog on stderr: shown as such, after the CLI's line.
        lines = err.splitlines()
        syslog = [re.sub(r"^PWRAP_\w+\[[^]]*\] - SYSLOG\(\d+\): ", "syslog: ", x) for x in lines
                  if x.startswith("PWRAP_") and "no default config other" not in x]
        err = "\n".join([x for x in lines if not x.startswith("PWRAP_")] + syslog)
    elif c.kind == "collectd":
        conf = ('Hostname "mon"\nFQDNLookup false\nBaseDir "%s"\nPIDFile "%s/pid"\nAutoLoadPlugin false\n'
                'TypesDB "/usr/share/collectd/types.db"\nPluginDir "%s"\nLoadPlugin diagint\n<Plugin diagint>\n'
                '  AuditLog "%s/audit.jsonl"\n  StateFile "%s/brakes.state"\n  CheckAtStart false\n'
                '  LibvirtURI "%s"\n  %s\n  <Target "web-1">\n    Host "web-1"\n    Interrupt "libvirt:web-1"\n'
                '  </Target>\n</Plugin>\n') % (lab.case, lab.case, PLUGIN_DIR, lab.case, lab.case, NOWHERE, c.arg)
        lab.put("collectd.conf", conf)
        rc, out, err = lab.run([COLLECTD, "-T", "-C", os.path.join(lab.case, "collectd.conf")])
        # The plugin's lines and collectd's verdict; collectd's own chatter (threads, queues) varies by host.
        err = "\n".join(x for x in err.splitlines() if x.startswith(("diagint plugin:", "Error:")))
    elif c.kind == "cloud":
        provider, script = c.arg
        env, target, extra = lab.cloud(provider, script)
        rc, out, err = lab.run([DIAGINT, "send", "--retries", "0"] + extra + [target], env)
    elif c.kind == "creds":
        target, files, env = c.arg
        for name, spec in files.items():
            lab.put(name, spec)
        argv = [DIAGINT, "send", "-n"]
        for k, v in env.items():
            if k.startswith("--"):
                argv += [k, v]
        env = {k: (os.path.join(lab.case, v) if k.endswith(("_FILE", "CREDENTIALS")) else v)
               for k, v in env.items() if not k.startswith("--")}
        rc, out, err = lab.run(argv + [target], env)
    else:
        raise ValueError(c.kind)
    msg = "\n".join(x for x in (err.strip("\n"), out.strip("\n")) if x)
    return rc, normalize(lab, msg)


def snapshot(top):
    """Every file under top with its bytes (FIFOs and directories by kind only)."""
    seen = {}
    for d, dirs, files in os.walk(top):
        for n in dirs + files:
            p = os.path.join(d, n)
            if os.path.islink(p) or not os.path.isfile(p):
                seen[p] = "link" if os.path.islink(p) else "dir" if os.path.isdir(p) else "other"
            else:
                with open(p, "rb") as f:
                    seen[p] = f.read()
    return seen


def normalize(lab, msg):
    msg = msg.replace(lab.case, "$DIR").replace(lab.root, "$TMP")
    msg = re.sub(r"\b(?=[0-9]*[a-f])[0-9a-f]{32,}\b", "<hex>", msg)
    msg = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", "<time>", msg)
    msg = re.sub(r"\(\d+ bytes without a newline\)", "(N bytes without a newline)", msg)
    lines = msg.split("\n")
    if len(lines) > 3:  # the whole usage text: its first line says what it is
        msg = "%s\n[... %d more lines]" % (lines[0], len(lines) - 1)
    msg = re.sub(r"\b\d+ ms\b", "N ms", msg)
    msg = re.sub(r"\bpid \d+", "pid N", msg)
    if lab.lab:  # the cloud lab's port is the kernel's choice
        msg = msg.replace(lab.lab.base.split("//")[1].split("/")[0], "127.0.0.1:PORT")
    msg = re.sub(r"request id [^,)]+", "request id ID", msg)
    return msg


def judge(c, rc, msg):
    """What is wrong with the answer to case c (empty: handled well)."""
    bad = []
    if rc == HUNG:
        bad.append("hung")
    elif rc < 0 or rc >= 128:
        bad.append("killed by signal %d" % (-rc if rc < 0 else rc - 128))
    if rc != c.status:
        bad.append("exit status %d, expected %d" % (rc, c.status))
    if c.frag is None or c.gap:
        return bad
    if not msg:
        bad.append("no message")
        return bad
    if c.frag not in msg:
        bad.append("message lacks %r" % c.frag)
    lines = msg.split("\n")
    if len(lines) > 1 and not (len(lines) == 2 and lines[1].startswith("Try '")) and not c.multi:
        bad.append("not one line (%d lines)" % len(lines))
    if any(ord(ch) < 32 and ch != "\n" for ch in msg):
        bad.append("control characters in the message")
    if c.hint and not HINT.search(msg):
        bad.append("no fix hint")
    return bad


# --- the catalogue ------------------------------------------------------------------------------------------
def html(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "&#124;")


def render(results):
    total = len(results)
    well = sum(1 for c, _, _, bad in results if not bad and not c.gap)
    gaps = [c for c, *_ in results if c.gap]
    out = ["# Bad input: what diagint says", "",
           "<!-- Generated by tests/integration/test_bad_input.py --write from its table of cases and the messages "
           "the built programs printed. Do not edit: test_bad_input fails when this file differs. -->", "",
           "Every row is a case that `meson test -C build-test test_bad_input` feeds to the built programs "
           "(`diagint`, the libvirt hook, pam_diagint.so under Linux-PAM, the collectd plugin; cloud APIs are the "
           "loopback lab in tests/cloudlab) on every run. The test asserts the exit status and a fragment of the "
           "message, that the message is one line (usage errors add one `Try 'diagint COMMAND --help'.` line), "
           "that it carries no control characters and, for usage, permission and credential errors, that it says "
           "how to fix the problem. The message column is what was printed, with the case's scratch directory "
           "shown as `$DIR` and hashes and times elided. How to regenerate: docs/testing.md.", "",
           "Exit statuses (the same for every `diagint` command): 0 ok, 1 failed, 2 usage (bad arguments or "
           "configuration), 3 denied, 4 not found, 5 unavailable, 6 refused by a safety rule. "
           "The hook always exits 0: a hook that fails stops libvirt from starting the domain.", "",
           "**%d cases in %d classes; %d handled well; %d known gaps (marked below).**" % (
               total, len(CLASSES), well, len(gaps)), "",
           "| class | cases |", "|---|---|"]
    for cls in CLASSES:
        out.append("| [%s](#%s) | %d |" % (html(cls), anchor(cls), sum(1 for c, *_ in results if c.cls == cls)))
    for cls, what in CLASSES.items():
        out += ["", "## %s" % cls, "", what, "", "| what is fed | exit | message |", "|---|---|---|"]
        for c, rc, msg, bad in results:
            if c.cls != cls:
                continue
            shown = "<code>%s</code>" % html(msg).replace("\n", "<br>") if msg else "(nothing: ignored silently)"
            if bad:
                shown += " **(%s)**" % html("; ".join(bad))
            if c.gap:
                shown += " **gap:** %s" % html(c.gap)
            out.append("| %s | %d | %s |" % (html(c.fed), rc, shown))
    return "\n".join(out) + "\n"


def anchor(title):
    a = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
    return a


def have_collectd():
    return os.path.exists(COLLECTD) and os.path.exists(os.path.join(PLUGIN_DIR, "diagint.so"))


def have_pam_wrapper():
    return os.path.exists(os.path.join(BUILD, "pam-audit", "pam_diagint.so")) and all(
        os.path.exists("/usr/lib/x86_64-linux-gnu/lib%s_wrapper.so" % w) for w in ("pam", "nss", "uid"))


def missing_parts():
    """Why some classes cannot run here (empty: the whole table runs)."""
    why = []
    if not have_collectd():
        why.append("collectd or diagint.so missing")
    if not have_pam_wrapper():
        why.append("pam_wrapper, nss_wrapper or uid_wrapper missing (scripts/deps build)")
    return why


def run_all():
    lab = Lab()
    try:
        lab.make_base()
        results = []
        for c in CASES:
            if (c.kind == "collectd" and not have_collectd()) or (c.kind == "pam" and not have_pam_wrapper()):
                continue
            rc, msg = run_case(lab, c)
            results.append((c, rc, msg, judge(c, rc, msg)))
        return results
    finally:
        if lab.lab:
            lab.lab.stop()
        shutil.rmtree(lab.root, ignore_errors=True)


class BadInput(unittest.TestCase):
    def test_catalogue(self):
        if os.geteuid() != 0:
            if os.environ.get("DIAGINT_REQUIRE_GUEST") == "1":
                self.fail("needs root (the CLI acting directly) but runs as uid %d" % os.geteuid())
            self.skipTest("needs root: the CLI acting directly, as sudo diagint would")
        self.assertGreaterEqual(len(CASES), 250)
        results = run_all()
        bad = ["%s / %s: %s" % (c.cls, c.fed, "; ".join(b)) for c, _, _, b in results if b]
        self.assertEqual(bad, [], "\n".join(bad))
        if missing_parts():
            why = "; ".join(missing_parts()) + ": those cases did not run, the catalogue is not compared"
            if os.environ.get("DIAGINT_REQUIRE_GUEST") == "1":
                self.fail(why)
            self.skipTest(why)
        with open(DOC) as f:
            current = f.read()
        self.assertEqual(current, render(results),
                         "docs/bad-input.md is not what the programs say now: regenerate it (docs/testing.md)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        if os.geteuid() != 0 or missing_parts():
            sys.exit("--write needs root and every part (%s): the catalogue is the whole table" %
                     ("; ".join(missing_parts()) or "not root"))
        res = run_all()
        with open(DOC, "w") as f:
            f.write(render(res))
        print("%s: %d cases, %d handled well, %d known gaps" % (
            DOC, len(res), sum(1 for r in res if not r[3] and not r[0].gap), sum(1 for r in res if r[0].gap)))
        for c, rc, msg, b in res:
            if b:
                print("BAD %s / %s: %s\n    rc=%d %s" % (c.cls, c.fed, "; ".join(b), rc, msg[:300]))
        sys.exit(0)
    if sys.argv[1:2] == ["--observe"]:
        for c, rc, msg, b in run_all():
            print("%s | %s | rc=%d | %s%s" % (c.cls[:12], c.fed[:50], rc, msg.replace("\n", " / ")[:400],
                                             "   <<< " + "; ".join(b) if b else ""))
        sys.exit(0)
    unittest.main(verbosity=2)
