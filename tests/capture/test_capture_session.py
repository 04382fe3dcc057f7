"""Real captures on loopback with dumpcap, tshark and tcpdump (root needed; see capture_helpers)."""
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time

import dpkt
import pytest

from needs import skip_or_fail, small_tmpfs

from capture.capture_helpers import EchoServer, payloads, require_tool, tcp_packets
from inferwire.capture import CaptureDied, CaptureOptions, CaptureSession, RingBuffer
from inferwire.errors import CaptureError, InferwireWarning

pytestmark = [pytest.mark.capture, pytest.mark.tshark]


@pytest.fixture
def echo():
    server = EchoServer()
    yield server
    server.close()


def capture(tmp_path, echo, tool="dumpcap", name="cap.pcapng", **kw):
    require_tool(tool)
    return CaptureSession(CaptureOptions(output=str(tmp_path / name), ports=(echo.port,),
                                         tool=tool, **kw))


def pid_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_first_and_last_connections_are_captured_dumpcap_5_runs(tmp_path, echo):
    """start() returns only once live, stop() only after draining: no edge connection is lost.

    Without the probe barrier, this machine lost the first 0.3-1.2 s of traffic (dumpcap prints
    "Capturing on" at once) and every connection sent just before SIGINT.
    """
    for run in range(5):
        session = capture(tmp_path, echo, name=f"run{run}.pcapng")
        session.start()
        assert echo.exchange(b"first-%d" % run) == b"first-%d" % run
        echo.exchange(b"last-%d" % run)
        result = session.stop()
        got = payloads(result.path)
        assert b"first-%d" % run in got, f"run {run}: first connection missing"
        assert b"last-%d" % run in got, f"run {run}: last connection missing"
        assert result.drained is True


@pytest.mark.parametrize("tool", ["tshark", "tcpdump"])
def test_first_and_last_connections_are_captured_other_tools(tmp_path, echo, tool):
    with capture(tmp_path, echo, tool=tool, name=f"{tool}.pcap") as session:
        echo.exchange(b"first")
        echo.exchange(b"last")
    got = payloads(session.result.path)
    assert b"first" in got and b"last" in got
    assert session.result.tool == tool and session.result.exit_code == 0


@pytest.mark.parametrize("tool", ["dumpcap", "tshark", "tcpdump"])
def test_stop_returns_counts_times_command_and_private_files(tmp_path, echo, tool):
    with capture(tmp_path, echo, tool=tool, name=f"{tool}.pcap") as session:
        for i in range(10):
            echo.exchange(b"x%d" % i)
    r = session.result
    assert r.packets is not None and r.packets >= 10 * 8       # 10 connections, >= 8 packets each
    assert r.packets == len(tcp_packets(r.path))                # the tool's count is the file's
    assert r.dropped == 0 and r.dropped_by
    assert isinstance(r.command, list) and r.command[0].endswith(tool)
    assert r.tool_version and r.started_ns < r.live_ns < r.stopped_ns
    assert r.files == [r.path] and stat.S_IMODE(os.stat(r.path).st_mode) == 0o600
    assert f"tcp port {r.probe_port}" in r.capture_filter
    if tool != "tcpdump":
        assert "isb_ifdrop" in r.dropped_by                     # read from the pcapng file


def test_filter_from_ports_keeps_other_ports_out(tmp_path, echo):
    other = EchoServer()
    try:
        with capture(tmp_path, echo) as session:
            echo.exchange(b"wanted")
            other.exchange(b"unwanted")
    finally:
        other.close()
    packets = tcp_packets(session.result.path)
    ports = {p for sport, dport, _, _ in packets for p in (sport, dport)}
    assert echo.port in ports and session.result.probe_port in ports
    assert other.port not in ports
    assert b"unwanted" not in [p for _, _, p, _ in packets]
    kinds = {"target" if echo.port in (s, d) else "probe" if session.result.probe_port in (s, d)
             else "other" for s, d, _, _ in packets}
    assert kinds == {"target", "probe"}      # every packet is either wanted or a probe


def test_missing_tool_says_which_package(tmp_path, echo):
    session = capture(tmp_path, echo, tool_path="/nonexistent/bin/dumpcap")
    with pytest.raises(CaptureError, match=r"not found at /nonexistent/bin/dumpcap.*"
                                           r"apt-get install wireshark-common"):
        session.start()


def test_missing_interface_lists_the_real_ones(tmp_path, echo):
    with pytest.raises(CaptureError, match=r"'nosuchif0' not found; available: any, .*lo"):
        capture(tmp_path, echo, interface="nosuchif0").start()


def test_tool_failing_at_start_shows_its_stderr(tmp_path, echo):
    """An interface index is not pre-checked: dumpcap itself refuses it and exits."""
    session = capture(tmp_path, echo, interface="999")
    with pytest.raises(CaptureError, match="interface '999' does not exist.*adapter index"):
        session.start()
    assert not session.running


def test_existing_output_is_never_overwritten_unless_asked(tmp_path, echo):
    path = tmp_path / "cap.pcapng"
    path.write_bytes(b"previous run")
    with pytest.raises(CaptureError, match="already exists"):
        capture(tmp_path, echo).start()
    assert path.read_bytes() == b"previous run"
    with capture(tmp_path, echo, overwrite=True):
        echo.exchange(b"new")
    assert b"new" in payloads(str(path))


def test_special_files_are_refused_even_with_overwrite(tmp_path, echo):
    require_tool("dumpcap")
    with pytest.raises(CaptureError, match="not a regular file"):
        CaptureSession(CaptureOptions(output="/dev/full", ports=(echo.port,),
                                      overwrite=True)).start()
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_ring_buffer_files_are_listed_and_private(tmp_path, echo):
    require_tool("dumpcap")
    ring = RingBuffer(files=5, megabytes=1)
    with capture(tmp_path, echo, ring=ring) as session:
        with socket.create_connection(("127.0.0.1", echo.port)) as c:
            s, _ = echo.sock.accept()
            with s:
                reader = threading.Thread(target=lambda: [s.recv(1 << 20) for _ in range(4000)])
                reader.start()
                c.sendall(b"r" * 3_000_000)
                c.shutdown(socket.SHUT_WR)
                reader.join(5)
    r = session.result
    assert len(r.files) >= 3 and r.path == r.files[0]
    assert all(os.path.basename(f).startswith("cap_0000") for f in r.files)
    assert all(stat.S_IMODE(os.stat(f).st_mode) == 0o600 for f in r.files)
    assert r.dropped == 0


def test_full_disk_is_reported_with_what_was_written(tmp_path, echo):
    require_tool("dumpcap")
    mount = tmp_path / "small"
    mount.mkdir()
    with small_tmpfs(mount, "256k"):
        session = CaptureSession(CaptureOptions(output=str(mount / "cap.pcapng"),
                                                ports=(echo.port,)))
        with pytest.warns(InferwireWarning, match="only 0 MB free"):
            session.start()
        with pytest.raises(CaptureDied, match="disk holding .* is full") as info:
            for _ in range(200):
                echo.exchange(b"f" * 8000)
                session.check()
                time.sleep(0.01)
            session.stop()
        assert info.value.result.files and os.path.getsize(info.value.result.path) > 0
        assert not session.running


def test_exception_inside_the_block_still_stops_and_drains(tmp_path, echo):
    session = capture(tmp_path, echo)
    with pytest.raises(RuntimeError, match="boom"):
        with session:
            echo.exchange(b"before-the-error")
            raise RuntimeError("boom")
    assert session.result is not None and not session.running
    assert b"before-the-error" in payloads(session.result.path)


CHILD = textwrap.dedent("""
    import sys, time, socket
    from inferwire.capture import CaptureSession, CaptureOptions
    out, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    session = CaptureSession(CaptureOptions(output=out, ports=(port,))).start()
    print(session._process.pid, flush=True)
    if mode == "exit":
        sys.exit(0)                         # no stop(): atexit must do it
    if mode == "with":
        with session:
            sys.stdin.readline()            # the test connects, then sends SIGINT
    time.sleep(60)
""")


def run_child(tmp_path, echo, mode):
    require_tool("dumpcap")
    out = str(tmp_path / f"{mode}.pcapng")
    child = subprocess.Popen([sys.executable, "-c", CHILD, out, str(echo.port), mode],
                             stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
    pid = int(child.stdout.readline())
    return child, pid, out


def assert_closed_pcapng(path):
    with open(path, "rb") as f:
        assert len(list(dpkt.pcapng.Reader(f))) > 0      # readable to the end


def test_killed_owner_watchdog_stops_the_capture(tmp_path, echo):
    child, pid, out = run_child(tmp_path, echo, "sleep")
    child.kill()                                         # SIGKILL: no atexit, no finally
    child.wait()
    assert pid_gone(pid, 10), "dumpcap survived its owner"
    assert_closed_pcapng(out)


def test_interpreter_exit_stops_a_forgotten_session(tmp_path, echo):
    child, pid, out = run_child(tmp_path, echo, "exit")
    assert child.wait(20) == 0
    assert pid_gone(pid, 1)
    assert_closed_pcapng(out)


def test_ctrl_c_stops_and_keeps_what_was_sent(tmp_path, echo):
    child, pid, out = run_child(tmp_path, echo, "with")
    echo.exchange(b"just-before-ctrl-c")
    child.send_signal(signal.SIGINT)
    child.wait(20)
    assert child.returncode != 0                        # KeyboardInterrupt propagated
    assert pid_gone(pid, 1)
    assert b"just-before-ctrl-c" in payloads(out)


def test_non_root_gets_told_how_to_grant_permission(tmp_path):
    require_tool("dumpcap")
    if subprocess.run(["setpriv", "--version"], capture_output=True).returncode != 0:
        skip_or_fail("setpriv (util-linux) is needed to run as another user")
    os.chmod(tmp_path, 0o777)
    code = ("from inferwire.capture import CaptureSession, CaptureOptions\n"
            "from inferwire.errors import CaptureError\n"
            f"try:\n    CaptureSession(CaptureOptions(output='{tmp_path}/n.pcapng')).start()\n"
            "except CaptureError as e:\n    print(e)\n")
    done = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                           sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert "no permission to capture" in done.stdout, done.stdout + done.stderr
    assert "setcap cap_net_raw,cap_net_admin+eip" in done.stdout
    assert "usermod -aG wireshark" in done.stdout
