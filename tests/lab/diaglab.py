"""diaglab: the real-guest test lab shared by the tests, the demo and the benchmarks.

It builds a tiny guest from what Debian already installed (the distribution kernel and busybox-static; nothing is
downloaded), and runs a private libvirtd that cannot disturb the machine's own: the daemon lives in a mount
namespace where /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/cache/libvirt and /var/log/libvirt are
bind-mounted from a scratch directory. Everything it starts it also stops. It needs root, and the libvirt-qemu
user that scripts/deps creates.

Facts this relies on are in ../shared/notes/libvirt.md (TCG only, PVH kernel, pvpanic needs <acpi/>, ...).
Runs with Debian's /usr/bin/python3 (python3-libvirt is not used here: tests drive the diagint binaries).
"""

import glob
import gzip
import hashlib
import lzma
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# Bumped whenever the guest's contents change, so a cached guest is rebuilt.
GUEST_REVISION = "5"

MODULES = [
    # (path under /lib/modules/KV/kernel, why)
    ("drivers/misc/pvpanic/pvpanic.ko", "pvpanic core"),
    ("drivers/misc/pvpanic/pvpanic-mmio.ko", "ISA/ACPI pvpanic, needs pvpanic.ko first"),
    ("drivers/watchdog/watchdog.ko", "watchdog core"),
    ("drivers/watchdog/i6300esb.ko", "the watchdog libvirt emulates"),
    ("drivers/firmware/qemu_fw_cfg.ko", "VMCOREINFO note in dumps"),
]

# The guest's /init. Behaviour is chosen on the kernel command line so one image serves every variant:
#   diagint.nmi=0      do not panic on an unknown NMI (the "unready guest": NMI is logged and ignored)
#   diagint.watchdog=1 open /dev/watchdog and never feed it (a WATCHDOG event shortly after boot)
#   diagint.hang=N     stop the console heartbeat after N beats (a hang the guest cannot report; NMI still works)
#   diagint.halt=N     after N beats print "diagint-guest: halting" and stop: the console goes silent, the vCPUs stop
#                      consuming CPU time, libvirt still says "running", and an NMI still ends in a panic. This is
#                      suspend-to-idle (`echo freeze > /sys/power/state`: processes frozen, devices suspended, every
#                      CPU idle in hlt with its tick stopped), not `halt -f`: reboot(RB_HALT_SYSTEM) ends in
#                      stop_this_cpu(), which software-disables the local APIC, and QEMU delivers inject-nmi through
#                      the APIC's LINT1 (masked then): the NMI is lost, the guest never panics, nothing to capture.
#                      Measured (TCG, 128 MiB): vCPU time ~10 ms/s per vCPU while idle with its heartbeat, at most one
#                      10 ms tick per vCPU in 10 s frozen; inject-nmi -> CRASHED/PANICKED for 1 and 2 vCPUs.
#   diagint.gastop=N   after N beats kill -9 qemu-ga (agent guests only): the agent channel closes (libvirt: "QEMU
#                      guest agent is not connected"), the heartbeat goes on
INIT_SCRIPT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo 0 > /proc/sys/kernel/panic
echo 1 > /proc/sys/kernel/unknown_nmi_panic
for m in pvpanic pvpanic-mmio watchdog i6300esb qemu_fw_cfg; do insmod /lib/modules/$m.ko 2>/dev/null; done
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    diagint.nmi=0) echo 0 > /proc/sys/kernel/unknown_nmi_panic ;;
    diagint.watchdog=1) exec 3>/dev/watchdog ;;
    diagint.hang=*) hang=${arg#diagint.hang=} ;;
    diagint.halt=*) halt=${arg#diagint.halt=} ;;
    diagint.gastop=*) gastop=${arg#diagint.gastop=} ;;
  esac
done
echo "diagint-guest: ready unknown_nmi_panic=$(cat /proc/sys/kernel/unknown_nmi_panic)"
n=0
while true; do
  n=$((n+1))
  echo "diagint-heartbeat $n"
  if [ "$n" = "${hang:-}" ]; then echo "diagint-guest: heartbeat stops"; while true; do sleep 3600; done; fi
  if [ "$n" = "${halt:-}" ]; then
    echo "diagint-guest: halting"
    echo freeze > /sys/power/state
    echo "diagint-guest: halt failed: the guest came back from freeze"; while true; do sleep 3600; done
  fi
  if [ "$n" = "${gastop:-}" ]; then
    kill -9 $(cat /tmp/qemu-ga.pid 2>/dev/null) 2>/dev/null && echo "diagint-guest: qemu-ga stopped" \
      || echo "diagint-guest: no qemu-ga to stop"
  fi
  sleep 1
done
"""


def _newest_kernel():
    kernels = sorted(glob.glob("/boot/vmlinuz-*"))
    if not kernels:
        raise RuntimeError("no /boot/vmlinuz-*: install linux-image-amd64 (scripts/deps does)")
    path = kernels[-1]
    return path, os.path.basename(path)[len("vmlinuz-"):]


def _extract_vmlinux(bzimage):
    """The uncompressed ELF inside Debian's bzImage has a PVH note and boots about twice as fast under TCG."""
    data = open(bzimage, "rb").read()
    off = data.find(b"\xfd7zXZ\x00")
    while off >= 0:
        try:
            payload = lzma.LZMADecompressor().decompress(data[off:])
            if payload[:4] == b"\x7fELF":
                return payload
        except lzma.LZMAError:
            pass
        off = data.find(b"\xfd7zXZ\x00", off + 1)
    return None


def _copy_modules(root, kv, rels):
    for rel in rels:
        src = os.path.join("/lib/modules", kv, "kernel", rel)
        if not os.path.exists(src):
            raise RuntimeError("kernel module %s missing: reinstall linux-image-%s" % (src, kv))
        shutil.copy2(src, os.path.join(root, "lib/modules", os.path.basename(rel)))


def _pack_initramfs(root, initrd):
    """newc cpio of root, gzip -1 (fast to make, fast for the kernel to unpack), written atomically."""
    names = subprocess.run(["find", "."], cwd=root, check=True, capture_output=True).stdout
    cpio = subprocess.run(["cpio", "--quiet", "-o", "-H", "newc"], cwd=root, input=names,
                          check=True, capture_output=True).stdout
    with open(initrd + ".tmp", "wb") as f:
        f.write(gzip.compress(cpio, compresslevel=1))
    os.replace(initrd + ".tmp", initrd)


def build_guest(cache_dir):
    """Return dict(kernel=..., initrd=..., kernel_version=...), building into cache_dir when not cached."""
    bz, kv = _newest_kernel()
    key = hashlib.sha256((GUEST_REVISION + kv + INIT_SCRIPT).encode()).hexdigest()[:12]
    out = os.path.join(cache_dir, "guest-" + key)
    kernel = os.path.join(out, "vmlinux")
    initrd = os.path.join(out, "initramfs.cpio.gz")
    if os.path.exists(kernel) and os.path.exists(initrd):
        return {"kernel": kernel, "initrd": initrd, "kernel_version": kv}
    os.makedirs(out, exist_ok=True)
    elf = _extract_vmlinux(bz)
    if elf is not None:
        with open(kernel + ".tmp", "wb") as f:
            f.write(elf)
    else:
        shutil.copyfile(bz, kernel + ".tmp")  # slower boot, same behaviour
    os.replace(kernel + ".tmp", kernel)

    root = tempfile.mkdtemp(prefix="initramfs-", dir=out)
    try:
        os.makedirs(os.path.join(root, "bin"))
        os.makedirs(os.path.join(root, "lib/modules"))
        shutil.copy2("/bin/busybox", os.path.join(root, "bin/busybox"))
        _copy_modules(root, kv, [m for m, _why in MODULES])
        with open(os.path.join(root, "init"), "w") as f:
            f.write(INIT_SCRIPT)
        os.chmod(os.path.join(root, "init"), 0o755)
        _pack_initramfs(root, initrd)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {"kernel": kernel, "initrd": initrd, "kernel_version": kv}


def domain_xml(name, guest, console_log, vcpus=1, memory_mib=128, panic=True, nmi_panics=True,
               watchdog_hang=False, on_crash="preserve", uuid=None, metadata="", heartbeat_stop_after=None,
               agent=False, halt_after=None, agent_stop_after=None):
    cmdline = "console=ttyS0 panic=0 loglevel=4"
    if nmi_panics:
        cmdline += " sysctl.kernel.unknown_nmi_panic=1"
    else:
        cmdline += " diagint.nmi=0"
    if watchdog_hang:
        cmdline += " diagint.watchdog=1"
    if heartbeat_stop_after:
        cmdline += " diagint.hang=%d" % heartbeat_stop_after
    if halt_after:
        cmdline += " diagint.halt=%d" % halt_after
    if agent_stop_after:
        if not agent:
            raise ValueError("agent_stop_after needs agent=True (a guest from build_agent_guest())")
        cmdline += " diagint.gastop=%d" % agent_stop_after
    panic_xml = "<panic model='isa'><address type='isa' iobase='0x505'/></panic>" if panic else ""
    if agent:  # opt-in: a guest from build_agent_guest() starts qemu-ga on this channel (see the end of this file)
        cmdline += " diagint.agent=1"
        panic_xml += AGENT_CHANNEL_XML
    uuid_xml = "<uuid>%s</uuid>" % uuid if uuid else ""
    return f"""<domain type='qemu'>
  <name>{_xml_escape(name)}</name>{uuid_xml}
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>{vcpus}</vcpu>
  {metadata}
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{guest['kernel']}</kernel>
    <initrd>{guest['initrd']}</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <features><acpi/><apic/><vmcoreinfo state='on'/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>{on_crash}</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' model='none'/>
    <serial type='file'><source path='{console_log}'/><target port='0'/></serial>
    <console type='file'><source path='{console_log}'/><target type='serial' port='0'/></console>
    {panic_xml}
    <watchdog model='i6300esb' action='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def _xml_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&apos;").replace('"', "&quot;"))


QEMU_CONF = """# diaglab: private libvirtd for tests (see tests/lab/diaglab.py)
user = "root"
group = "root"
stdio_handler = "file"
cgroup_controllers = [ ]
namespaces = [ ]
remember_owner = 0
security_driver = "none"
"""

# Directories the private daemon gets instead of the machine's.
PRIVATE_DIRS = ["/etc/libvirt", "/run/libvirt", "/var/lib/libvirt", "/var/cache/libvirt", "/var/log/libvirt"]


class PrivateLibvirtd:
    """A libvirtd of our own, in a private mount namespace, reachable at self.uri."""

    def __init__(self, workdir, hooks=None, tcp=False, inside_ns_of=None):
        self.workdir = os.path.abspath(workdir)
        # inside_ns_of=PID: the daemon's private namespace is made from PID's mount namespace instead of the
        # machine's, so it sees what that namespace mounted (a test's tmpfs over /run/diagint, say).
        self.inside_ns_of = inside_ns_of
        # tcp=True also listens on 127.0.0.1 (no auth, loopback only): tcp_uri reaches the same daemon the way a
        # remote host would, so "remote libvirt" code paths run for real.
        self.tcp_port = _free_port() if tcp else None
        self.tcp_uri = "qemu+tcp://127.0.0.1:%d/system" % self.tcp_port if tcp else None
        self.sockdir = os.path.join(self.workdir, "sock")
        self.uri = "qemu:///system?socket=%s/libvirt-sock" % self.sockdir
        self.log = os.path.join(self.workdir, "libvirtd.log")
        self.hooks = hooks or {}
        self.proc = None
        self.started_s = None

    def _root(self, path):
        return os.path.join(self.workdir, "root" + path)

    def start(self, timeout=60):
        for d in PRIVATE_DIRS:
            os.makedirs(self._root(d), exist_ok=True)
            os.makedirs(d, exist_ok=True)  # mount point only; stays empty on the machine
        os.makedirs(self.sockdir, exist_ok=True)
        with open(self._root("/etc/libvirt/qemu.conf"), "w") as f:
            f.write(QEMU_CONF)
        conf = os.path.join(self.workdir, "libvirtd.conf")
        with open(conf, "w") as f:
            f.write('unix_sock_dir = "%s"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\n'
                    'unix_sock_group = "root"\nunix_sock_rw_perms = "0770"\n'
                    'log_outputs = "3:file:%s"\n' % (self.sockdir, self.log))
            if self.tcp_port:
                f.write('listen_tls = 0\nlisten_tcp = 1\nlisten_addr = "127.0.0.1"\ntcp_port = "%d"\n'
                        'auth_tcp = "none"\n' % self.tcp_port)
        hookdir = self._root("/etc/libvirt/hooks")
        for name, text in self.hooks.items():
            path = os.path.join(hookdir, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o755)
        script = ["set -e"]
        for d in PRIVATE_DIRS:
            script.append("mount --bind '%s' '%s'" % (self._root(d), d))
        script.append("exec /usr/sbin/libvirtd %s--config '%s' --pid-file '%s/libvirtd.pid'" % (
            "--listen " if self.tcp_port else "", conf, self.workdir))
        errlog = open(os.path.join(self.workdir, "libvirtd.stderr"), "w")
        enter = ["nsenter", "-t", str(self.inside_ns_of), "-m", "--"] if self.inside_ns_of else []
        self.proc = subprocess.Popen(enter + ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                              "\n".join(script)], stdout=errlog, stderr=errlog,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        errlog.close()  # the daemon has its own copy
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("private libvirtd exited with %s; see %s" % (self.proc.returncode, errlog.name))
            r = subprocess.run(["virsh", "-q", "-c", self.uri, "version"], capture_output=True, text=True)
            if r.returncode == 0:
                self.started_s = time.time() - (deadline - timeout)
                return self
            time.sleep(0.2)
        raise RuntimeError("private libvirtd did not answer within %ds" % timeout)

    def virsh(self, *args, check=True):
        r = subprocess.run(["virsh", "-q", "-c", self.uri] + list(args), capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError("virsh %s: %s" % (" ".join(args), r.stderr.strip()))
        return r.stdout

    def create(self, xml):
        path = os.path.join(self.workdir, "dom-%d.xml" % time.monotonic_ns())
        with open(path, "w") as f:
            f.write(xml)
        self.virsh("create", path)

    def define(self, xml):
        path = os.path.join(self.workdir, "dom-%d.xml" % time.monotonic_ns())
        with open(path, "w") as f:
            f.write(xml)
        self.virsh("define", path)

    def state(self, dom):
        return self.virsh("domstate", "--reason", dom).strip()

    def destroy_all(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        # By UUID: a name may hold spaces or tabs (the hostile-name tests), which split() would cut apart and
        # leave that guest's QEMU running after the test.
        out = self.virsh("list", "--uuid", check=False)
        for uuid in out.split():
            self.virsh("destroy", uuid, check=False)
        out = self.virsh("list", "--all", "--uuid", check=False)
        for uuid in out.split():
            self.virsh("undefine", uuid, check=False)

    def stop(self):
        try:
            self.destroy_all()
        except Exception:
            pass
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # QEMU processes outlive a killed daemon: reap them by their pid files.
        for pidfile in glob.glob(self._root("/run/libvirt/qemu/*.pid")):
            try:
                os.kill(int(open(pidfile).read().strip()), signal.SIGKILL)
            except (ValueError, OSError):
                pass
        self.proc = None


def _free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_console(path, pattern, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(path, errors="replace") as f:
                if pattern in f.read():
                    return True
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    return False


# ---- counting NMIs on a guest's console: an oracle independent of diagint ----------------------------------
# A guest booted with nmi_panics=False (diagint.nmi=0: kernel.unknown_nmi_panic=0) logs one line per NMI on its
# console, pr_emerg from arch/x86/kernel/nmi.c, then goes on:
#   [    4.845539] Uhhuh. NMI received for unknown reason 31 on CPU 0.
#   [    4.846544] Dazed and confused, but trying to continue
# A guest that panics on an NMI prints nothing on its console at all (measured, Debian 6.1): the pvpanic notifier
# stops it (on_crash=preserve) before the kernel flushes its log to the console, so there only the state
# ("crashed (panicked)") and the panic line inside a dump (NMI_PANIC_TEXT below) tell, and a second NMI to it
# cannot be counted. Count on a guest that does not panic; judge "none" by heartbeats that go on.
NMI_CONSOLE_RE = re.compile(r"Uhhuh\. NMI received for unknown reason [0-9a-f]+ on CPU \d+\.")
HEARTBEAT_RE = re.compile(r"^diagint-heartbeat (\d+)\r?$", re.M)


def console_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def nmi_count(path):
    """NMIs the guest logged on its console so far."""
    return len(NMI_CONSOLE_RE.findall(console_text(path)))


def last_heartbeat(path):
    beats = HEARTBEAT_RE.findall(console_text(path))
    return int(beats[-1]) if beats else 0


def settle_nmis(path, beats=2, timeout=60):
    """The guest's NMI count once it has printed `beats` more heartbeats than now: it ran on for that long, so an
    NMI delivered before this call is on its console (logged within milliseconds). Raises AssertionError when the
    heartbeat stops (a guest that panicked or hangs): use quiet_nmis() for those."""
    start = last_heartbeat(path)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if last_heartbeat(path) >= start + beats:
            return nmi_count(path)
        time.sleep(0.1)
    raise AssertionError("%s: the heartbeat did not advance from %d by %d within %d s (the guest stopped: an NMI "
                         "that made it panic?); NMI lines: %d" % (path, start, beats, timeout, nmi_count(path)))


def quiet_nmis(path, quiet=3.0, timeout=60):
    """For a guest whose heartbeat stopped (diagint.hang): its NMI count once no new NMI line came for `quiet`
    seconds. Its kernel still runs, so an NMI would be logged at once."""
    n, since = nmi_count(path), time.time()
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = nmi_count(path)
        if m != n:
            n, since = m, time.time()
        elif time.time() - since >= quiet:
            return n
        time.sleep(0.1)
    raise AssertionError("%s: NMI lines still coming after %d s (%d so far)" % (path, timeout, n))


# ---- helpers for the test programs ----

SKIP = 77  # meson's exit status for a skipped test


def required():
    """True in CI (DIAGINT_REQUIRE_GUEST=1): there a missing prerequisite fails, it never skips."""
    return os.environ.get("DIAGINT_REQUIRE_GUEST") == "1"


def skip_or_fail(test, why):
    """In a unittest.TestCase: skip visibly with the reason, or fail under DIAGINT_REQUIRE_GUEST=1."""
    if required():
        test.fail("required here (DIAGINT_REQUIRE_GUEST=1) but: " + why)
    test.skipTest(why)


def require_guest_or_skip():
    """Skip visibly (exit 77 with the reason) where a real guest cannot run. With DIAGINT_REQUIRE_GUEST=1 (CI and
    scripts/test set it) a missing prerequisite is a failure, never a silent pass."""
    reasons = []
    if os.geteuid() != 0:
        reasons.append("not root: the private libvirtd needs root")
    if not os.access("/usr/bin/qemu-system-x86_64", os.X_OK):
        reasons.append("qemu-system-x86_64 missing (scripts/deps installs it)")
    if not os.access("/usr/sbin/libvirtd", os.X_OK):
        reasons.append("libvirtd missing (scripts/deps installs it)")
    if not os.environ.get("DG_GUEST_DIR"):
        reasons.append("DG_GUEST_DIR not set: run through meson test")
    if not reasons:
        return
    msg = "; ".join(reasons)
    if required():
        print("FAIL: a real guest is required here but: " + msg)
        raise SystemExit(1)
    print("SKIP: " + msg)
    raise SystemExit(SKIP)


def built_guest():
    d = os.environ["DG_GUEST_DIR"]
    return {"kernel": os.path.join(d, "vmlinux"), "initrd": os.path.join(d, "initramfs.cpio.gz")}


def diagint_bin():
    return os.path.join(os.environ.get("DG_BUILD_DIR", "build"), "cli", "diagint")


def elf_facts(path):
    """What pyelftools (an independent reader) sees in a dump."""
    from elftools.elf.elffile import ELFFile
    facts = {"type": None, "prstatus": 0, "loads": [], "notes": []}
    with open(path, "rb") as f:
        elf = ELFFile(f)
        facts["type"] = elf.header["e_type"]
        facts["class"] = elf.elfclass
        for seg in elf.iter_segments():
            if seg["p_type"] == "PT_LOAD":
                facts["loads"].append((seg["p_paddr"], seg["p_memsz"], seg["p_filesz"]))
            elif seg["p_type"] == "PT_NOTE":
                for note in seg.iter_notes():
                    facts["notes"].append((note["n_name"], note["n_type"]))
                    if note["n_type"] == "NT_PRSTATUS":
                        facts["prstatus"] += 1
    return facts


# What the guest's panic on an NMI writes into its kernel log (printk ring buffer), hence into a dump taken after it.
# Search dumps for this, not for "Kernel panic - not syncing" alone: that is panic()'s format string in the kernel's
# .rodata, so it is in the dump of every guest, panicked or not (measured on Debian's 6.1 kernel).
NMI_PANIC_TEXT = b"Kernel panic - not syncing: NMI: Not continuing"


def file_contains(path, needle, chunk=1 << 24):
    with open(path, "rb") as f:
        tail = b""
        while True:
            data = f.read(chunk)
            if not data:
                return False
            if needle in tail + data:
                return True
            tail = data[-len(needle):]


# ---- opt-in variant: a guest with the QEMU guest agent (diagint doctor's in-guest checks) ----------------------
# The default guest above is unchanged (and so is GUEST_REVISION). build_agent_guest() makes a second initramfs:
# the same /init plus, when the kernel command line says diagint.agent=1 (domain_xml(..., agent=True)), the virtio
# modules and the host's own /usr/sbin/qemu-ga (Debian package qemu-guest-agent) with the libraries ldd lists,
# started on the virtio-serial port named org.qemu.guest_agent.0.

AGENT_CHANNEL_XML = "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
AGENT_REVISION = "4"
AGENT_MODULES = ["drivers/virtio/virtio_ring.ko", "drivers/virtio/virtio.ko",
                 "drivers/virtio/virtio_pci_legacy_dev.ko", "drivers/virtio/virtio_pci_modern_dev.ko",
                 "drivers/virtio/virtio_pci.ko", "drivers/char/virtio_console.ko"]
AGENT_INIT_BLOCK = r"""for arg in $(cat /proc/cmdline); do [ "$arg" = diagint.agent=1 ] && agent=1; done
if [ "${agent:-}" = 1 ]; then
  for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_console; do
    insmod /lib/modules/$m.ko 2>/dev/null
  done
  mkdir -p /var/run /tmp /var/crash
  mount -t tmpfs -o size=256m vmcore /var/crash  # where kdump would write its vmcore: room for doctor to find
  port=
  for i in 1 2 3 4 5 6 7 8 9 10; do
    for p in /sys/class/virtio-ports/vport*; do
      [ "$(cat $p/name 2>/dev/null)" = org.qemu.guest_agent.0 ] && port=/dev/${p##*/}
    done
    [ -n "$port" ] && break
    sleep 1
  done
  if [ -n "$port" ]; then
    /usr/sbin/qemu-ga -m virtio-serial -p "$port" -t /tmp -l /tmp/qemu-ga.log -d -f /tmp/qemu-ga.pid
    echo "diagint-guest: qemu-ga on $port"
  else
    echo "diagint-guest: no org.qemu.guest_agent.0 port"
  fi
fi
"""


def agent_available():
    """None when build_agent_guest() can work here, else why not."""
    if not os.access("/usr/sbin/qemu-ga", os.X_OK):
        return "/usr/sbin/qemu-ga missing (apt-get install qemu-guest-agent)"
    return None


def _ldd_libs(binary):
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
            libs.append(parts[2])
        elif parts and parts[0].startswith("/"):
            libs.append(parts[0])  # the dynamic loader
    return libs


def build_agent_guest(cache_dir):
    """Like build_guest(), with qemu-ga inside; boot it with domain_xml(..., agent=True)."""
    why = agent_available()
    if why:
        raise RuntimeError(why)
    base = build_guest(cache_dir)
    kv = base["kernel_version"]
    init = INIT_SCRIPT.replace('echo "diagint-guest: ready', AGENT_INIT_BLOCK + 'echo "diagint-guest: ready', 1)
    ga = open("/usr/sbin/qemu-ga", "rb").read()
    key = hashlib.sha256((AGENT_REVISION + GUEST_REVISION + kv + init).encode() + hashlib.sha256(ga).digest())
    out = os.path.join(cache_dir, "agent-guest-" + key.hexdigest()[:12])
    initrd = os.path.join(out, "initramfs.cpio.gz")
    if os.path.exists(initrd):
        return {"kernel": base["kernel"], "initrd": initrd, "kernel_version": kv}
    os.makedirs(out, exist_ok=True)
    root = tempfile.mkdtemp(prefix="initramfs-", dir=out)
    try:
        os.makedirs(os.path.join(root, "bin"))
        os.makedirs(os.path.join(root, "lib/modules"))
        os.makedirs(os.path.join(root, "usr/sbin"))
        shutil.copy2("/bin/busybox", os.path.join(root, "bin/busybox"))
        _copy_modules(root, kv, [m for m, _why in MODULES] + AGENT_MODULES)
        shutil.copy2("/usr/sbin/qemu-ga", os.path.join(root, "usr/sbin/qemu-ga"))
        for lib in _ldd_libs("/usr/sbin/qemu-ga"):
            dst = os.path.join(root, lib.lstrip("/"))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(os.path.realpath(lib), dst)
        with open(os.path.join(root, "init"), "w") as f:
            f.write(init)
        os.chmod(os.path.join(root, "init"), 0o755)
        _pack_initramfs(root, initrd)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {"kernel": base["kernel"], "initrd": initrd, "kernel_version": kv}
