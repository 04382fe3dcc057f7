"""Shared helpers of the capture tests: real sockets, a real pcap reader (dpkt), skip rules."""
from __future__ import annotations

import os
import shutil
import socket

import dpkt
import pytest


def require_tool(tool: str) -> str:
    """The tool's path; skip (fail under CI=true) if it is missing or we may not capture."""
    path = shutil.which(tool)
    reason = None
    if path is None:
        reason = f"{tool} is not installed"
    elif os.geteuid() != 0:
        reason = "capture tests need root (they open lo with a real capture tool)"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
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
