"""Two hosts made as network namespaces joined by a veth pair on this machine: a server that
sleeps a known 20 ms per request in one, a client in the other, dumpcap in each.  The server
capture's clock is then moved 1.5 s (editcap -t): analyze_two must find that offset within its
stated uncertainty, and the server's own time must be the sleep.

Traffic stays inside the two namespaces (addresses from 10.231.0.0/30 exist only there); the
namespaces (and with them the veth pair) are deleted when the test ends.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import inferwire
from inferwire.packets import read_packets
from inferwire.analysis.vantage import analyze_two

SLEEP_MS = 20
SHIFT_NS = 1_500_000_000
CLIENT_IP, SERVER_IP = "10.231.0.1", "10.231.0.2"
HTTP_PORT, GRPC_PORT, START_PROBE, STOP_PROBE = 8501, 8500, 9, 10
N = 8
HOSTS = str(Path(__file__).with_name("hosts.py"))


from needs import skip_or_fail


def run(*argv, check=True, **kw):
    return subprocess.run(list(argv), check=check, capture_output=True, text=True, timeout=20,
                          **kw)


@pytest.fixture
def two_hosts():
    """(client namespace, server namespace, client veth, server veth); deleted afterwards."""
    for tool in ("ip", "dumpcap", "editcap"):
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} is not installed (iproute2 / tshark / wireshark-common)")
    if os.geteuid() != 0:
        skip_or_fail("creating network namespaces needs root")
    tag = f"{os.getpid() % 100000}"
    cns, sns, cif, sif = f"iwc{tag}", f"iws{tag}", f"iwc{tag}v", f"iws{tag}v"
    created = []
    try:
        for ns in (cns, sns):
            run("ip", "netns", "add", ns)
            created.append(ns)
        run("ip", "link", "add", cif, "netns", cns, "type", "veth", "peer", "name", sif,
            "netns", sns)
        for ns, dev, ip in ((cns, cif, CLIENT_IP), (sns, sif, SERVER_IP)):
            run("ip", "-n", ns, "addr", "add", f"{ip}/30", "dev", dev)
            run("ip", "-n", ns, "link", "set", dev, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
    except subprocess.CalledProcessError as exc:
        for ns in created:
            run("ip", "netns", "del", ns, check=False)
        skip_or_fail(f"cannot make network namespaces here: {exc.stderr.strip()}")
    try:
        yield cns, sns, cif, sif
    finally:
        for ns in created:
            run("ip", "netns", "del", ns, check=False)


class Processes:
    """Started processes, each stopped (by its own pid) when the test ends."""

    def __init__(self):
        self.procs = []

    def start(self, *argv, **kw) -> subprocess.Popen:
        p = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, **kw)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)


def probe_seen(path: str, port: int) -> bool:
    """Whether the capture file already holds a packet to or from ``port``."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with read_packets(path) as t:
                return bool(((t.dport == port) | (t.sport == port)).any())
        except inferwire.InferwireError:
            return False      # header not written yet


def barrier(cns: str, files: list[str], port: int, timeout_s: float = 10.0) -> None:
    """Knock on a closed server port until both captures hold the knock: the captures are live
    (at the start) or have written everything sent before (at the end)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run("ip", "netns", "exec", cns, "bash", "-c",
            f"exec 3<>/dev/tcp/{SERVER_IP}/{port}", check=False)
        time.sleep(0.2)
        if all(probe_seen(f, port) for f in files):
            return
    raise AssertionError(f"the captures did not show the probe to port {port} in {timeout_s} s")


@pytest.mark.capture
def test_clock_offset_and_server_time_from_two_namespaces(two_hosts, tmp_path):
    cns, sns, cif, sif = two_hosts
    caps = {"client": str(tmp_path / "client.pcapng"), "server": str(tmp_path / "server.pcapng")}
    procs = Processes()
    try:
        server = procs.start("ip", "netns", "exec", sns, sys.executable, HOSTS, "serve",
                             SERVER_IP, str(HTTP_PORT), str(GRPC_PORT), str(SLEEP_MS / 1000))
        assert server.stdout.readline().strip() == "ready", server.stderr.read()
        for ns, dev, side in ((cns, cif, "client"), (sns, sif, "server")):
            procs.start("ip", "netns", "exec", ns, "dumpcap", "-q", "-i", dev, "-f", "tcp",
                        "-w", caps[side])
        barrier(cns, list(caps.values()), START_PROBE)
        out = run("ip", "netns", "exec", cns, sys.executable, HOSTS, "client", SERVER_IP,
                  str(HTTP_PORT), str(GRPC_PORT), str(N))
        ids = json.loads(out.stdout)
        barrier(cns, list(caps.values()), STOP_PROBE)
    finally:
        procs.stop_all()

    shifted = str(tmp_path / "server_shifted.pcapng")
    run("editcap", "-t", str(SHIFT_NS / 1e9), caps["server"], shifted)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", inferwire.InferwireWarning)
        result = analyze_two(caps["client"], shifted)

    print(result.summary_text())
    est = result.offset
    assert est.consistent, est.describe()
    # the true offset is exactly the shift (one kernel clock); 2 us for the files' us resolution
    assert abs(est.offset_ns - SHIFT_NS) <= est.uncertainty_ns + 2_000, est.describe()
    assert est.uncertainty_ns < 2_000_000, est.describe()
    assert est.to_server_segments >= 2 * N and est.to_client_segments >= 2 * N

    r = result.requests
    assert sorted(r["request_id"]) == sorted(ids)
    assert (r["seen_at"] == "both").all() and (r["matched_by"] == "request_id").all()
    assert set(r["protocol"]) == {"http/1.1", "grpc"} and r["complete"].all()
    # the server's own time is the sleep (plus a little handling), the client waits longer
    assert (r["server_own_ms"] >= SLEEP_MS - 0.002).all(), r["server_own_ms"].tolist()
    assert r["server_own_ms"].median() < SLEEP_MS + 10, r["server_own_ms"].tolist()
    assert (r["c_wait_ms"] >= r["server_own_ms"]).all()
    np.testing.assert_allclose(r["network_ms"], r["c_wait_ms"] - r["server_own_ms"], atol=1e-6)
    u_ms = est.uncertainty_ns / 1e6 + 0.002
    for col in ("request_network_ms", "response_network_ms"):   # no delay in this network
        # every one under the server's sleep (a loaded host's softirqs can hold a packet some ms
        # between the veths; the server's own time counted as network would pass the sleep),
        # most under 5 ms
        assert (r[col] >= -u_ms).all() and (r[col] < SLEEP_MS).all(), r[col].tolist()
        assert r[col].median() < 5, r[col].tolist()
    # on the client clock the server got the request after the client sent it
    assert (r["s_request_end"] >= r["c_request_end"] - u_ms / 1e3).all()
