"""Crafting TCP conversations with scapy at exact nanosecond timestamps: ground truth for the analyzer.

    conv = Conversation(t0_ns=T0)
    conv.handshake(0, 100_000, 150_000)          # SYN, SYN-ACK, ACK at T0 + these ns
    conv.client(1_000_000, b"GET / HTTP/1.1...")  # client -> server payload at T0 + 1 ms
    conv.server(3_000_000, b"HTTP/1.1 200 OK...")
    write_pcap(path, conv.packets)

Each call returns the scapy packet, so a test can reorder, drop or duplicate packets freely.
"""
from __future__ import annotations

from decimal import Decimal

from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import PcapWriter

T0_NS = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z


def ts(ns: int) -> Decimal:
    """A scapy packet time (Decimal seconds) that is exact to the nanosecond."""
    return Decimal(ns) / Decimal(1_000_000_000)


class Conversation:
    """One TCP connection between a client and a server, built packet by packet."""

    def __init__(self, client=("10.0.0.1", 40000), server=("10.0.0.2", 8501), *,
                 t0_ns: int = T0_NS, isn_client: int = 1000, isn_server: int = 5000, ipv6=False):
        self.c, self.s = client, server
        self.t0 = t0_ns
        self.ipv6 = ipv6
        self.isn_c, self.isn_s = isn_client, isn_server
        self.seq_c, self.seq_s = isn_client + 1, isn_server + 1  # next byte each side sends
        self.packets = []

    def _pkt(self, from_client: bool, at_ns: int, flags: str, seq: int, ack: int, data=b"", *,
             window: int = 65535, options=()):
        src, dst = (self.c, self.s) if from_client else (self.s, self.c)
        ip = (IPv6(src=src[0], dst=dst[0]) if self.ipv6 else IP(src=src[0], dst=dst[0]))
        p = Ether() / ip / TCP(sport=src[1], dport=dst[1], flags=flags,
                              seq=seq & 0xFFFFFFFF, ack=ack & 0xFFFFFFFF, window=window,
                              options=list(options))
        if data:
            p = p / Raw(data)
        p.time = ts(self.t0 + at_ns)
        self.packets.append(p)
        return p

    def handshake(self, syn_ns: int, synack_ns: int, ack_ns: int, *, syn_options=(),
                  synack_options=()):
        """SYN, SYN-ACK, ACK; ``*_options``: scapy TCP options, e.g. ``[("MSS", 1460),
        ("SAckOK", b""), ("WScale", 7)]``."""
        self._pkt(True, syn_ns, "S", self.isn_c, 0, options=syn_options)
        self._pkt(False, synack_ns, "SA", self.isn_s, self.isn_c + 1, options=synack_options)
        return self._pkt(True, ack_ns, "A", self.seq_c, self.seq_s)

    def client(self, at_ns: int, data: bytes, *, seq: int | None = None, flags="PA",
               ack: int | None = None, **kw):
        """Client -> server payload; ``seq`` overrides (for retransmissions), else the next;
        ``ack`` overrides the acknowledgement (default: all the server's bytes so far);
        ``window``, ``options``: the TCP header's."""
        s = self.seq_c if seq is None else seq
        p = self._pkt(True, at_ns, flags, s, self.seq_s if ack is None else ack, data, **kw)
        if seq is None:
            self.seq_c += len(data)
        return p

    def server(self, at_ns: int, data: bytes, *, seq: int | None = None, flags="PA",
               ack: int | None = None, **kw):
        s = self.seq_s if seq is None else seq
        p = self._pkt(False, at_ns, flags, s, self.seq_c if ack is None else ack, data, **kw)
        if seq is None:
            self.seq_s += len(data)
        return p

    def ack_from_client(self, at_ns: int, *, ack: int | None = None, **kw):
        """A pure ACK; ``ack`` (default: every server byte so far), ``window``, ``options``."""
        return self._pkt(True, at_ns, "A", self.seq_c, self.seq_s if ack is None else ack, **kw)

    def ack_from_server(self, at_ns: int, *, ack: int | None = None, **kw):
        """A pure ACK from the server (see :meth:`ack_from_client`)."""
        return self._pkt(False, at_ns, "A", self.seq_s, self.seq_c if ack is None else ack, **kw)

    def fin_from_client(self, at_ns: int):
        p = self._pkt(True, at_ns, "FA", self.seq_c, self.seq_s)
        self.seq_c += 1
        return p

    def fin_from_server(self, at_ns: int):
        p = self._pkt(False, at_ns, "FA", self.seq_s, self.seq_c)
        self.seq_s += 1
        return p

    def rst_from_client(self, at_ns: int):
        return self._pkt(True, at_ns, "R", self.seq_c, 0)


def write_pcap(path, packets, *, nano: bool = True) -> str:
    """Write ``packets`` (in list order, not time order) as a classic pcap with ns timestamps."""
    with PcapWriter(str(path), nano=nano, sync=True) as w:
        for p in packets:
            w.write(p)
    return str(path)


def http_request(path="/v1/models/mnist:predict", body=b"{}", request_id="r1", extra=b"") -> bytes:
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + b"x-request-id: " + request_id.encode() + b"\r\n" + extra
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def http_response(body=b'{"predictions": []}', status=b"200 OK", extra=b"") -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n" + extra
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def fuzzed_chunked(rng, payload: bytes, sizes=(1, 3, 8, 20, 40, 64, 300)) -> bytes:
    """``payload`` as an HTTP/1.1 chunked body (RFC 9112 section 7.1) for fuzzing the chunk
    walks: chunks of random ``sizes`` and framing (hex case and width, extensions, LF or CRLF
    after the size line and after the data), then one of the last chunks (with trailers, an
    extension, LF line ends) or none; a quarter cut anywhere, one in seven broken at one byte.
    ``rng``: a ``random.Random``."""
    parts, at = [], 0
    while at < len(payload):
        data = payload[at:at + rng.choice(sizes)]
        at += len(data)
        size = rng.choice(["%x", "%X", "%04x"]) % len(data)
        parts.append(size.encode() + rng.choice([b"", b"", b";name=v", b" ", b"\t;x",
                                                 b" ;a=\"b\""])
                     + rng.choice([b"\r\n", b"\n"]) + data + rng.choice([b"\r\n", b"\r\n", b"\n"]))
    parts.append(rng.choice([b"0\r\n\r\n", b"0\r\n\r\n", b"0\n\n", b"0;e\r\n\r\n", b"00\r\n\r\n",
                             b"0\r\nx-t: 1\r\n\r\n", b""]))
    body = b"".join(parts)
    if body and rng.random() < 0.25:
        body = body[:rng.randint(0, len(body))]
    if body and rng.random() < 0.15:
        k = rng.randrange(len(body))
        body = body[:k] + bytes([rng.choice(b"g;\r\n 0")]) + body[k + 1:]
    return body
