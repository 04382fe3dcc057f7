"""A large, valid HTTP/1.1 capture built fast (struct, no scapy), for tests that need an
analysis to last long enough to be interrupted or have its file changed under it."""
from __future__ import annotations

import struct

REQUEST = (b"POST /v1/models/mnist:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
           b"\r\nContent-Length: 2\r\n\r\n{}")
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


def _frame(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int,
           payload: bytes = b"") -> bytes:
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 1, 0, 64, 6, 0, src, dst)
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp + payload


def connection_frames(k: int) -> list[bytes]:
    """The 6 frames of connection ``k``: handshake, one request, its response, the final ACK."""
    cli, srv = struct.pack(">I", 0x0A010001 + (k >> 15)), bytes([10, 0, 0, 2])
    sport, dport = 1024 + (k & 0x7FFF), 8501
    c, s = 1000, 5000
    return [_frame(cli, srv, sport, dport, c, 0, 0x02),
            _frame(srv, cli, dport, sport, s, c + 1, 0x12),
            _frame(cli, srv, sport, dport, c + 1, s + 1, 0x10),
            _frame(cli, srv, sport, dport, c + 1, s + 1, 0x18, REQUEST),
            _frame(srv, cli, dport, sport, s + 1, c + 1 + len(REQUEST), 0x18, RESPONSE),
            _frame(cli, srv, sport, dport, c + 1 + len(REQUEST), s + 1 + len(RESPONSE), 0x10)]


def write_big_pcap(path, connections: int) -> int:
    """A nanosecond pcap of ``connections`` one-request connections, 1 ms apart; its size."""
    t0 = 1_700_000_000_000_000_000
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
        for k in range(connections):
            for i, frame in enumerate(connection_frames(k)):
                t = t0 + k * 1_000_000 + i * 10_000
                f.write(struct.pack("<IIII", t // 10**9, t % 10**9, len(frame), len(frame)))
                f.write(frame)
        return f.tell()
