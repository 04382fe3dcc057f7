"""TLS connections: exact exchanges from decrypted plaintext with a key log, else inferred ones."""
from __future__ import annotations

import warnings as _warnings

from ..protocols.detect import detect
from ..protocols.tls import TlsRecordParser, assemble_tls, infer_exchanges
from .exchange import ConnectionResult, Exchange, feed_all, gap_note
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
    crecords, _ = feed_all(cparser, up, result.warnings, "TLS client")
    srecords, _ = feed_all(sparser, down, result.warnings, "TLS server")
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        session = assemble_tls(crecords, srecords, cparser.messages, sparser.messages)
        decrypted = None
        if keylog is not None and session.client_random is not None:
            from ..protocols.tlsdecrypt import decrypt_connection
            decrypted = decrypt_connection(crecords, srecords, cparser.messages,
                                           sparser.messages, keylog)
            session = decrypted.session
    result.warnings += [str(w.message) for w in caught]
    _session_facts(result, session, up, down)
    if decrypted is not None and decrypted.client.ok and decrypted.server.ok:
        _plaintext_exchanges(result, conn, decrypted, session)
    else:
        if keylog is not None:
            result.warnings.append("TLS not decrypted (no matching secrets in the key log, or an "
                                   "unsupported cipher): requests inferred from record sizes")
        result.exchanges = _inferred(session, up, down)
    return result


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
        result.exchanges, result.h2_setup_ns = http2_exchanges(up, down, result.warnings)
        result.protocol = "grpc" if any(e.protocol == "grpc" for e in result.exchanges) else "h2"
    elif proto == "http/1.1":
        result.exchanges = http1_exchanges(
            up, down, result.warnings,
            up_fin=conn.to_server.fin_offset is not None,
            down_fin=conn.to_client.fin_offset is not None)
        result.protocol = "http/1.1"
    else:
        result.warnings.append("decrypted TLS payload is not HTTP/1.1 or HTTP/2; no requests")


def _head(timeline, n: int = 64) -> bytes:
    out = b""
    for _, data in timeline.chunks():
        out += data
        if len(out) >= n:
            break
    return out[:n]


def _inferred(session, up, down) -> list[Exchange]:
    """Exchanges guessed from the direction and timing of application-data records."""
    def timed(records, line):
        out = []
        for start, end, length in records:
            t0, t1 = line.first(start), line.last(end)
            if t0 is not None and t1 is not None:
                out.append((start, end, length, t0, t1))
        return out

    guesses = infer_exchanges(timed(session.app_records_client, up),
                              timed(session.app_records_server, down),
                              version=session.version, cipher_suite=session.cipher_suite)
    out = []
    for i, g in enumerate(guesses, 1):
        out.append(Exchange(
            "tls", stream=i, inferred=True, request_bytes=g.request_bytes,
            response_bytes=g.response_bytes, req_start_ns=g.req_t_first_ns,
            req_end_ns=g.req_t_last_ns, resp_start_ns=g.resp_t_first_ns,
            resp_end_ns=g.resp_t_last_ns, request_frame=up.first_frame(g.req_start),
            response_frame=down.last_frame(g.resp_end) if g.resp_end is not None else None,
            complete=g.resp_end is not None))
    return out
