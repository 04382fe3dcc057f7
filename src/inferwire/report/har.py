"""HAR 1.2 export: each request's timings as an HTTP Archive any HAR viewer opens.

Spec: http://www.softwareishard.com/blog/har-12-spec/ .  One entry per request seen from its first
request byte to its last response byte (others are left out and counted in ``log.comment``).
The phases map onto HAR's ``timings`` (ms; -1 = does not apply) as follows (see
:mod:`inferwire.report.timings`):

=========  =====================================================================================
blocked    the time from the entry's start to the request's first byte that is not connect: the
           client's own time before the wire (with a client log), the HTTP/2 preface and
           SETTINGS exchange, gaps between handshakes; -1 when nothing before the first request
           byte is known (no client log and not the first request of its connection)
dns        -1 (name resolution is not in the capture)
connect    TCP handshake + TLS handshake (HAR counts ssl inside connect), on the first request
           of a connection whose SYN was captured; -1 elsewhere
ssl        the TLS handshake (ClientHello to the final Finished) on that first request; else -1
send       ``request_ms``: first to last request byte
wait       ``wait_ms``: last request byte to first response byte (server + network)
receive    ``response_ms``: first to last response byte (gRPC: to the trailers)
=========  =====================================================================================

``startedDateTime`` is the entry's start (UTC) and ``time`` the sum of the timings that apply,
i.e. ``response_end - start``.  Custom fields (HAR allows names starting with ``_``) keep what
HAR has no slot for: ``_requestId``, ``_protocol``, ``_stream``, ``_h2SetupMs``,
``_clientAfterMs``, ``_serverMs``, ``_modelMs``, ``_grpcStatus``, ``_inferred``.
"""
from __future__ import annotations

import json
import math
import os
from datetime import datetime, timezone

import pandas as pd

from .. import __version__
from ..files import open_private
from .run import as_run
from .timings import entry_timings

#: Only gRPC fixes its content type; the others are not parsed from the headers.
MIME = {"grpc": "application/grpc"}


def _ms(value) -> float:
    """A HAR timing: ms rounded to µs, or -1 for "does not apply"."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return -1
    return round(float(value), 3)


def _opt(value):
    """A JSON-safe optional value (None for NA)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def _iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, tz=timezone.utc).isoformat(timespec="microseconds")


def _url(row) -> str:
    scheme = "https" if bool(_opt(row.get("tls"))) else "http"
    return f"{scheme}://{row['server']}{_opt(row.get('path')) or '/'}"


def _http_version(protocol: str) -> str:
    return "HTTP/1.1" if protocol == "http/1.1" else "HTTP/2" if protocol in ("h2", "grpc") \
        else "unknown"


def entry(row) -> dict:
    """The HAR entry of one row of :func:`entry_timings`."""
    version = _http_version(row["protocol"])
    rid = _opt(row.get("request_id"))
    headers = [{"name": "x-request-id", "value": rid}] if rid else []
    timings = {"blocked": _ms(row["blocked_ms"]), "dns": -1, "connect": _ms(row["connect_ms"]),
               "send": _ms(row["send_ms"]), "wait": _ms(row["wait_ms"]),
               "receive": _ms(row["receive_ms"]), "ssl": _ms(row["ssl_ms"])}
    status = _opt(row.get("status"))
    out = {
        "startedDateTime": _iso(row["start"]),
        "time": round(sum(v for k, v in timings.items() if v >= 0 and k != "ssl"), 3),
        "request": {"method": _opt(row.get("method")) or "", "url": _url(row),
                    "httpVersion": version, "cookies": [], "headers": headers,
                    "queryString": [], "headersSize": -1,
                    "bodySize": _opt(row.get("request_bytes")) if
                    _opt(row.get("request_bytes")) is not None else -1},
        "response": {"status": status or 0, "statusText": "", "httpVersion": version,
                     "cookies": [], "headers": [],
                     "content": {"size": _opt(row.get("response_bytes")) or 0,
                                 "mimeType": MIME.get(row["protocol"], "x-unknown")},
                     "redirectURL": "", "headersSize": -1,
                     "bodySize": _opt(row.get("response_bytes")) if
                     _opt(row.get("response_bytes")) is not None else -1},
        "cache": {},
        "timings": timings,
        "serverIPAddress": str(row["server"]).rsplit(":", 1)[0].strip("[]"),
        "connection": str(_opt(row.get("connection"))),
        "_requestId": rid, "_protocol": row["protocol"], "_stream": _opt(row.get("stream")),
        "_h2SetupMs": _opt(row.get("h2_ms")), "_clientAfterMs": _opt(row.get("client_after_ms")),
        "_serverMs": _opt(row.get("server_ms")), "_modelMs": _opt(row.get("model_ms")),
        "_grpcStatus": _opt(row.get("grpc_status")), "_inferred": bool(_opt(row.get("inferred"))),
    }
    return out


def to_har(table: pd.DataFrame, connections: pd.DataFrame, *, title: str = "") -> dict:
    """The HAR 1.2 document (a dict) of ``table`` (requests or joined table) and its
    ``connections`` table; entries in start order."""
    t = entry_timings(table, connections).sort_values("start", kind="stable")
    left_out = len(table) - len(t)
    entries = [entry(row) for _, row in t.iterrows()]
    comment = f"{title}: " if title else ""
    comment += (f"{len(entries)} requests from the capture, timings from the packets "
                "(see inferwire.report.har for the phase mapping)")
    if left_out:
        comment += (f"; {left_out} requests left out: not seen from first request byte to last "
                    "response byte")
    return {"log": {"version": "1.2",
                    "creator": {"name": "inferwire", "version": __version__},
                    "pages": [], "entries": entries, "comment": comment}}


def write_har(run, path: str | os.PathLike) -> int:
    """Write the HAR of ``run`` (a Run or an Analysis) to ``path``; return the entry count."""
    r = as_run(run)
    har = to_har(r.table(warmup=True), r.connections, title=r.name)
    with open_private(path, "w", encoding="utf-8") as f:
        json.dump(har, f, indent=1, allow_nan=False)
    return len(har["log"]["entries"])
