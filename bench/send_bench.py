#!/usr/bin/python3
"""`diagint send` against the peer a user would otherwise run, in one run, on the same loopback endpoint
(tests/cloudlab, HTTPS on 127.0.0.1 with 100 ms of server latency per request):

  - one interrupt: `diagint send aws:REGION/ID` vs `aws ec2 send-diagnostic-interrupt --endpoint-url ...`
    (Debian's awscli), each the median of several runs, process start included;
  - 100 targets in one `diagint send` vs one call.

Both are authenticated by the lab (SigV4 recomputed with botocore), so both do the real work.
Usage: bench/send_bench.py [BUILD_DIR]   (default: build). Prints a Markdown table."""
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "cloudlab"))
import cloudlab  # noqa: E402

LATENCY = 0.1


def timed(cmd, env, expect_rc=0):
    t = time.monotonic()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    dt = time.monotonic() - t
    if p.returncode != expect_rc:
        raise SystemExit("%s failed (%d): %s %s" % (cmd[0], p.returncode, p.stdout[-500:], p.stderr[-500:]))
    return dt


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "build")
    diagint = os.path.join(build, "cli", "diagint")
    aws = "/usr/bin/aws"
    with tempfile.TemporaryDirectory() as tmp:
        lab = cloudlab.Lab(tmp, latency=LATENCY).start()
        env = lab.env(tmp)
        env.update(AWS_ACCESS_KEY_ID=cloudlab.AWS_KEY, AWS_SECRET_ACCESS_KEY=cloudlab.AWS_SECRET,
                   AWS_SESSION_TOKEN=cloudlab.AWS_TOKEN, AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="",
                   AWS_CONFIG_FILE=os.path.join(tmp, "none"), AWS_SHARED_CREDENTIALS_FILE=os.path.join(tmp, "none"))
        one = "aws:us-east-1/i-0123456789abcdef0"
        many = ["aws:us-east-1/i-%017x" % (0x5000 + i) for i in range(100)]
        timed([diagint, "send", one], env)  # warm the page cache
        timed([aws, "ec2", "send-diagnostic-interrupt", "--instance-id", "i-0123456789abcdef0",
               "--endpoint-url", lab.base], env)
        lab.reset()

        d1 = [timed([diagint, "send", one], env) for _ in range(15)]
        a1 = [timed([aws, "ec2", "send-diagnostic-interrupt", "--instance-id", "i-0123456789abcdef0",
                     "--endpoint-url", lab.base], env) for _ in range(7)]
        sent_one = lab.count("aws.interrupt", "i-0123456789abcdef0")
        lab.reset()
        d100 = []
        conns = []
        for _ in range(7):
            lab.reset()
            d100.append(timed([diagint, "send"] + many, env))
            conns.append(lab.https.connections)
            assert lab.count("aws.interrupt") == 100, lab.count("aws.interrupt")
        lab.reset()
        d100p = []
        for _ in range(5):
            lab.reset()
            d100p.append(timed([diagint, "send", "--parallel", "10"] + many, env))
            conns_p10 = lab.https.connections
        # The same single call without server latency: what each tool itself costs.
        lab.latency = 0
        d0 = [timed([diagint, "send", one], env) for _ in range(15)]
        a0 = [timed([aws, "ec2", "send-diagnostic-interrupt", "--instance-id", "i-0123456789abcdef0",
                     "--endpoint-url", lab.base], env) for _ in range(7)]
        lab.stop()

    md = statistics.median
    print("Loopback lab, %d ms server latency per request, %s cores; medians (min-max)." % (
        LATENCY * 1000, os.cpu_count()))
    print()
    print("| run | wall time | requests |")
    print("|---|---|---|")
    print("| `aws ec2 send-diagnostic-interrupt` (awscli %s), 1 instance | %.0f ms (%.0f-%.0f) | 1 |" % (
        subprocess.run([aws, "--version"], capture_output=True, text=True).stdout.split()[0].split("/")[1],
        md(a1) * 1000, min(a1) * 1000, max(a1) * 1000))
    print("| `diagint send`, 1 target | %.0f ms (%.0f-%.0f) | 1 |" % (md(d1) * 1000, min(d1) * 1000, max(d1) * 1000))
    print("| `diagint send`, 100 targets (default --parallel 100) | %.0f ms (%.0f-%.0f) | 100 on %d connections |" % (
        md(d100) * 1000, min(d100) * 1000, max(d100) * 1000, max(conns)))
    print("| `diagint send --parallel 10`, 100 targets | %.0f ms (%.0f-%.0f) | 100 on %d connections |" % (
        md(d100p) * 1000, min(d100p) * 1000, max(d100p) * 1000, conns_p10))
    print("| `aws ec2 send-diagnostic-interrupt`, 1 instance, no server latency | %.0f ms (%.0f-%.0f) | 1 |" % (
        md(a0) * 1000, min(a0) * 1000, max(a0) * 1000))
    print("| `diagint send`, 1 target, no server latency | %.1f ms (%.1f-%.1f) | 1 |" % (
        md(d0) * 1000, min(d0) * 1000, max(d0) * 1000))
    print()
    print("- per call: diagint is %.1fx faster than awscli at 100 ms latency, %.1fx without latency "
          "(goal: at least 20x)" % (md(a1) / md(d1), md(a0) / md(d0)))
    print("- 100 targets take %.2fx one call (goal: within 2x); awscli would need about %.0f s for 100 "
          "sequential calls (%.0fx diagint's 100)" % (md(d100) / md(d1), md(a1) * 100, md(a1) * 100 / md(d100)))
    print("- interrupts the lab counted for the %d single-target runs: %d (one per run)" % (len(d1) + len(a1), sent_one))


if __name__ == "__main__":
    main()
