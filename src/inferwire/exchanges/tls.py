"""TLS connections: exact exchanges from decrypted plaintext with a key log, else inferred ones.

Record framing is checked against the stream: a record longer than its protocol allows (2^14+256
in TLS 1.3, 2^14+2048 before) or running past the bytes captured in its direction is reported as a
connection warning naming the direction and stream offset; the rows before it are kept.
"""
from __future__ import annotations

from ..problems import Problem
from ..protocols.detect import detect
from ..protocols.tls import CONTENT_TYPE_NAMES, TlsRecordParser, assemble_tls, infer_exchanges
from .exchange import ConnectionResult, Exchange, feed_all, gap_note, protocols_of
from .http1 import http1_exchanges
from .http2 import http2_exchanges
from .timeline import PlaintextTimeline, TcpTimeline


def tls_exchanges(conn, keylog=None) -> ConnectionResult:
    """Exchanges of a TLS connection; ``keylog`` (a parsed SSLKEYLOGFILE) enables decryption."""
    result = ConnectionResult(protocol="tls", tls=True)
    up, down = TcpTimeline(conn.to_server), TcpTimeline(conn.to_client)
    for stream, label in ((conn.to_server, "client->server"), (conn.to_client, "server->client")):
        note = gap_note(stream, label)
        if note:
            result.warnings.append(note)
    keep = keylog is not None
    cparser = TlsRecordParser("client", keep_application_data=keep)
    sparser = TlsRecordParser("server", keep_application_data=keep)
    # The server first: its ServerHello sets the record size limit of both directions.
    srecords = _feed(sparser, down, result.warnings, "TLS server")
    cparser.limit_to(sparser.max_length)
    crecords = _feed(cparser, up, result.warnings, "TLS client")
    for parser, stream, label in ((cparser, conn.to_server, "TLS client"),
                                  (sparser, conn.to_client, "TLS server")):
        note = overrun_note(parser, stream, label)
        if note:
            result.warnings.append(note)
    session, decrypted = _session(cparser, sparser, crecords, srecords, keylog, result.warnings)
    _session_facts(result, session, up, down)
    if decrypted is not None and decrypted.client.ok and decrypted.server.ok:
        _plaintext_exchanges(result, conn, decrypted, session)
    else:
        if keylog is not None:
            result.warnings.append(_not_decrypted_note(session, decrypted, cparser, keylog))
        final = _final(conn, session) and not _server_cut(sparser, conn.to_client)
        result.exchanges = _inferred(session, up, down, final)
    return result


def _session(cparser, sparser, crecords: list, srecords: list, keylog, problems: list) -> tuple:
    """The session of the two directions' records, and their decryption (None without a key
    log or a ClientHello); the problems met appended to ``problems``: the keyless session's,
    then the decryption's (server, client, decrypted session)."""
    session = assemble_tls(crecords, srecords, cparser.messages, sparser.messages)
    problems += session.problems
    if keylog is None or session.client_random is None:
        return session, None
    # deferred: the cryptography primitives load only when there is something to decrypt
    from ..protocols.tls.decrypt import decrypt_connection  # deferred: protocols.tls.decrypt imports cryptography
    decrypted = decrypt_connection(crecords, srecords, cparser.messages, sparser.messages, keylog)
    problems += (decrypted.server.problems + decrypted.client.problems
                 + decrypted.session.problems)
    return decrypted.session, decrypted


def overrun_note(parser: TlsRecordParser, stream, label: str) -> Problem | None:
    """A warning when the bytes of ``stream`` end inside a record whose header was read: its
    length field runs past the direction's FIN (a wrong length) or past the end of the capture.
    None when the records end cleanly, the parser failed (already reported) or bytes are
    missing before the end (reported by :func:`gap_note`)."""
    pending = parser.pending_record
    if pending is None or parser.failure is not None or stream.end > stream.contiguous_end():
        return None
    start, ctype, length = pending
    end = stream.contiguous_end()
    if stream.fin_offset is not None and end >= stream.fin_offset:
        why = f"the direction ended (FIN) at stream offset {end}: the length field is wrong"
    else:
        why = f"the capture of this direction ends at stream offset {end}"
    kind = CONTENT_TYPE_NAMES.get(ctype, str(ctype))
    return Problem(f"{label}: {kind} record at stream offset {start} declares {length} bytes, "
                   f"{start + 5 + length - end} more than were captured ({why}); it is not "
                   "reported", direction=parser.role, offset=start, field="length")


def _not_decrypted_note(session, decrypted, cparser: TlsRecordParser, keylog) -> Problem:
    """Why a connection given a key log was not decrypted, as precisely as known."""
    if session.client_random is None:
        why = f"the handshake could not be parsed: {_no_hello_reason(cparser)}"
    else:
        problems = [d.problem for d in (decrypted.client, decrypted.server) if d.problem] \
            if decrypted is not None else []
        why = problems[0] if problems else ("no matching secrets in the key log, or an "
                                            "unsupported cipher")
    note = f"TLS not decrypted ({why}): requests inferred from record sizes"
    if getattr(keylog, "warnings", ()):
        note += f"; the key log {keylog.source} has lines that were not understood"
    return Problem(note, field="keylog")


def _no_hello_reason(cparser: TlsRecordParser) -> str:
    """Where reading the ClientHello stopped on the client stream."""
    if cparser.failure is not None:
        return f"at client {cparser.failure}"
    pending = cparser.pending_record
    if pending is not None:
        return (f"at client stream offset {pending[0]}, its record declares {pending[2]} bytes, "
                "past the end of the captured stream")
    return "no ClientHello in the client stream"


def _server_cut(sparser: TlsRecordParser, stream) -> bool:
    """Whether server records after the last one parsed are unknown (parser stopped, a record
    running past the end, or bytes missing)."""
    return (sparser.failure is not None or sparser.pending_record is not None
            or stream.end > stream.contiguous_end())


def _feed(parser, timeline, warnings: list, label: str) -> list:
    """:func:`feed_all`, then the parser's problems (a malformed or over-long handshake
    message) added to ``warnings`` under ``label``."""
    records, _ = feed_all(parser, timeline, warnings, label)
    warnings += [p.labelled(label) for p in parser.problems]
    return records


def _session_facts(result: ConnectionResult, session, up, down) -> None:
    result.tls_version, result.alpn, result.sni = session.version, session.alpn, session.sni
    if session.handshake_start is None or session.handshake_end is None:
        return
    end_line = up if session.handshake_end_dir == "client" else down
    start, end = up.first(session.handshake_start), end_line.last(session.handshake_end)
    if start is not None and end is not None:
        result.tls_handshake_ns = end - start


def _plaintext_exchanges(result, conn, decrypted, session) -> None:
    up = PlaintextTimeline(decrypted.client.plaintext, conn.to_server)
    down = PlaintextTimeline(decrypted.server.plaintext, conn.to_client)
    proto = detect(_head(up), _head(down))
    if proto is None and session.alpn in ("h2", "http/1.1"):
        proto = session.alpn
    if proto == "h2":
        result.exchanges, result.h2_setup_ns, result.h2_stalls = http2_exchanges(
            up, down, result.warnings)
        result.protocol = "grpc" if "grpc" in protocols_of(result.exchanges) else "h2"
    elif proto == "http/1.1":
        result.exchanges = http1_exchanges(
            up, down, result.warnings,
            up_fin=conn.to_server.fin_offset is not None,
            down_fin=conn.to_client.fin_offset is not None)
        result.protocol = "http/1.1"
    else:
        result.warnings.append(Problem("decrypted TLS payload is not HTTP/1.1 or HTTP/2; no "
                                       "requests"))


def _head(timeline, n: int = 64) -> bytes:
    out = b""
    for _, data in timeline.chunks():
        out += data
        if len(out) >= n:
            break
    return out[:n]


def _final(conn, session) -> bool:
    """Whether the server had said all it would: the connection ended (FIN or RST) or the server
    sent a TLS alert (close_notify) after its application data.  When not (the capture was cut),
    the last inferred response may be unfinished."""
    if conn.end != "open":
        return True
    last = session.app_records_server[-1][1] if session.app_records_server else 0
    return any(a.direction == "server" and a.start >= last for a in session.alerts)


def _inferred(session, up, down, final: bool = True) -> list[Exchange]:
    """Exchanges guessed from the direction and timing of application-data records.

    ``final`` False (the connection was still open when the capture ended): the last exchange's
    response may have been cut, so it is incomplete and its end time and size are left empty."""
    def timed(records, line):
        out = []
        for start, end, length in records:
            t0, t1 = line.first(start, end), line.last(end)
            if t0 is not None and t1 is not None:
                out.append((start, end, length, t0, t1))
        return out

    guesses = infer_exchanges(timed(session.app_records_client, up),
                              timed(session.app_records_server, down),
                              version=session.version, cipher_suite=session.cipher_suite)
    out = []
    for i, g in enumerate(guesses, 1):
        ended = g.resp_end is not None and (final or i < len(guesses))
        out.append(Exchange(
            "tls", stream=i, inferred=True, request_bytes=g.request_bytes,
            response_bytes=g.response_bytes if ended else None, req_start_ns=g.req_t_first_ns,
            req_end_ns=g.req_t_last_ns, resp_start_ns=g.resp_t_first_ns,
            resp_end_ns=g.resp_t_last_ns if ended else None,
            request_frame=up.first_frame(g.req_start),
            response_frame=down.last_frame(g.resp_end) if ended else None,
            complete=ended))
    return out
