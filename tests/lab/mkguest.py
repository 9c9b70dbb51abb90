#!/usr/bin/python3
"""mkguest OUTDIR: write the test guest (vmlinux, initramfs.cpio.gz) and a domain XML template into OUTDIR.

The template has @NAME@, @VCPUS@, @MEMORY_MIB@, @CONSOLE@ placeholders so that C tests use the very XML the
Python tests use (diaglab.domain_xml is the one source)."""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import diaglab  # noqa: E402


def main():
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    g = diaglab.build_guest(os.path.join(out, "cache"))
    for src, name in ((g["kernel"], "vmlinux"), (g["initrd"], "initramfs.cpio.gz")):
        shutil.copyfile(src, os.path.join(out, name + ".tmp"))
        os.replace(os.path.join(out, name + ".tmp"), os.path.join(out, name))
    local = {"kernel": os.path.join(out, "vmlinux"), "initrd": os.path.join(out, "initramfs.cpio.gz")}
    xml = diaglab.domain_xml("@NAME@", local, "@CONSOLE@", vcpus="@VCPUS@", memory_mib="@MEMORY_MIB@")
    with open(os.path.join(out, "domain.xml.in"), "w") as f:
        f.write(xml)


if __name__ == "__main__":
    main()
