"""Cross-check on real loopback traffic: captures by dumpcap (pcapng, Ethernet on lo + Linux
cooked v2 on "any", IPv4 and IPv6) and tcpdump (pcap, ns time stamps, small snaplen), compared
column by column with what tshark reads from the same files."""
from __future__ import annotations

import functools
import http.server
import os
import selectors
import signal
import socket
import subprocess
import threading
import time
import urllib.request
import warnings

import numpy as np
import pytest

from needs import skip_or_fail

from inferwire.packets import read_packets

from .conftest import need_tool

pytestmark = [pytest.mark.tshark, pytest.mark.capture]

FIELDS = ["frame.number", "frame.time_epoch", "frame.interface_id", "frame.cap_len", "ip.src",
          "ipv6.src", "ip.dst", "ipv6.dst", "tcp.srcport", "tcp.dstport", "tcp.seq_raw",
          "tcp.ack_raw", "tcp.len", "tcp.flags", "tcp.window_size_value", "ip.id", "ip.hdr_len",
          "tcp.hdr_len", "tcp.payload"]
SNAPLEN = 120


class _Server6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _serve(cls, host: str, root) -> http.server.HTTPServer:
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = cls((host, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass



def _wait_ready(proc: subprocess.Popen, marker: bytes, timeout: float = 15.0) -> None:
    """Wait until the capture tool says it is capturing (its stderr shows ``marker``)."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stderr, selectors.EVENT_READ)
    seen, deadline = b"", time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        if sel.select(timeout=0.2):
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    if marker not in seen:
        proc.kill()
        skip_or_fail(f"capture did not start: {seen.decode(errors='replace')[-300:]}")


def _until_both_interfaces_seen(path, url, timeout_s=20.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url, timeout=10) as r:
            r.read()
        time.sleep(0.2)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with read_packets(path) as table:    # a cut tail is fine here: warnings off
                    if set(np.unique(table.iface).tolist()) == {0, 1}:
                        return
        except Exception:  # the file is still being started: no header yet
            pass
    raise AssertionError(f"dumpcap never showed packets on both interfaces in {path}")


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    """Capture a few HTTP exchanges over 127.0.0.1 and ::1; return the capture file paths."""
    dumpcap, tcpdump = need_tool("dumpcap"), need_tool("tcpdump")
    need_tool("tshark")
    root = tmp_path_factory.mktemp("real")
    (root / "small.txt").write_bytes(b"hello inferwire\n" * 4)
    (root / "big.bin").write_bytes(bytes(range(256)) * 800)          # 204800 bytes
    servers = [_serve(http.server.ThreadingHTTPServer, "127.0.0.1", root),
               _serve(_Server6, "::1", root)]
    ports = [s.server_address[1] for s in servers]
    filt = " or ".join(f"tcp port {p}" for p in ports)
    two, cut = root / "two.pcapng", root / "cut.pcap"
    procs = [subprocess.Popen([dumpcap, "-i", "lo", "-f", filt, "-i", "any", "-y", "LINUX_SLL2",
                               "-f", filt, "-w", str(two)], stderr=subprocess.PIPE),
             # --immediate-mode: without it packets still in the kernel's ring block are lost
             # when tcpdump is stopped
             subprocess.Popen([tcpdump, "-i", "lo", "-s", str(SNAPLEN), "-U", "--immediate-mode",
                               "--time-stamp-precision=nano", "-w", str(cut), filt],
                              stderr=subprocess.PIPE)]
    try:
        _wait_ready(procs[0], b"Capturing on")
        _wait_ready(procs[1], b"listening on")
        # "Capturing on" is not proof: dumpcap may not see packets yet on both interfaces.
        # Warm-up requests until the file holds packets from both (they are part of the capture
        # that the tests compare with tshark, so they change nothing the tests assert).
        _until_both_interfaces_seen(two, f"http://127.0.0.1:{ports[0]}/small.txt")
        for host, port in (("127.0.0.1", ports[0]), ("[::1]", ports[1])):
            for name in ("small.txt", "big.bin", "small.txt"):
                with urllib.request.urlopen(f"http://{host}:{port}/{name}", timeout=10) as r:
                    r.read()
        time.sleep(0.5)                    # let the capture tools see the last packets
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=15)
        for server in servers:
            server.shutdown()
    return {"two": two, "cut": cut}


def tshark_rows(path) -> list[dict]:
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "tcp", "-T", "fields",
                          "-E", "occurrence=f", *sum((["-e", f] for f in FIELDS), [])],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    return [dict(zip(FIELDS, line.split("\t"))) for line in out.splitlines()]


def expected(r: dict, link_len: int) -> tuple:
    """One tshark row as the tuple our columns should give."""
    sec, _, frac = r["frame.time_epoch"].partition(".")
    v6 = r["ipv6.src"] != ""
    ip_hdr = 40 if v6 else int(r["ip.hdr_len"])
    captured = max(0, min(int(r["tcp.len"]),
                          int(r["frame.cap_len"]) - link_len - ip_hdr - int(r["tcp.hdr_len"])))
    return (int(r["frame.number"]), int(sec) * 10**9 + int(frac.ljust(9, "0")),
            int(r["frame.interface_id"] or 0), 6 if v6 else 4,
            r["ipv6.src"] or r["ip.src"], r["ipv6.dst"] or r["ip.dst"],
            int(r["tcp.srcport"]), int(r["tcp.dstport"]), int(r["tcp.seq_raw"]),
            int(r["tcp.ack_raw"]), int(r["tcp.len"]), int(r["tcp.flags"], 16),
            int(r["tcp.window_size_value"]), -1 if v6 else int(r["ip.id"], 16), captured)


def ours(table, i: int) -> tuple:
    return (int(table.frame[i]), int(table.ts_ns[i]), int(table.iface[i]),
            int(table.ip_version[i]), table.address(table.src_hi[i], table.src_lo[i]),
            table.address(table.dst_hi[i], table.dst_lo[i]), int(table.sport[i]),
            int(table.dport[i]), int(table.seq[i]), int(table.ack[i]), int(table.payload_len[i]),
            int(table.flags[i]), int(table.window[i]), int(table.ip_id[i]),
            int(table.captured_len[i]))


def read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # real captures read without any warning
        return read_packets(path)


def test_dumpcap_two_interfaces_match_tshark(captures):
    rows = tshark_rows(captures["two"])
    with read(captures["two"]) as table:
        link = {0: 14, 1: 20}                   # lo: Ethernet; any: Linux cooked v2
        assert [ours(table, i) for i in range(len(table))] == \
            [expected(r, link[int(r["frame.interface_id"])]) for r in rows]
        assert [bytes(table.payload(i)).hex() for i in range(len(table))] == \
            [r["tcp.payload"].replace(":", "") for r in rows]
        s = table.stats
        assert [(i["name"], i["linktype"]) for i in s.interfaces] == [("lo", 1), ("any", 276)]
        assert set(np.unique(table.iface)) == {0, 1} and set(np.unique(table.ip_version)) == {4, 6}
        assert s.packets == s.tcp_packets == len(rows) > 40 and s.truncated == 0
        assert sorted(s.drops) == [0, 1] and isinstance(s.drops[0]["ifdrop"], int)
        assert table.payload_len.max() > 16000   # the big response went in large segments


def test_tcpdump_nanosecond_snaplen_pcap_matches_tshark(captures):
    rows = tshark_rows(captures["cut"])
    with read(captures["cut"]) as table:
        assert table.stats.file_format == "pcap"
        assert table.stats.interfaces[0]["tsresol"] == 10**9
        assert table.stats.interfaces[0]["snaplen"] == SNAPLEN
        assert [ours(table, i) for i in range(len(table))] == [expected(r, 14) for r in rows]
        assert len(table) > 40
        truncated = int(np.count_nonzero(table.captured_len < table.payload_len))
        assert table.stats.truncated == truncated > 0
