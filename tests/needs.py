"""What a test needs from the machine: skip with the reason when it is missing, but FAIL when
CI=true (CI runs as root after the README's set-up, where everything must be there)."""
import os
import shutil

import pytest


def _missing(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)


def need_tool(name: str, package: str | None = None) -> str:
    """The path of a command-line tool."""
    path = shutil.which(name)
    if path is None:
        _missing(f"{name} is not installed" + (f" (Debian package {package})" if package else ""))
    return path


def need_capture(tool: str = "dumpcap") -> str:
    """A capture tool and the privilege to capture on loopback."""
    path = need_tool(tool, "tshark" if tool in ("dumpcap", "tshark") else tool)
    if os.geteuid() != 0:
        _missing("capturing on loopback needs root or dumpcap capabilities")
    return path
