"""Finding the capture tools, their versions, and whether we may capture, with actionable errors."""
from __future__ import annotations

import grp
import os
import re
import shutil
import socket
import struct
import subprocess
from dataclasses import dataclass

from ..errors import CaptureError

TOOLS = ("dumpcap", "tshark", "tcpdump")
DEBIAN_PACKAGES = {"dumpcap": "wireshark-common", "tshark": "tshark", "tcpdump": "tcpdump",
                   "ssh": "openssh-client"}
CAP_NET_ADMIN, CAP_NET_RAW = 12, 13


@dataclass(frozen=True)
class ToolInfo:
    """A capture tool found on this host: ``name`` (dumpcap/tshark/tcpdump), ``path``, ``version``."""
    name: str
    path: str
    version: str


def tool_kind(name_or_path: str) -> str:
    """Which tool a name or path is (its basename must start with dumpcap, tshark or tcpdump)."""
    base = os.path.basename(name_or_path)
    for kind in TOOLS:
        if base.startswith(kind):
            return kind
    raise CaptureError(f"unknown capture tool {name_or_path!r}: use one of {', '.join(TOOLS)}")


def find_tool(name: str, path: str | None = None) -> ToolInfo:
    """Locate ``name`` (or the explicit ``path``), check it runs, and read its version."""
    kind = tool_kind(path or name)
    found = path if path is not None else shutil.which(kind)
    if found is None or not os.path.isfile(found):
        package = DEBIAN_PACKAGES[kind]
        where = f"at {path}" if path is not None else "on PATH"
        raise CaptureError(f"capture tool {kind} not found {where}; install it "
                           f"(Debian/Ubuntu: sudo apt-get install {package}) or pass its path")
    if not os.access(found, os.X_OK):
        raise CaptureError(f"{found} is not executable by this user: {permission_advice(kind, found)}")
    return ToolInfo(kind, found, tool_version(found))


def tool_version(path: str) -> str:
    """First version line of ``path --version`` (e.g. "tcpdump version 4.99.3")."""
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CaptureError(f"cannot run {path} --version: {exc}") from exc
    for line in (done.stdout + "\n" + done.stderr).splitlines():
        if re.search(r"\d+\.\d+", line):
            return line.strip()
    return "unknown"


def file_capabilities(path: str) -> set[int]:
    """Permitted capability numbers set on ``path`` (security.capability xattr), or empty."""
    try:
        raw = os.getxattr(path, "security.capability")
    except OSError:
        return set()
    if len(raw) < 12:
        return set()
    permitted_low = struct.unpack_from("<I", raw, 4)[0]
    permitted_high = struct.unpack_from("<I", raw, 12)[0] if len(raw) >= 20 else 0
    bits = permitted_low | (permitted_high << 32)
    return {n for n in range(64) if bits >> n & 1}


def permission_advice(kind: str, path: str) -> str:
    """How to allow a non-root user to capture with this tool."""
    advice = [f"run as root, or grant capabilities: sudo setcap cap_net_raw,cap_net_admin+eip {path}"]
    if kind in ("dumpcap", "tshark"):
        advice.append("or on Debian/Ubuntu: sudo dpkg-reconfigure wireshark-common (answer Yes), "
                      "sudo usermod -aG wireshark $USER, then log in again")
    return "; ".join(advice)


def capture_binary(tool: ToolInfo) -> str:
    """The binary that opens the interface: tshark captures through dumpcap."""
    if tool.name == "tshark":
        return shutil.which("dumpcap") or tool.path
    return tool.path


def check_privileges(tool: ToolInfo) -> None:
    """Raise CaptureError, saying how to fix it, when this user cannot capture with ``tool``."""
    if os.geteuid() == 0:
        return
    binary = capture_binary(tool)
    st = os.stat(binary)
    if st.st_mode & 0o4000 and st.st_uid == 0:
        return                                   # setuid root
    if {CAP_NET_RAW, CAP_NET_ADMIN} <= file_capabilities(binary):
        if os.access(binary, os.X_OK):
            return
        group = grp.getgrgid(st.st_gid).gr_name
        raise CaptureError(f"no permission to run {binary} (owned by group {group!r}): "
                           f"sudo usermod -aG {group} $USER, then log in again")
    raise CaptureError(f"no permission to capture packets with {binary}: "
                       f"{permission_advice(tool.name, binary)}")


def interface_names() -> list[str]:
    """Network interfaces of this host (plus "any", Linux's all-interfaces pseudo device)."""
    return ["any"] + [name for _, name in socket.if_nameindex()]


def check_interface(name: str) -> None:
    """Raise CaptureError naming the available interfaces when ``name`` does not exist here."""
    if name.isdigit():
        return                                   # tools also accept an interface index
    names = interface_names()
    if name not in names:
        raise CaptureError(f"network interface {name!r} not found; available: {', '.join(names)}")
