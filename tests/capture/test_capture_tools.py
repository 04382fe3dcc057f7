"""Finding the tools, their versions, capabilities, interfaces."""
import os
import shutil
import subprocess

import pytest

from needs import skip_or_fail

from capture.capture_helpers import require_tool
from inferwire.capture.tools import (CAP_NET_ADMIN, CAP_NET_RAW, check_interface,
                                     file_capabilities, find_tool, tool_kind)
from inferwire.errors import CaptureError


@pytest.mark.parametrize("tool,word", [("dumpcap", "Dumpcap"), ("tshark", "TShark"),
                                       ("tcpdump", "tcpdump version")])
def test_tools_are_found_with_their_version(tool, word):
    require_tool(tool)
    info = find_tool(tool)
    assert info.name == tool and os.path.isabs(info.path) and word in info.version


def test_missing_tool_names_the_debian_package(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(CaptureError, match=r"tcpdump not found on PATH.*apt-get install tcpdump"):
        find_tool("tcpdump")
    with pytest.raises(CaptureError, match="apt-get install tshark"):
        find_tool("tshark")


def test_unknown_tool():
    with pytest.raises(CaptureError, match="unknown capture tool 'wireshark'"):
        tool_kind("wireshark")
    assert tool_kind("/opt/bin/dumpcap-4.2") == "dumpcap"


def test_file_capabilities_are_read_from_the_binary(tmp_path):
    if os.geteuid() != 0 or shutil.which("setcap") is None:
        skip_or_fail("needs root and setcap (libcap2-bin) to set file capabilities")
    binary = tmp_path / "fakecap"
    shutil.copy("/bin/true", binary)
    assert file_capabilities(str(binary)) == set()
    subprocess.run(["setcap", "cap_net_raw,cap_net_admin+eip", str(binary)], check=True)
    assert file_capabilities(str(binary)) == {CAP_NET_ADMIN, CAP_NET_RAW}


def test_interfaces():
    check_interface("lo")
    check_interface("any")
    check_interface("3")                       # indexes are left to the tool
    with pytest.raises(CaptureError, match="'eth99x' not found; available: any, "):
        check_interface("eth99x")
