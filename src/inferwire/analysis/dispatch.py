"""Dispatch per connection: find a connection's protocol from its bytes (or a hint) and hand its
two directions to that protocol's exchange builder (:mod:`inferwire.exchanges`)."""
from __future__ import annotations

from ..errors import InferwireError
from ..exchanges.exchange import ConnectionResult, gap_note, protocols_of
from ..exchanges.http1 import begins_mid_http1, http1_exchanges
from ..exchanges.http2 import http2_exchanges
from ..exchanges.tls import tls_exchanges
from ..protocols.detect import detect
from ..tcp import Connection
from .options import AnalyzeOptions
from .pages import PagedTimeline, PageBudget

#: The protocols ``decode_as`` may name.
PROTOCOLS = ("http/1.1", "h2", "grpc", "tls")

_UNRECOGNISED_MIDDLE = ("protocol not recognised: the capture began in the middle of this "
                        "connection, and an HTTP/2 or TLS connection cannot be read from its "
                        "middle (its header compression or keys come first); no requests "
                        "reported: start the capture before the connections open")


def analyze_connection(conn: Connection, options: AnalyzeOptions, keylog=None,
                       budget: PageBudget | None = None) -> ConnectionResult:
    """Find the protocol of ``conn`` from its bytes (or a hint) and build its exchanges;
    ``budget`` (optional) releases the capture's mapped pages as the payload is read."""
    proto = _protocol(conn, options)
    if proto is None:
        result = ConnectionResult()
        if conn.to_server.nbytes or conn.to_client.nbytes:
            result.warnings.append(_UNRECOGNISED_MIDDLE if not conn.syn_seen else
                                   "protocol not recognised from the first bytes; no requests "
                                   "reported (use decode_as to force one)")
        return result
    up, down = PagedTimeline(conn.to_server, budget), PagedTimeline(conn.to_client, budget)
    if proto == "tls":
        return tls_exchanges(conn, keylog)
    result = ConnectionResult(protocol=proto)
    for stream, label in ((conn.to_server, "client->server"), (conn.to_client, "server->client")):
        note = gap_note(stream, label)
        if note:
            result.warnings.append(note)
    if proto == "h2":
        result.exchanges, result.h2_setup_ns, result.h2_stalls = http2_exchanges(
            up, down, result.warnings)
        if "grpc" in protocols_of(result.exchanges):
            result.protocol = "grpc"
    elif proto == "http/1.1":
        result.exchanges = http1_exchanges(
            up, down, result.warnings,
            up_fin=_fin_reached(conn.to_server), down_fin=_fin_reached(conn.to_client),
            resync=not conn.syn_seen)
    else:
        raise InferwireError(f"unknown protocol {proto!r} in decode_as; use one of {PROTOCOLS}")
    return result


def _protocol(conn: Connection, options: AnalyzeOptions) -> str | None:
    """The protocol ``decode_as`` names for the connection's ports, else the one its first bytes
    show (swapping the roles of a connection without a SYN whose "server" spoke first)."""
    proto = options.decode_as.get(conn.server.port) or options.decode_as.get(conn.client.port)
    if proto is not None:
        return proto
    up_head, down_head = conn.to_server.head(64), conn.to_client.head(64)
    proto = detect(up_head, down_head)
    if proto is None and conn.roles_inferred and detect(down_head, up_head):
        conn.swap()  # no SYN seen and the "server" spoke first like a client: swap roles
        proto = detect(down_head, up_head)
    if proto is None and not conn.syn_seen and begins_mid_http1(conn.to_server, conn.to_client):
        proto = "http/1.1"     # begun inside a message: read from the first one found
    return proto


def _fin_reached(stream) -> bool:
    return stream.fin_offset is not None and stream.contiguous_end() >= stream.fin_offset
