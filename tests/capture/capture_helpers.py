"""Shared helpers of the capture tests: real sockets, a real pcap reader (dpkt), skip rules."""
from __future__ import annotations

import os
import socket

import dpkt
from needs import need_tool, skip_or_fail


def require_tool(tool: str) -> str:
    """The tool's path; skip (fail under CI=true) if it is missing or we may not capture."""
    path = need_tool(tool)
    if os.geteuid() != 0:
        skip_or_fail("capture tests need root (they open lo with a real capture tool)")
    return path


class EchoServer:
    """A TCP server on 127.0.0.1 that answers each connection's first message with it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]

    def exchange(self, payload: bytes) -> bytes:
        """One new connection: send ``payload``, read it back, close both ends."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as c:
            s, _ = self.sock.accept()
            with s:
                c.sendall(payload)
                got = s.recv(65536)
                s.sendall(got)
                return c.recv(65536)

    def close(self):
        self.sock.close()


def tcp_packets(path: str) -> list[tuple[int, int, bytes, int]]:
    """(sport, dport, payload, tcp flags) of every TCP packet in a pcap or pcapng file (dpkt)."""
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0)
        reader = dpkt.pcapng.Reader(f) if head == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader(f)
        datalink = reader.datalink()
        out = []
        for _, buf in reader:
            if datalink == dpkt.pcap.DLT_EN10MB:
                ip = dpkt.ethernet.Ethernet(buf).data
            elif datalink == dpkt.pcap.DLT_LINUX_SLL:
                ip = dpkt.sll.SLL(buf).data
            else:
                ip = dpkt.ip.IP(buf)
            tcp = getattr(ip, "data", None)
            if isinstance(tcp, dpkt.tcp.TCP):
                out.append((tcp.sport, tcp.dport, bytes(tcp.data), tcp.flags))
    return out


def payloads(path: str) -> list[bytes]:
    return [p for _, _, p, _ in tcp_packets(path) if p]


def remote_capture_of_two(ssh, out, first: bytes, last: bytes):
    """Capture an echo exchange of ``first`` then ``last`` over ``ssh`` with RemoteCapture into
    ``out``; check that both were captured, the capture drained cleanly, and the file is 0600.
    Returns the capture's result."""
    import stat

    from inferwire.capture import RemoteCapture, RemoteOptions
    require_tool("tcpdump")
    echo = EchoServer()
    opts = RemoteOptions(host="127.0.0.1", output=str(out), interface="lo", ports=(echo.port,),
                         ssh=ssh, clock_samples=3)
    try:
        with RemoteCapture(opts) as cap:
            echo.exchange(first)
            echo.exchange(last)
    finally:
        echo.close()
    r = cap.result
    got = payloads(str(out))
    assert first in got and last in got
    assert r.drained and r.exit_code == 0 and r.dropped == 0 and r.packets > 0
    assert r.remote_host == "127.0.0.1" and r.tool_version.startswith("tcpdump version")
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    return r
