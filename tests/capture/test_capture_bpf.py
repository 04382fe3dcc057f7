"""The capture filter derived from ports (its effect on real traffic is in test_capture_session)."""
import subprocess

import pytest

from capture.capture_helpers import require_tool
from inferwire.capture.bpf import build_filter, ports_expression
from inferwire.errors import CaptureError


def test_ports_become_tcp_port_terms_sorted_and_unique():
    assert ports_expression([8501, 8500, 8501]) == "tcp port 8500 or tcp port 8501"


def test_probe_port_is_or_ed_in():
    assert build_filter((8500, 8501), 40000) == "tcp port 8500 or tcp port 8501 or tcp port 40000"


def test_extra_filter_restricts_targets_but_never_the_probe():
    f = build_filter((8500,), 40000, "host 10.0.0.1")
    assert f == "((tcp port 8500) and (host 10.0.0.1)) or tcp port 40000"


def test_no_ports_no_extra_means_everything():
    assert build_filter((), 40000) == ""
    assert build_filter((), None, "udp") == "(udp)"


@pytest.mark.parametrize("bad", [0, 65536, -1, "8500", 1.5, True])
def test_bad_ports_are_refused(bad):
    with pytest.raises(CaptureError, match="not a TCP port"):
        build_filter((bad,))


def test_filters_compile_with_libpcap():
    """tcpdump -d compiles the filter (no capture): the syntax is valid BPF."""
    require_tool("tcpdump")
    for f in (build_filter((8500, 8501), 40000), build_filter((8500,), 40000, "host 127.0.0.1")):
        done = subprocess.run(["tcpdump", "-d", "-i", "lo", f], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
