"""h2load (nghttp2-client): its command line, its report and its per-request ``--log-file``.

For gRPC unary calls h2load POSTs one pre-serialized, length-prefixed PredictRequest (see
:mod:`.bodies`) over h2c with ``content-type: application/grpc`` and ``te: trailers``; with
``--h1`` it POSTs the REST JSON body over HTTP/1.1.  It counts a request as succeeded on HTTP
status alone: a gRPC error travels in the trailers with status 200, so gRPC errors are read from
the capture (``grpc_status``), not from h2load.

``--log-file`` rows: request start (µs since the epoch, wall clock), HTTP status (-1 failed),
time to the end of the response (µs, monotonic clock).  No request id: rows are matched to
captured requests by time (:mod:`.match`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from ..errors import LoadError

_UNIT_NS = {"us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


def h2load_command(url: str, *, body_path: str | None = None, clients: int = 1,
                   requests: int | None = None, duration_s: float | None = None,
                   streams: int = 1, threads: int = 1, headers: tuple[str, ...] = (),
                   log_path: str | None = None, http1: bool = False,
                   h2load: str = "h2load") -> list[str]:
    """h2load's argv: ``-n requests`` or ``-D duration`` (timing-based), ``-c clients``
    connections with up to ``-m streams`` concurrent streams each."""
    if requests is None and duration_s is None:
        raise LoadError("h2load needs a request count or a duration")
    if requests is not None and requests < clients:
        raise LoadError(f"h2load cannot spread {requests} requests over {clients} clients")
    argv = [h2load, "-c", str(clients), "-t", str(threads), "-m", str(streams)]
    if duration_s is not None and requests is None:
        argv += ["-D", f"{duration_s:g}"]
    else:
        argv += ["-n", str(requests)]
    if http1:
        argv.append("--h1")
    if body_path is not None:
        argv += ["-d", str(body_path)]
    for header in headers:
        argv += ["-H", header]
    if log_path is not None:
        argv += ["--log-file", str(log_path)]
    return argv + [url]


@dataclass
class H2loadReport:
    """h2load's printed report.  ``request_time_ns``: {"min","max","mean","sd"} of its "time for
    request" line (ns); h2load prints no percentiles."""
    total: int
    started: int
    done: int
    succeeded: int
    failed: int
    errored: int
    timeout: int
    finished_s: float | None = None
    requests_per_s: float | None = None
    status_2xx: int | None = None
    request_time_ns: dict = field(default_factory=dict)


def _duration_ns(text: str) -> int:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(text)
    return round(float(m.group(1)) * _UNIT_NS[m.group(2)])


def parse_h2load_output(text: str, source: str = "h2load output") -> H2loadReport:
    """h2load's stdout as an :class:`H2loadReport`; LoadError naming ``source`` if it has no
    "requests:" line (h2load could not start or connect)."""
    m = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", text, re.M)
    if not m:
        last = text.strip().splitlines()[-1:] or ["(empty)"]
        raise LoadError(f"{source}: not an h2load report (no 'requests:' line); it ends with: "
                        f"{last[0]}")
    report = H2loadReport(*map(int, m.groups()))
    m = re.search(r"^finished in ([\d.]+)(us|ms|s), ([\d.]+) req/s", text, re.M)
    if m:
        report.finished_s = _duration_ns(m.group(1) + m.group(2)) / 1e9
        report.requests_per_s = float(m.group(3))
    m = re.search(r"^status codes: (\d+) 2xx", text, re.M)
    if m:
        report.status_2xx = int(m.group(1))
    m = re.search(r"^time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", text, re.M)
    if m:
        try:
            report.request_time_ns = dict(zip(("min", "max", "mean", "sd"),
                                              map(_duration_ns, m.groups())))
        except ValueError as exc:
            raise LoadError(f"{source}: 'time for request' value {exc} has no known unit") \
                from None
    return report


def read_h2load_log(path) -> pd.DataFrame:
    """h2load's ``--log-file``: ``started_ns`` (wall clock, µs resolution), ``status`` (HTTP,
    -1 = failed stream), ``duration_ns`` (µs resolution), ``finished_ns`` = started + duration,
    ``ok`` (2xx), one row per request in the order h2load wrote them."""
    rows = []
    try:
        with open(path, encoding="ascii") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    rows.append(_log_row(line, path, number))
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(f"{path}: cannot read h2load's --log-file: {exc}") from exc
    frame = pd.DataFrame(rows, columns=["started_ns", "status", "duration_ns"], dtype="int64")
    frame["finished_ns"] = frame["started_ns"] + frame["duration_ns"]
    frame["ok"] = frame["status"].between(200, 299)
    return frame


def _log_row(line: str, path, number: int) -> tuple[int, int, int]:
    cells = line.rstrip("\n").split("\t")
    if len(cells) < 3:
        raise LoadError(f"{path}: line {number}: {len(cells)} fields, h2load writes 3 "
                        "(start µs, status, duration µs)")
    out = []
    for name, cell in zip(("start", "status", "duration"), cells[:3]):
        try:
            out.append(int(cell))
        except ValueError:
            raise LoadError(f"{path}: line {number}, field {name}: {cell!r} is not an integer") \
                from None
    start_us, status, duration_us = out
    return start_us * 1_000, status, duration_us * 1_000
