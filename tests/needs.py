"""What a test needs from the machine: skip with the reason when it is missing, but FAIL when
CI=true (CI runs as root after the README's set-up, where everything must be there)."""
import contextlib
import os
import shutil
import subprocess

import pytest


def skip_or_fail(reason: str):
    """Skip with ``reason``; under CI=true fail with it instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)


def need_tool(name: str, package: str | None = None) -> str:
    """The path of a command-line tool."""
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"{name} is not installed"
                     + (f" (Debian package {package})" if package else ""))
    return path


def need_capture(tool: str = "dumpcap") -> str:
    """A capture tool and the privilege to capture on loopback (root, or for dumpcap its file
    capabilities: inferwire's own check)."""
    path = need_tool(tool, "tshark" if tool in ("dumpcap", "tshark") else tool)
    if tool == "dumpcap":
        from inferwire.capture import check_privileges, find_tool
        from inferwire.errors import CaptureError
        try:
            check_privileges(find_tool("dumpcap"))
        except CaptureError as exc:
            skip_or_fail(f"not permitted to capture on lo: {exc}")
    elif os.geteuid() != 0:
        skip_or_fail(f"capturing on loopback with {tool} needs root")
    return path


@contextlib.contextmanager
def small_tmpfs(path, size: str):
    """A real tmpfs of ``size`` (mount's syntax, e.g. "4k") mounted on the folder ``path`` for
    the block's duration: a disk that fills up."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        skip_or_fail("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        skip_or_fail(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)   # -l: files may be open
