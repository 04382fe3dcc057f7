"""Crafted captures of one conversation seen from two vantage points with known clocks and delays.

Every packet is sent at a true time; the client capture stamps it when the client host sends or
receives it, the server capture when the server host does, plus the server clock's offset.
"""
from __future__ import annotations

from craft import Conversation, http_request, http_response, write_pcap

MS = 1_000_000


class TwoPoints:
    """One keep-alive HTTP/1.1 connection: request i leaves the client at (i + 1) * 30 ms,
    reaches the server ``cs_ns`` later, the server answers ``server_ns`` later, and the answer
    reaches the client ``sc_ns`` after that.  The server clock reads true time + ``offset_ns``."""

    def __init__(self, *, offset_ns, cs_ns=300_000, sc_ns=100_000, server_ns=20 * MS, n=3,
                 ids=True, client=("10.0.0.1", 40000), server=("10.0.0.2", 8501)):
        self.offset_ns, self.cs, self.sc, self.server_ns = offset_ns, cs_ns, sc_ns, server_ns
        self.conv = Conversation(client=client, server=server)
        self.from_client = []
        self._handshake()
        for i in range(n):
            self.request(i, ids)

    def _send(self, from_client, fn, *args, **kwargs):
        p = fn(*args, **kwargs)
        self.from_client.append(from_client)
        return p

    def _handshake(self):
        c = self.conv
        self._send(True, c._pkt, True, 1 * MS, "S", c.isn_c, 0)
        self._send(False, c._pkt, False, 1 * MS + self.cs, "SA", c.isn_s, c.isn_c + 1)
        self._send(True, c._pkt, True, 1 * MS + self.cs + self.sc, "A", c.seq_c, c.seq_s)

    def request(self, i, ids=True):
        t = (i + 1) * 30 * MS
        req = http_request(request_id=f"r{i}")
        if not ids:
            req = req.replace(f"x-request-id: r{i}\r\n".encode(), b"")
        self._send(True, self.conv.client, t, req)
        self._send(False, self.conv.server, t + self.cs + self.server_ns, http_response())
        self._send(True, self.conv.ack_from_client, t + self.cs + self.server_ns + self.sc)

    def captures(self, tmp_path, *, server_extra=(), drop_server=()):
        """(client file, server file): packets stamped at each host (see the class)."""
        client, server = [], []
        for k, (p, up) in enumerate(zip(self.conv.packets, self.from_client)):
            sent = int(p.time * 10**9)
            c, s = p.copy(), p.copy()
            c.time = _ts(sent if up else sent + self.sc)
            s.time = _ts((sent + self.cs if up else sent) + self.offset_ns)
            client.append(c)
            if k not in drop_server:
                server.append(s)
        server += list(server_extra)
        return (write_pcap(tmp_path / "client.pcap", client),
                write_pcap(tmp_path / "server.pcap", sorted(server, key=lambda q: q.time)))


def _ts(ns):
    from craft import ts
    return ts(ns)
