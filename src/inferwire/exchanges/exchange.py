"""The per-request record every protocol produces, in nanoseconds, before it becomes a table row."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields

from ..errors import ProtocolError
from ..problems import Problem


@dataclass
class Exchange:
    """One request and its response on one connection.  Times are ns since the epoch, or None."""

    protocol: str
    stream: int | None = None
    method: str | None = None
    path: str | None = None
    status: int | None = None
    grpc_status: int | None = None
    request_id: str | None = None
    request_bytes: int | None = None
    response_bytes: int | None = None
    req_start_ns: int | None = None
    req_end_ns: int | None = None
    resp_start_ns: int | None = None
    resp_end_ns: int | None = None
    request_frame: int | None = None
    response_frame: int | None = None
    interim_responses: int | None = None
    inferred: bool = False
    complete: bool = False
    error: str | None = None      # the server's error message (gRPC grpc-message, HTTP error body)
    #: the messages of a streamed exchange (:mod:`inferwire.exchanges.messages`), None: not split
    messages: list | None = None


@dataclass
class ConnectionResult:
    """What the protocol stage learned about one connection."""

    protocol: str = ""
    exchanges: list = field(default_factory=list)
    tls: bool = False
    tls_version: str | None = None
    alpn: str | None = None
    sni: str | None = None
    tls_handshake_ns: int | None = None
    h2_setup_ns: int | None = None
    #: what was odd (:class:`~inferwire.problems.Problem` s, or lines), in the order met
    warnings: list = field(default_factory=list)
    #: HTTP/2 flow-control stalls (ns intervals) of the client's and the server's sending, or
    #: None: not HTTP/2 (inferwire.exchanges.h2flow.connection_stalls)
    h2_stalls: tuple | None = None


def feed_all(parser, timeline, warnings: list, label: str) -> tuple[list, int | None]:
    """Feed every gap-free chunk of ``timeline`` to ``parser``.

    Returns the events and the offset one past the last byte fed, or None when the parser failed:
    a :class:`ProtocolError` becomes a :class:`~inferwire.problems.Problem` in ``warnings``
    (its offset and field, the parser's role as direction) and the events before it are kept.
    """
    return feed_chunks(parser, timeline.chunks(), warnings, label)


def feed_chunks(parser, chunks, warnings: list, label: str) -> tuple[list, int | None]:
    """:func:`feed_all` of the ``(offset, data)`` pairs ``chunks`` (contiguous, in order)."""
    events: list = []
    end = 0
    try:
        for offset, data in chunks:
            events.extend(parser.feed(data, offset))
            end = offset + len(data)
    except ProtocolError as exc:
        events.extend(getattr(exc, "events", ()))  # what the failing call completed before it
        warnings.append(Problem(f"{label}: {exc}; later messages in this direction are not "
                                "reported", direction=getattr(parser, "role", None),
                                offset=exc.offset, field=exc.field))
        return events, None
    return events, end


_DIRECTIONS = {"client->server": "client", "server->client": "server"}


def gap_note(stream, label: str) -> Problem | None:
    """A problem when a direction (``label``: "client->server" or "server->client") has bytes
    missing before its end, at the offset of the first missing byte; or None."""
    cut = stream.contiguous_end()
    if stream.end > cut:
        return Problem(f"{label}: bytes {cut}..{stream.end} partly not captured; "
                       f"messages after stream offset {cut} are not reported",
                       direction=_DIRECTIONS.get(label), offset=cut, field="bytes")
    return None


def span_ns(start: int | None, end: int | None) -> int | None:
    return None if start is None or end is None else end - start


#: The Exchange's fields, in order.
EXCHANGE_FIELDS = tuple(f.name for f in fields(Exchange))


class ExchangeColumns(Sequence):
    """One connection's exchanges as columns: ``columns`` maps each of :data:`EXCHANGE_FIELDS`
    to a list of its values, one per exchange.  Made by the builders that read many exchanges
    at once (an HTTP/2 connection's streams); the row stage reads the columns as they are
    (:func:`inferwire.analysis.rows.connection_rows`), anything else sees a sequence of
    :class:`Exchange` objects, made on first use."""

    def __init__(self, columns: dict):
        self.columns = columns
        self._objects: list | None = None

    def __len__(self) -> int:
        return len(self.columns["protocol"])

    def __getitem__(self, index):
        return self.objects()[index]

    def objects(self) -> list[Exchange]:
        """The exchanges as :class:`Exchange` objects (made once)."""
        if self._objects is None:
            self._objects = [Exchange(*values) for values in
                             zip(*(self.columns[name] for name in EXCHANGE_FIELDS))]
        return self._objects


def protocols_of(exchanges) -> set:
    """The protocols of ``exchanges`` (a list of :class:`Exchange` or :class:`ExchangeColumns`),
    without making objects of columns."""
    if isinstance(exchanges, ExchangeColumns):
        return set(exchanges.columns["protocol"])
    return {e.protocol for e in exchanges}
