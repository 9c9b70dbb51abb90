"""An audit log reader independent of diagint's C code (docs/audit.md, "A record" and "Tamper evidence"): a few
lines of hashlib/hmac that the integration tests run beside `diagint audit verify`, so that a bug shared by the
writer and diagint's own verifier (both link the same core) cannot pass as an unbroken chain.

    records = auditcheck.verify(path)            # raises AuditChainError naming the line and why
"""
import hashlib
import hmac
import json
import os

ZERO = "0" * 64


class AuditChainError(AssertionError):
    pass


def verify(path, key=None, head=True):
    """Check every line of the log at path: JSON, v 1, seq 1, 2, 3, ..., prev = SHA-256 (hex) of the previous line
    without its newline (64 zeros before seq 1), with a key HMAC-SHA256(key, the line without its "hmac" member);
    with head=True also that PATH.head names the last record's seq and hash. Returns the records."""
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        raise AuditChainError("%s: the last record is torn (no newline at the end)" % path)
    records, prev, seq = [], ZERO, 0
    for n, line in enumerate(data.split(b"\n")[:-1], 1):
        try:
            rec = json.loads(line)
        except ValueError as e:
            raise AuditChainError("%s:%d: not JSON: %s" % (path, n, e))
        if rec.get("v") != 1 or list(rec)[:3] != ["v", "seq", "prev"]:
            raise AuditChainError("%s:%d: does not start with v, seq, prev: %r" % (path, n, list(rec)[:3]))
        if rec["seq"] != seq + 1:
            raise AuditChainError("%s:%d: seq %r after %d" % (path, n, rec["seq"], seq))
        if rec["prev"] != prev:
            raise AuditChainError("%s:%d (seq %d): prev %s is not the SHA-256 of the line before (%s)" % (
                path, n, rec["seq"], rec["prev"], prev))
        if key is not None:
            cut = line.rfind(b',"hmac":"')
            if cut < 0 or list(rec)[-1] != "hmac":
                raise AuditChainError("%s:%d: no hmac as the last member" % (path, n))
            want = hmac.new(key, line[:cut] + b"}", hashlib.sha256).hexdigest()
            if not hmac.compare_digest(want, rec["hmac"]):
                raise AuditChainError("%s:%d: hmac does not match" % (path, n))
        elif "hmac" in rec:
            raise AuditChainError("%s:%d: an hmac, but no key given" % (path, n))
        prev, seq = hashlib.sha256(line).hexdigest(), rec["seq"]
        records.append(rec)
    if head and os.path.exists(path + ".head"):
        with open(path + ".head") as f:
            text = f.read()
        # Made empty when the log is opened; written after the first append.
        h = json.loads(text) if text.strip() else {"seq": 0, "sha256": ZERO}
        if (h.get("seq"), h.get("sha256")) != (seq, prev):
            raise AuditChainError("%s.head says seq %r sha256 %r; the log ends at seq %d sha256 %s" % (
                path, h.get("seq"), h.get("sha256"), seq, prev))
    return records
