"""Helpers of the live network-namespace tests: what they need, and what is left on the host."""
import os
import shutil
import subprocess

from needs import skip_or_fail


def need_netns() -> None:
    """Root, ip, tc and iptables (skip with the reason elsewhere, fail under CI=true)."""
    for tool, package in (("ip", "iproute2"), ("tc", "iproute2"), ("iptables", "iptables")):
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} is not installed (Debian package {package})")
    if os.geteuid() != 0:
        skip_or_fail("network namespaces need root")


def namespaces_of(pid: int) -> list[str]:
    """This machine's network namespaces made by the run of process ``pid``."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    names = [line.split()[0] for line in out.splitlines() if line.split()]
    return [n for n in names if n in (f"iwn{pid}c", f"iwn{pid}r", f"iwn{pid}s")]


def kernel_has_netem() -> bool:
    """Whether tc can make a netem qdisc here (tried in a namespace made for the question)."""
    ns = f"iwnetem{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        return subprocess.run(["tc", "-n", ns, "qdisc", "add", "dev", "lo", "root", "netem",
                               "delay", "1ms"], capture_output=True).returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", ns])
