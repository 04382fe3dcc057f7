"""TCP connections from a :class:`~inferwire.packets.PacketTable`.

Packets are grouped by their 4-tuple, split into separate connections when a new SYN reuses the
4-tuple, and each connection's two directions are reassembled into
:class:`~inferwire.tcp.stream.DirectionStream` objects.  Which side is the client: the sender of
the SYN; without a SYN, the caller may decide later from the bytes (see :meth:`Connection.swap`).

Everything per packet is vectorised over the whole table (:mod:`inferwire.tcp.grouping`); the
only Python loop is one short step per connection, plus :meth:`DirectionStream.add` for the rare
directions whose segments overlap or arrive out of order (retransmissions, reordering).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import numpy as np

from .gcpause import paused_gc
from . import netstats
from .grouping import Directions, PacketGroups, connection_facts, directions
from .stream import DirectionStream

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


@dataclass
class Endpoint:
    """One side of a connection: textual address and port."""

    address: str
    port: int

    def __str__(self) -> str:
        return host_prefix(self.address) + str(self.port)


def host_prefix(address: str) -> str:
    """What comes before the port in an endpoint's text: ``"[address]:"`` for IPv6,
    ``"address:"`` else."""
    return f"[{address}]:" if ":" in address else f"{address}:"


@dataclass
class Connection:
    """One TCP connection: endpoints, handshake times (ns) and both reassembled directions.

    Times are ns since the epoch, None where unknown: no such packet, or none of those packets
    has a time stamp (``first_ns``/``last_ns``: the earliest/latest *known* packet time).
    """

    index: int
    client: Endpoint
    server: Endpoint
    to_server: DirectionStream
    to_client: DirectionStream
    syn_ns: int | None = None            # first SYN from the client
    synack_ns: int | None = None         # first SYN-ACK from the server
    #: SYN to SYN-ACK and SYN-ACK to the client's ACK: the round trips between the capture
    #: point and the server, and the client (ns; None: unknown), of the packets that answered
    #: each other, not a first one lost and repeated a second later
    #: (:func:`~inferwire.tcp.grouping.handshake_round_trips`)
    rtt_server_ns: int | None = None
    rtt_client_ns: int | None = None
    handshake_ack_ns: int | None = None  # the client's ACK completing the handshake
    first_ns: int | None = None
    last_ns: int | None = None
    packets: int = 0
    syn_seen: bool = False
    roles_inferred: bool = False         # no SYN: client/server chosen from the bytes or ports
    end: str = "open"                    # "fin" | "rst" | "open" (still open at end of capture)
    fin_ns: int | None = None
    rst_ns: int | None = None
    warnings: list = field(default_factory=list)
    syn_untimed: bool = False            # the first SYN has no time stamp: no handshake time
    #: TCP's own numbers (:mod:`inferwire.tcp.netstats`), :data:`NET_FIELDS` in order (None:
    #: not known); read by name with :meth:`net_value`.
    net: tuple = ()
    swapped: bool = False                # roles exchanged by swap() after building
    #: (groups, facts, directions, k) this connection was built from, for what is looked up
    #: only when asked (:meth:`stalls`, :meth:`rtt_samples`).
    source: tuple | None = None

    def net_value(self, name: str):
        """One of :data:`NET_FIELDS` by name (None: not known or not built by
        :func:`build_connections`)."""
        return self.net[NET_FIELDS.index(name)] if self.net else None

    def stalls(self) -> tuple[list, list]:
        """Zero-window stalls ``(from, to)`` ns of the client's sending (the server's window
        was 0) and of the server's."""
        if not self.net or not self.net[NET_FIELDS.index("zero_windows")] or self.source is None:
            return [], []
        g, facts, _, k = self.source
        return netstats.zero_window_stalls(g, facts["up"], k)

    def rtt_samples(self, to_server: bool) -> tuple[list, list]:
        """ACK round trip samples of the client's (``to_server``) or the server's data: data
        capture times and round trips between the capture point and the receiver, ns."""
        if self.source is None:
            return [], []
        _, _, dirs, k = self.source
        d = 2 * k + (0 if to_server != self.swapped else 1)
        return dirs.rtt_samples(d)

    def rtt_directions(self) -> tuple[int, int] | None:
        """The directions' numbers of the client's and the server's data in the
        :class:`~inferwire.tcp.grouping.Directions` it was built from (``source[2]``)."""
        if self.source is None:
            return None
        k = self.source[3]
        return (2 * k + 1, 2 * k) if self.swapped else (2 * k, 2 * k + 1)

    def both_rtt_samples(self) -> tuple:
        """``(rtt_samples(True), rtt_samples(False))`` in one call."""
        if self.source is None:
            return ([], []), ([], [])
        _, _, dirs, k = self.source
        up, down = (2 * k + 1, 2 * k) if self.swapped else (2 * k, 2 * k + 1)
        b, t, r = dirs.rtt_bounds, dirs.rtt_t, dirs.rtt_ns
        return ((t[b[up]:b[up + 1]], r[b[up]:b[up + 1]]),
                (t[b[down]:b[down + 1]], r[b[down]:b[down + 1]]))

    def swap(self) -> None:
        """Exchange the client and server roles (used when no SYN told them apart)."""
        self.client, self.server = self.server, self.client
        self.to_server, self.to_client = self.to_client, self.to_server
        self.swapped = not self.swapped

    @property
    def tcp_handshake_ns(self) -> int | None:
        """ns from the client's first SYN to the ACK completing the handshake; None if either
        is missing or has no time stamp."""
        if self.syn_ns is None or self.handshake_ack_ns is None or self.syn_untimed:
            return None
        return self.handshake_ack_ns - self.syn_ns


def format_address(hi: int, lo: int) -> str:
    """Text form of a 128-bit address stored as two uint64 halves (IPv4 as IPv4-mapped)."""
    hi, lo = int(hi), int(lo)
    if hi == 0 and (lo >> 32) == 0xFFFF:
        return str(ipaddress.IPv4Address(lo & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address((hi << 64) | lo))


def group_rows(table) -> list:
    """Row indices of each 4-tuple, in first-appearance order; rows within a group in file order."""
    return PacketGroups(table).tuple_rows()


def build_connections(table, groups: PacketGroups | None = None,
                      vantage: str = "auto") -> list[Connection]:
    """All TCP connections of ``table``, ordered by their first packet (ties: file order).
    ``groups``: ``PacketGroups(table)`` if the caller has made it already; ``vantage``: where
    the capture was taken ("auto": from each handshake; see :func:`grouping.guards`)."""
    found = ConnectionSet(table, groups, vantage)
    with paused_gc():
        return [found.connection(i) for i in range(len(found))]


class ConnectionSet:
    """The TCP connections of ``table`` as columns (:func:`connection_facts`,
    :class:`Directions`, :data:`NET_FIELDS` rows), each :class:`Connection` object built only
    when asked for (:meth:`connection`): a caller that reads some connections straight from
    the columns (:mod:`inferwire.exchanges.plainbatch`) builds no object for them.  Connection
    ``index`` (0.., :func:`build_connections`' order) is connection ``order[index]`` of the
    columns (their grouping order)."""

    def __init__(self, table, groups: PacketGroups | None = None, vantage: str = "auto"):
        self.table, self._addresses, self._endpoints = table, {}, {}
        if len(table) == 0:
            self.groups = self.facts = self.dirs = None
            self.order, self.net = [], []
            return
        self.groups = groups if groups is not None else PacketGroups(table)
        self.facts = connection_facts(self.groups)
        self.dirs = directions(self.groups, self.facts, vantage)
        self.net = _net_rows(self.groups, self.facts, self.dirs)
        self.order = self.facts["order"].tolist()

    def __len__(self) -> int:
        return len(self.order)

    def connection(self, index: int) -> Connection:
        """The Connection numbered ``index``."""
        k = self.order[index]
        c = _connection(index, k, self.facts, self.dirs, self.table, self._addresses)
        c.net, c.source = self.net[k], (self.groups, self.facts, self.dirs, k)
        return c

    def endpoints(self, k: int) -> tuple[str, str]:
        """``(str(client), str(server))`` of the connection numbered ``k`` in the columns."""
        f = self.facts["lists"]
        return (self._endpoint(f["client_hi"][k], f["client_lo"][k], f["client_port"][k]),
                self._endpoint(f["server_hi"][k], f["server_lo"][k], f["server_port"][k]))

    def endpoint_texts(self, ks: np.ndarray) -> tuple[list[str], list[str]]:
        """:meth:`endpoints` of the connections numbered ``ks`` in the columns: a list of the
        clients' texts and one of the servers'."""
        f = self.facts
        return tuple(self._texts(f[f"{side}_hi"][ks], f[f"{side}_lo"][ks],
                                 f[f"{side}_port"][ks]) for side in ("client", "server"))

    def _texts(self, hi: np.ndarray, lo: np.ndarray, port: np.ndarray) -> list[str]:
        """``str(Endpoint(...))`` of each (``hi``, ``lo``, ``port``): each distinct address
        formatted once."""
        n = len(hi)
        order = np.lexsort((lo, hi))
        h, l = hi[order], lo[order]
        new = np.ones(n, dtype=bool)
        new[1:] = (h[1:] != h[:-1]) | (l[1:] != l[:-1])
        which = np.empty(n, dtype=np.int64)
        which[order] = np.cumsum(new) - 1
        texts = [host_prefix(_address(self._addresses, a, b))
                 for a, b in zip(h[new].tolist(), l[new].tolist())]
        return [texts[w] + str(p) for w, p in zip(which.tolist(), port.tolist())]

    def _endpoint(self, hi: int, lo: int, port: int) -> str:
        """``str(Endpoint(...))``, the server's (the same for many connections) remembered."""
        key = (hi, lo, port)
        text = self._endpoints.get(key)
        if text is None:
            text = str(Endpoint(_address(self._addresses, hi, lo), port))
            if len(self._endpoints) < 4096:     # bounded: every client port is another
                self._endpoints[key] = text
        return text


#: The fields of :attr:`Connection.net`, in order.
NET_FIELDS = ("mss_client", "mss_server", "wscale_client", "wscale_server", "sack_permitted",
              "dup_acks", "zero_windows", "in_flight_to_server", "in_flight_to_client",
              "control_retransmissions")


def _net_rows(g: PacketGroups, facts: dict, dirs: Directions) -> list[tuple]:
    """Per connection (grouping order), the :data:`NET_FIELDS` values (None: not known)."""
    up = facts["up"]
    cols = netstats.handshake_options(g, facts)
    order = dirs.dir_order if dirs.dir_order is not None else netstats.per_direction_order(g, up)
    zero = netstats.zero_windows(g, up)
    n = len(g.starts)
    flight = np.asarray(dirs.in_flight, dtype=np.int64)
    return list(zip(_known(cols["mss_client"]), _known(cols["mss_server"]),
                    _known(cols["wscale_client"]), _known(cols["wscale_server"]),
                    _where(cols["sack_known"], cols["sack_permitted"]),
                    netstats.dup_acks(g, up, order).tolist(),
                    np.bincount(g.conn[zero], minlength=n).tolist(),
                    _known(flight[0::2]), _known(flight[1::2]),
                    netstats.control_retransmissions(g, up).tolist()))


def _known(values: np.ndarray) -> list:
    """``values`` as Python ints, None where negative (not known)."""
    return _where(values >= 0, values)


def _where(mask: np.ndarray, values: np.ndarray) -> list:
    """``values`` as a list of Python scalars where ``mask``, None elsewhere."""
    out = np.asarray(values).astype(object)
    out[~np.asarray(mask, dtype=bool)] = None
    return out.tolist()


def _connection(index: int, k: int, facts: dict, dirs: Directions, table, addresses: dict):
    """The Connection ``k`` (in grouping order) built from the per-connection columns."""
    f = facts["lists"]
    up = dirs.stream(2 * k, table.buffer)
    down = dirs.stream(2 * k + 1, table.buffer)
    client = Endpoint(_address(addresses, f["client_hi"][k], f["client_lo"][k]),
                      f["client_port"][k])
    server = Endpoint(_address(addresses, f["server_hi"][k], f["server_lo"][k]),
                      f["server_port"][k])
    conn = Connection(index, client, server, up, down, syn_ns=f["syn_ns"][k],
                      synack_ns=f["synack_ns"][k], rtt_server_ns=f["rtt_server_ns"][k],
                      rtt_client_ns=f["rtt_client_ns"][k],
                      handshake_ack_ns=f["handshake_ack_ns"][k],
                      first_ns=f["first_ns"][k], last_ns=f["last_ns"][k],
                      packets=f["packets"][k], syn_seen=f["syn_seen"][k],
                      roles_inferred=f["roles_inferred"][k], syn_untimed=f["syn_untimed"][k])
    if f["has_rst"][k]:           # the end is known even where its packet's time is not
        conn.end, conn.rst_ns = "rst", f["rst_ns"][k]
    elif f["has_fin"][k]:
        conn.end, conn.fin_ns = "fin", f["fin_ns"][k]
    return conn


def _address(cache: dict, hi: int, lo: int) -> str:
    """format_address, memoised: a capture has few distinct addresses and many connections."""
    text = cache.get((hi, lo))
    if text is None:
        text = cache[(hi, lo)] = format_address(hi, lo)
    return text
