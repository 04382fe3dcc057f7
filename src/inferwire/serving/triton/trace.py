"""Triton's per-request trace (``--trace-config level=TIMESTAMPS``) as a table.  Pure but for
:func:`read_trace_files` and :func:`sample_clock_offset`.

Triton writes a JSON array per flush (``trace.json.0``, ``.1``...): entries ``{"id": N,
"model_name", "model_version", "request_id"}`` and ``{"id": N, "timestamps": [{"name":
"HTTP_RECV_START", "ns": ...}]}``, one stamp per entry, in no fixed order.  The ``ns`` are
``std::chrono::steady_clock``, i.e. CLOCK_MONOTONIC on Linux, not the wall clock: they are put on
the capture's clock by adding ``wall - monotonic`` sampled in this process (same host, same
kernel clocks), see :func:`sample_clock_offset`.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

#: Triton's stamp names -> protocol-neutral stamp columns (HTTP and gRPC front ends).
STAMPS = {
    "HTTP_RECV_START": "recv_start", "GRPC_WAITREAD_START": "recv_start",
    "HTTP_RECV_END": "recv_end", "GRPC_WAITREAD_END": "recv_end",
    "REQUEST_START": "request_start", "QUEUE_START": "queue_start",
    "COMPUTE_START": "compute_start", "COMPUTE_INPUT_END": "compute_input_end",
    "COMPUTE_OUTPUT_START": "compute_output_start", "COMPUTE_END": "compute_end",
    "REQUEST_END": "request_end", "INFER_RESPONSE_COMPLETE": "infer_response_complete",
    "HTTP_SEND_START": "send_start", "GRPC_SEND_START": "send_start",
    "HTTP_SEND_END": "send_end", "GRPC_SEND_END": "send_end",
}
STAMP_COLUMNS = tuple(dict.fromkeys(STAMPS.values()))


def sample_clock_offset(tries: int = 5) -> int:
    """``wall - monotonic`` in ns, from the closest of ``tries`` paired readings."""
    best = None
    for _ in range(tries):
        m0 = time.monotonic_ns()
        wall = time.time_ns()
        m1 = time.monotonic_ns()
        if best is None or m1 - m0 < best[0]:
            best = (m1 - m0, wall - (m0 + m1) // 2)
    return best[1]


def parse_entries(entries: list) -> pd.DataFrame:
    """One row per trace id: ``trace_id``, ``request_id``, ``model``, ``model_version``,
    ``protocol`` ("rest" | "grpc" | None), ``parent_id`` and each stamp of :data:`STAMP_COLUMNS`
    as ``<stamp>_ns`` (monotonic ns, Int64; missing or zero stamps empty; a stamp seen several
    times, as a decoupled model's response stamps are, its earliest)."""
    rows: dict = {}
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("id"), int):
            continue
        row = rows.setdefault(e["id"], {"trace_id": e["id"]})
        for key, col in (("request_id", "request_id"), ("model_name", "model"),
                         ("model_version", "model_version"), ("parent_id", "parent_id")):
            if key in e:
                row[col] = e[key]
        for stamp in e.get("timestamps") or ():
            col = STAMPS.get(stamp.get("name"))
            ns = stamp.get("ns")
            if col is not None and isinstance(ns, int) and ns > 0:
                # a streamed request repeats the response stamps (one set per response): the
                # first response's; HTTP generate_stream's sends are stamped 0 (Triton 2.51)
                row[f"{col}_ns"] = min(ns, row.get(f"{col}_ns", ns))
                if col == "recv_end":
                    row["protocol"] = "grpc" if stamp["name"].startswith("GRPC") else "rest"
    cols = ["trace_id", "request_id", "model", "model_version", "parent_id", "protocol",
            *(f"{c}_ns" for c in STAMP_COLUMNS)]
    table = pd.DataFrame(list(rows.values()), columns=cols)
    for c in cols:
        if c.endswith("_ns") or c in ("trace_id", "model_version", "parent_id"):
            table[c] = pd.to_numeric(table[c], errors="coerce").astype("Int64")
    for c in ("request_id", "model", "protocol"):
        table[c] = table[c].astype("string").replace("", pd.NA)
    return table.sort_values("trace_id", ignore_index=True)


def _span_ms(t: pd.DataFrame, a: str, b: str) -> pd.Series:
    return (t[f"{b}_ns"] - t[f"{a}_ns"]).astype("Float64") / 1e6


def server_log(traces: pd.DataFrame, clock_offset_ns: int) -> pd.DataFrame:
    """The traces as inferwire's server log: ``request_id``, ``model_time_ns``,
    ``queue_time_ns``, ``server_time_ns`` (the join's contract) plus :data:`TRITON_COLUMNS`
    (``triton_*``; absolute times as s since epoch on the capture's clock)."""
    t = traces
    out = pd.DataFrame({"request_id": t["request_id"], "triton_trace_id": t["trace_id"]})
    for stamp in ("recv_end", "send_start"):
        out[f"triton_{stamp}"] = (t[f"{stamp}_ns"] + clock_offset_ns).astype("Float64") / 1e9
    out["triton_recv_ms"] = _span_ms(t, "recv_start", "recv_end")
    out["triton_queue_ms"] = _span_ms(t, "queue_start", "compute_start")
    out["triton_compute_input_ms"] = _span_ms(t, "compute_start", "compute_input_end")
    out["triton_compute_infer_ms"] = _span_ms(t, "compute_input_end", "compute_output_start")
    out["triton_compute_output_ms"] = _span_ms(t, "compute_output_start", "compute_end")
    out["triton_request_ms"] = _span_ms(t, "request_start", "request_end")
    out["triton_send_ms"] = _span_ms(t, "send_start", "send_end")
    out["triton_server_ms"] = _span_ms(t, "recv_end", "send_start")
    # The way in (request parsed, handed to the core, up to the queue) plus the way out
    # (response complete to its first byte sent); COMPUTE_END may come after the send begins.
    out["triton_frontend_ms"] = (_span_ms(t, "recv_end", "queue_start")
                                 + _span_ms(t, "infer_response_complete", "send_start"))
    out["model_time_ns"] = (t["compute_output_start_ns"] - t["compute_input_end_ns"])
    out["queue_time_ns"] = (t["compute_start_ns"] - t["queue_start_ns"])
    out["server_time_ns"] = (t["send_start_ns"] - t["recv_end_ns"])
    return out


def read_trace_files(base: Path) -> tuple[list, list[str]]:
    """Every entry of ``base`` and ``base.0``, ``base.1``... (in flush order), and warnings for
    files cut short (a killed server): their complete entries are kept."""
    base = Path(base)
    numbered = sorted((p for p in base.parent.glob(base.name + ".*")
                       if re.fullmatch(r"\d+", p.suffix[1:])), key=lambda p: int(p.suffix[1:]))
    entries, warnings = [], []
    for path in [*numbered, *([base] if base.exists() else [])]:
        got, problem = _salvage(path.read_text(encoding="utf-8", errors="replace"))
        entries += got
        if problem:
            warnings.append(f"{path}: {problem}; kept the {len(got)} complete entries before it")
    return entries, warnings


def _salvage(text: str) -> tuple[list, str | None]:
    """The JSON array's elements, one by one, up to the first that does not parse."""
    try:
        data = json.loads(text)
        return (data if isinstance(data, list) else [data]), None
    except ValueError:
        pass
    decoder, out, i = json.JSONDecoder(), [], text.find("[") + 1
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text) or text[i] == "]":
            return out, None if i < len(text) else f"cut at offset {i}"
        try:
            obj, i = decoder.raw_decode(text, i)
        except ValueError:
            return out, f"unparsable at offset {i}"
        out.append(obj)


def inside_fraction(joined: pd.DataFrame) -> float:
    """Share of wire rows joined to their trace by request id whose Triton receive-end and
    send-start lie inside [request_end, response_start] (NaN when there is none).  Rows matched
    by time are left out: they were matched because they lie inside."""
    j = joined
    if "triton_joined_by" in j:
        j = j[j["triton_joined_by"] == "request_id"]
    j = j.dropna(subset=["triton_recv_end", "triton_send_start", "request_end", "response_start"])
    if j.empty:
        return float("nan")
    ok = ((j["request_end"] <= j["triton_recv_end"])
          & (j["triton_recv_end"] <= j["triton_send_start"])
          & (j["triton_send_start"] <= j["response_start"]))
    return float(np.mean(ok))
