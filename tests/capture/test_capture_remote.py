"""Remote capture: argv construction and clock-offset arithmetic, then runs through a local
stand-in for ssh (fast; the owner-killed case).  test_capture_remote_sshd.py does the same over a
real OpenSSH sshd on 127.0.0.1."""
import os
import shlex
import sys

import pytest

from capture.capture_helpers import EchoServer, remote_capture_of_two, require_tool
from inferwire.capture import ClockOffset, RemoteCapture, RemoteOptions, estimate_clock_offset
from inferwire.capture.remote import REMOTE_SCRIPT, measure_clock_offset, ssh_argv, tcpdump_argv
from inferwire.errors import CaptureError

LOCAL_SSH = (sys.executable, os.path.join(os.path.dirname(__file__), "local_ssh.py"))


def test_offset_uses_the_shortest_round_trip():
    # (local send, remote clock, local receive): remote runs 4500 ns ahead
    samples = [(1_000, 5_700, 1_400), (2_000, 6_550, 2_100), (3_000, 7_600, 3_300)]
    est = estimate_clock_offset(samples)
    assert est == ClockOffset(offset_ns=4_500, uncertainty_ns=50, rtt_ns=100, samples=3,
                              measured_at_ns=2_050)
    assert est.to_local_ns(6_550) == 2_050


def test_offset_errors():
    with pytest.raises(CaptureError, match="no clock samples"):
        estimate_clock_offset([])
    with pytest.raises(CaptureError, match="before sent"):
        estimate_clock_offset([(10, 5, 9)])


def test_remote_command_quotes_every_word():
    opts = RemoteOptions(host="gpu1", output="/tmp/x.pcap", interface="eth0", ports=(8500,),
                         sudo=True, ssh=("ssh", "-p", "2222"))
    argv = tcpdump_argv(opts, "tcp port 8500 or tcp port 9")
    assert argv[:3] == ["sudo", "-n", "tcpdump"]
    assert argv[-3:] == ["-w", "-", "tcp port 8500 or tcp port 9"]
    local = ssh_argv(opts, argv)
    assert local[:4] == ["ssh", "-p", "2222", "gpu1"] and len(local) == 5
    # the remote shell splits the command back into exactly our words
    assert shlex.split(local[4]) == ["sh", "-c", REMOTE_SCRIPT, "inferwire-capture", *argv]


def test_clock_offset_over_the_stand_in_is_near_zero():
    est = measure_clock_offset(RemoteOptions(host="127.0.0.1", output="/x", ssh=LOCAL_SSH,
                                             clock_samples=5))
    assert est.samples == 5
    assert abs(est.offset_ns) <= est.uncertainty_ns + 2_000_000   # same clock: 0 within rtt/2
    assert 0 < est.rtt_ns < 200_000_000


@pytest.mark.capture
def test_remote_capture_streams_and_proves_liveness(tmp_path):
    r = remote_capture_of_two(LOCAL_SSH, tmp_path / "remote.pcap", b"remote-first",
                              b"remote-last")
    assert r.clock_offset["before"]["samples"] == 3 and r.clock_offset["after"] is not None


@pytest.mark.capture
def test_remote_tool_failure_is_reported(tmp_path):
    require_tool("tcpdump")
    opts = RemoteOptions(host="127.0.0.1", output=str(tmp_path / "r.pcap"), interface="nosuch9",
                         ssh=LOCAL_SSH, clock_samples=1, start_timeout_s=5)
    with pytest.raises(CaptureError, match="nosuch9.*does not exist"):
        RemoteCapture(opts).start()


@pytest.mark.capture
def test_killed_owner_stops_the_remote_tcpdump(tmp_path):
    """SIGKILL the owner: the watchdog stops ssh, the remote script sees stdin close."""
    import subprocess
    import textwrap
    import time

    import psutil
    require_tool("tcpdump")
    echo = EchoServer()
    code = textwrap.dedent(f"""
        import time
        from inferwire.capture import RemoteCapture, RemoteOptions
        RemoteCapture(RemoteOptions(host="127.0.0.1", output={str(tmp_path / 'k.pcap')!r},
                      interface="lo", ports=({echo.port},), ssh={LOCAL_SSH!r},
                      clock_samples=1)).start()
        print("live", flush=True)
        time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "live"

        def tcpdumps():
            return [p for p in psutil.process_iter(["name", "cmdline"])
                    if p.info["name"] == "tcpdump"
                    and f"tcp port {echo.port}" in " ".join(p.info["cmdline"] or [])]
        assert len(tcpdumps()) == 1
        child.kill()
        child.wait()
        deadline = time.monotonic() + 10
        while tcpdumps() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not tcpdumps(), "the remote tcpdump survived its owner"
    finally:
        echo.close()
