"""The liveness probe: prove a capture is writing packets before load starts, and after it ends.

dumpcap prints "Capturing on ..." before it sees any packet, and every tool here hands packets to
its file in bursts (libpcap's TPACKET_V3 blocks retire after a timeout; measured here: the first
0.3 to 1.2 s of traffic missing), so neither that message nor a live process says the capture is
live.  Instead, TCP connections are opened to a dedicated *probe port* that the capture filter
includes, until one of them is read back from the capture file.  Once a probe sent at time t is in
the file, everything sent after t is captured too (barring counted drops).

The same barrier runs at stop: packets still in the kernel's ring when the tool gets SIGINT are
lost (measured here: all of a 50-connection burst sent just before SIGINT, with every tool), so
stop first waits until a probe sent after the last request is in the file.

Probe traffic is identifiable afterwards: it is every TCP packet to or from the probe port.
"""
from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Callable, Iterable


class Probe:
    """Sends probe connections to ``host:port`` and remembers their source ports.

    With ``listen=True`` (local captures) the probe port is a listening socket bound by this
    object, so no other program can use it during the session; ``port=None`` picks a free one.
    With ``listen=False`` (remote captures) each probe is a bare SYN to a port nobody needs to
    listen on: the capture sees the SYN whatever the answer.
    """

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, listen: bool = True):
        info = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM)[0]
        self.family, self.address = info[0], info[4][0]
        self._listener = None
        if listen:
            self._listener = socket.socket(self.family, socket.SOCK_STREAM)
            self._listener.bind((self.address, port or 0))
            self._listener.listen(64)
            self._listener.setblocking(False)
            port = self._listener.getsockname()[1]
        if not port:
            raise ValueError("a probe without a listener needs an explicit port")
        self.port = port
        self.sent = 0

    def send(self) -> int:
        """Start one probe connection (its SYN leaves at once); returns its source port."""
        s = socket.socket(self.family, socket.SOCK_STREAM)
        try:
            s.setblocking(False)
            s.connect_ex((self.address, self.port))
            source = s.getsockname()[1]
            # Abortive close (RST): probes leave no TIME_WAIT sockets behind.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        finally:
            s.close()
        self._drain_listener()
        self.sent += 1
        return source

    def _drain_listener(self) -> None:
        while self._listener is not None:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    def close(self) -> None:
        if self._listener is not None:
            self._drain_listener()
            self._listener.close()
            self._listener = None


def syn_found(data: bytes, source_port: int, probe_port: int) -> bool:
    """Whether ``data`` holds the TCP header of a packet from ``source_port`` to ``probe_port``.

    Searched as bytes (format-agnostic: pcap, pcapng, any link type), and each hit is confirmed
    by the IP header in front of it (IPv4 without options, or IPv6, next protocol TCP), which makes
    a false match in payload bytes vanishingly unlikely.
    """
    needle = struct.pack("!HH", source_port, probe_port)
    pos = data.find(needle)
    while pos >= 0:
        if pos >= 20 and data[pos - 20] == 0x45 and data[pos - 11] == 6:
            return True
        if pos >= 40 and data[pos - 40] >> 4 == 6 and data[pos - 34] == 6:
            return True
        pos = data.find(needle, pos + 1)
    return False


class FileTail:
    """The bytes appended to a capture's files since a mark (follows ring-buffer files).

    Only new bytes are read, so a barrier at the end of a long capture costs what was written
    during the barrier, not the whole file.
    """

    OVERLAP = 64    # bytes re-read before the mark: a TCP/IP header may straddle it

    def __init__(self, list_files: Callable[[], Iterable[str]]):
        self._list_files = list_files
        self._offsets: dict[str, int] = {}

    def mark(self) -> None:
        """From now on, :meth:`read_new` returns only bytes written after this call."""
        for path in self._list_files():
            try:
                self._offsets[path] = os.path.getsize(path)
            except OSError:
                pass

    def read_new(self) -> bytes:
        """Bytes written since the previous read or mark, each file with a small overlap."""
        chunks = []
        for path in self._list_files():
            start = self._offsets.get(path, 0)
            try:
                with open(path, "rb") as f:
                    f.seek(max(0, start - self.OVERLAP))
                    chunk = f.read()
            except OSError:
                continue                    # not created yet, or rotated away by the ring
            self._offsets[path] = max(0, start - self.OVERLAP) + len(chunk)
            chunks.append(chunk)
        return b"".join(chunks)


def await_probe(probe: Probe, tail: FileTail, *, timeout_s: float, interval_s: float = 0.05,
                alive: Callable[[], bool] = lambda: True) -> str:
    """Send probes until one sent by this call is read back from the capture file.

    Call ``tail.mark()`` first.  Returns "seen", "timeout" (not seen within ``timeout_s``
    seconds) or "exited" (``alive()`` turned False).
    """
    deadline = time.monotonic() + timeout_s
    sources: list[int] = []
    while True:
        if not alive():
            return "exited"
        sources.append(probe.send())
        data = tail.read_new()
        if data and any(syn_found(data, s, probe.port) for s in sources):
            return "seen"
        if time.monotonic() >= deadline:
            return "timeout"
        time.sleep(interval_s)
