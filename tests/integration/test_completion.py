"""bash completion for diagint (docs/diagint.bash-completion): the script is sourced into a plain bash (no
bash-completion package), COMP_WORDS, COMP_CWORD, COMP_LINE and COMP_POINT are set as bash sets them for a
command line, and the completion function's candidates are compared exactly. virsh is a stub on PATH that prints
domain names and records its arguments."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("DG_SOURCE_DIR") or os.path.join(HERE, "..", "..")
SCRIPT = os.path.join(SOURCE_DIR, "docs", "diagint.bash-completion")
BASH = shutil.which("bash")

COMMANDS = ["inject", "capture", "dumps", "audit", "send", "watch", "doctor", "help"]

HARNESS = r'''
source "$1" || exit 90
declare -F _diagint >/dev/null || exit 91
[[ $(complete -p diagint) == *"-F _diagint diagint"* ]] || exit 92
COMP_LINE=$2
COMP_POINT=${#COMP_LINE}
mapfile -t COMP_WORDS <<<"$3"
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMPREPLY=()
_diagint diagint "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\n' "${COMPREPLY[@]}"
'''


def bash_words(line):
    """COMP_WORDS as bash makes them: split at blanks, and runs of the COMP_WORDBREAKS characters ':', '=' and
    '@' are words of their own; an empty last word when the line ends in a blank."""
    words = re.findall(r"[:=@]+|[^\s:=@]+", line)
    if not line or line[-1].isspace():
        words.append("")
    return words


@unittest.skipUnless(BASH, "bash is not installed: nothing to complete in")
class Completion(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dg-completion-")
        cls.bin = os.path.join(cls.tmp, "bin")
        os.mkdir(cls.bin)
        cls.virsh_log = os.path.join(cls.tmp, "virsh.log")
        with open(os.path.join(cls.bin, "virsh"), "w") as f:
            f.write('#!/bin/sh\necho "$*" >> "%s"\nprintf "web-1\\nweb-2\\ndb-1\\n\\n"\n' % cls.virsh_log)
        os.chmod(os.path.join(cls.bin, "virsh"), 0o755)
        cls.dumps = os.path.join(cls.tmp, "dumps")
        os.mkdir(cls.dumps)
        for name in ("web-1-20261122-100000.gcore", "web-1-20261122-100000.gcore.json", "db-1-20261122-110000.kdump",
                     "db-1-20261122-110000.kdump.json", ".web-1-20261122-120000.gcore.partial"):
            open(os.path.join(cls.dumps, name), "w").close()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def setUp(self):
        if os.path.exists(self.virsh_log):
            os.unlink(self.virsh_log)

    def complete(self, line, path=None):
        env = {"PATH": path if path is not None else self.bin + os.pathsep + os.environ.get("PATH", ""),
               "HOME": self.tmp, "LC_ALL": "C"}
        r = subprocess.run([BASH, "--norc", "--noprofile", "-c", HARNESS, "harness", SCRIPT, line,
                            "\n".join(bash_words(line))], capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(r.returncode, 0, "the completion script failed for %r: %s" % (line, r.stderr))
        self.assertEqual(r.stderr, "", "the completion printed to stderr for %r" % line)
        return [c for c in r.stdout.split("\n") if c]

    def virsh_calls(self):
        if not os.path.exists(self.virsh_log):
            return []
        with open(self.virsh_log) as f:
            return f.read().splitlines()

    def test_script_exists(self):
        self.assertTrue(os.path.isfile(SCRIPT), SCRIPT)

    def test_commands(self):
        self.assertEqual(self.complete("diagint "), COMMANDS)
        self.assertEqual(self.complete("diagint d"), ["dumps", "doctor"])
        self.assertEqual(self.complete("diagint help "), COMMANDS)
        self.assertEqual(self.complete("diagint --"), ["--audit-log", "--help", "--version"])
        # --audit-log FILE before the command is not the command
        self.assertEqual(self.complete("diagint --audit-log /tmp/a.jsonl "), COMMANDS)

    def test_inject_and_capture_options(self):
        inject = self.complete("diagint inject --")
        self.assertEqual(inject, ["--connect", "--dump-dir", "--dest", "--format", "--config", "--quiet", "--json",
                                  "--timeout", "--dry-run", "--no-capture", "--require-fleet", "--audit-log",
                                  "--help"])
        capture = self.complete("diagint capture --")
        self.assertIn("--dry-run", capture)
        self.assertNotIn("--timeout", capture, "--timeout is inject's only")
        self.assertNotIn("--no-capture", capture)
        self.assertEqual(self.complete("diagint inject --d"), ["--dump-dir", "--dest", "--dry-run"])
        self.assertEqual(self.complete("diagint --audit-log /tmp/a.jsonl capture --j"), ["--json"])

    def test_other_options(self):
        self.assertEqual(self.complete("diagint watch --"), ["--config", "--connect", "--dry-run", "--audit-log",
                                                              "--help"])
        self.assertEqual(self.complete("diagint send --r"), ["--reason", "--retries", "--require-fleet"])
        self.assertEqual(self.complete("diagint doctor --a"), ["--agent-timeout", "--audit-log"])
        self.assertEqual(self.complete("diagint audit verify --"), ["--key-file", "--anchors", "--no-head", "--json",
                                                                     "--audit-log", "--help"])

    def test_verbs(self):
        self.assertEqual(self.complete("diagint dumps "), ["list", "info", "show", "shrink", "remove", "gc"])
        self.assertEqual(self.complete("diagint dumps --json "), ["list", "info", "show", "shrink", "remove", "gc"])
        self.assertEqual(self.complete("diagint dumps --domain web-1 "), ["list", "info", "show", "shrink", "remove", "gc"],
                         "an option's value is not the verb")
        self.assertEqual(self.complete("diagint audit "),
                         ["list", "show", "report", "export", "verify", "repair", "rotate"])
        self.assertEqual(self.complete("diagint audit re"), ["report", "repair"])
        self.assertEqual(self.complete("diagint dumps list "), [])
        self.assertEqual(self.complete("diagint dumps shrink --compress "), ["zlib", "lzo"])
        self.assertEqual(self.complete("diagint dumps show --l"), ["--log"])

    def test_values(self):
        self.assertEqual(self.complete("diagint inject --format kdump-"), ["kdump-zlib", "kdump-lzo", "kdump-snappy"])
        self.assertEqual(self.complete("diagint capture -f e"), ["elf"])
        self.assertEqual(self.complete("diagint inject --format=w"), ["win-dmp"])
        self.assertEqual(self.complete("diagint audit list --result d"), ["denied", "dry-run"])
        self.assertEqual(self.complete("diagint audit list --action audit-"), ["audit-repair", "audit-gap"])
        # bash replaces only the piece after the last ':': the candidates are that piece
        self.assertEqual(self.complete("diagint inject -c qemu:///s"), ["///system", "///session"])
        self.assertEqual(self.complete("diagint send --timeout "), [], "nothing to guess for seconds")

    def test_files(self):
        conf = os.path.join(self.tmp, "diagint.conf")
        open(conf, "w").close()
        self.assertEqual(self.complete("diagint inject --config " + os.path.join(self.tmp, "diagint.c")), [conf])
        self.assertEqual(self.complete("diagint watch -C " + os.path.join(self.tmp, "diagint.c")), [conf])
        self.assertEqual(self.complete("diagint --audit-log " + os.path.join(self.tmp, "diagint.c")), [conf])
        self.assertEqual(self.complete("diagint inject --dump-dir " + os.path.join(self.tmp, "du")), [self.dumps])
        self.assertEqual(self.complete("diagint dumps --dest=" + os.path.join(self.tmp, "du")), [self.dumps])

    def test_domains_from_libvirt(self):
        self.assertEqual(self.complete("diagint inject "), ["web-1", "web-2", "db-1"])
        self.assertEqual(self.virsh_calls(), ["-q list --all --name"])
        os.unlink(self.virsh_log)
        self.assertEqual(self.complete("diagint capture -c qemu+ssh://root@kvm7/system w"), ["web-1", "web-2"])
        self.assertEqual(self.virsh_calls(), ["-q -c qemu+ssh://root@kvm7/system list --all --name"],
                         "the URI on the command line is the one asked")
        os.unlink(self.virsh_log)
        self.assertEqual(self.complete("diagint inject --connect=qemu:///session --json d"), ["db-1"])
        self.assertEqual(self.virsh_calls(), ["-q -c qemu:///session list --all --name"])

    def test_targets(self):
        self.assertEqual(self.complete("diagint send "), ["aws:", "gcp:", "libvirt:", "oci:", "openstack:"])
        self.assertEqual(self.complete("diagint doctor o"), ["oci:", "openstack:"])
        self.assertEqual(self.complete("diagint doctor libvirt:"), ["web-1", "web-2", "db-1"])
        self.assertEqual(self.complete("diagint send -c qemu:///system libvirt:w"), ["web-1", "web-2"])
        self.assertEqual(self.virsh_calls()[-1], "-q -c qemu:///system list --all --name")

    def test_no_virsh_is_quiet(self):
        empty = os.path.join(self.tmp, "empty-bin")
        os.makedirs(empty, exist_ok=True)
        # complete() fails the test on any output to stderr
        self.assertEqual(self.complete("diagint capture w", path=empty), [])
        self.assertEqual(self.complete("diagint send libvirt:", path=empty), [])

    def test_options_match_the_getopt_tables(self):
        """Every long option of cli/cmd_*.c is offered, and nothing else (but --audit-log, which main() takes for
        every command, and inject's and capture's --dry-run, which the completion offers ahead of the table)."""
        def table(source):
            with open(os.path.join(SOURCE_DIR, "cli", source)) as f:
                text = f.read()
            block = re.search(r"struct option longopts\[\] = \{(.*?)\n\t\};", text, re.S)
            self.assertIsNotNone(block, source)
            return {"--" + name for name in re.findall(r'\{ "([a-z-]+)",', block.group(1))}

        inject = table("cmd_inject.c")
        audit = set()
        for verb in ("list", "show", "report", "export", "verify", "repair", "rotate"):
            audit |= set(self.complete("diagint audit %s --" % verb))
        cases = {
            "inject": (inject, set(self.complete("diagint inject --"))),
            # capture shares inject's table; --timeout and --no-capture are refused there
            "capture": (inject - {"--timeout", "--no-capture"}, set(self.complete("diagint capture --"))),
            "dumps": (table("cmd_dumps.c"), set(self.complete("diagint dumps --")) |
                      set(self.complete("diagint dumps show --")) | set(self.complete("diagint dumps shrink --"))),
            "audit": (table("cmd_audit.c"), audit),
            "send": (table("cmd_send.c"), set(self.complete("diagint send --"))),
            "watch": (table("cmd_watch.c"), set(self.complete("diagint watch --"))),
            "doctor": (table("cmd_doctor.c"), set(self.complete("diagint doctor --"))),
        }
        for cmd, (expected, offered) in cases.items():
            self.assertEqual(expected - offered, set(), "%s: options not completed" % cmd)
            extra = {"--audit-log"} | ({"--dry-run"} if cmd in ("inject", "capture") else set())
            self.assertEqual(offered - expected - extra, set(), "%s: completed options the command lacks" % cmd)

    def test_dump_names(self):
        self.assertEqual(self.complete("diagint dumps -d %s info " % self.dumps),
                         ["web-1-20261122-100000.gcore", "db-1-20261122-110000.kdump"])
        self.assertEqual(self.complete("diagint dumps remove --dump-dir %s w" % self.dumps),
                         ["web-1-20261122-100000.gcore"], "the directory may come after the verb")


if __name__ == "__main__":
    unittest.main(verbosity=2)
