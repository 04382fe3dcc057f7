"""One workload through several load tools, each held against the capture.

For every capture run (one engine each: inferwire's own generator, locust, ab, h2load) this puts
side by side the throughput and latency percentiles *as the tool reports them* and *as the
capture shows them* for the very requests that tool made, and the difference: the tool's own
client overhead (time inside the tool before the first request byte and after the last response
byte, plus its scheduling).

How a tool's requests are found in the capture (``join``):

* "id": the request id the tool sent (inferwire, the shipped locustfiles): per request, the
  client's time (``client_ms``) against the wire's ``total_ms``;
* "time": the tool's per-request log has start and end but no id (h2load, locustfiles without
  ids): matched by time (:mod:`inferwire.reference.match`), then per request as above;
* "count": only counts and distributions (ab: its per-request table is in whole ms, sorted by
  duration and stamped to the second): the capture's requests in the tool's window on its port,
  percentiles computed by ab's own rule, overhead = percentile difference.

Pure functions on run folders' tables (read by :func:`inferwire.runfolder.read_run_tables`);
:func:`inferwire.compare.__main__.run_comparison` is the shell that makes the runs.
``python -m inferwire.compare RUN_DIR...`` prints the table of existing runs.
"""
from __future__ import annotations


import numpy as np
import pandas as pd

from ..errors import InferwireError
from ..reference.ab import ab_percentiles
from ..reference.h2load import read_h2load_log
from ..reference.locust import read_request_logs
from ..reference.match import match_by_time
from ..runfolder.tables import RunTables, read_run_tables

PERCENTS = (50, 90, 99)
NS = 1_000_000_000


# -- which captured requests belong to the tool ---------------------------------------------------
def window_requests(tables: RunTables, protocol: str) -> pd.DataFrame:
    """The captured requests on ``protocol``'s server port that started inside the tool's
    measured window (``started_ns``..``finished_ns`` of its load summary)."""
    load = tables.manifest["loads"][protocol]
    port = tables.manifest["server"][f"{protocol}_port"]
    req = tables.requests
    on_port = req["server"].astype(str).str.endswith(f":{port}")
    start = req["request_start"].to_numpy(dtype=float) * NS
    inside = (start >= load["started_ns"]) & (start <= load["finished_ns"])
    return req[on_port & inside]


def id_pairs(tables: RunTables, protocol: str) -> tuple[pd.DataFrame, int]:
    """Per request joined by id: (``tool_ms``, ``wire_ms``, ``overhead_ms``) of measured
    requests found in the capture, and how many logged requests the capture lacks."""
    j = tables.joined
    if j is None:
        raise InferwireError(f"{tables.run_dir}: no joined table")
    mine = j[(j["workload"] == protocol) & (j["client_phase"] == "measure")
             & j["in_client_log"].astype(bool)]
    mine = mine[mine["client_ms"].notna()]
    found = mine[mine["in_capture"].astype(bool)]
    pairs = pd.DataFrame({"tool_ms": found["client_ms"].to_numpy(float),
                          "wire_ms": found["total_ms"].to_numpy(float)})
    pairs["overhead_ms"] = pairs["tool_ms"] - pairs["wire_ms"]
    return pairs, len(mine) - len(found)


def tool_log(tables: RunTables, protocol: str) -> pd.DataFrame:
    """The tool's own per-request log with ``started_ns``/``finished_ns`` (h2load's log, or
    locust's merged request events)."""
    load = tables.manifest["loads"][protocol]
    outputs = load.get("outputs") or {}
    if load.get("tool") == "h2load":
        return read_h2load_log(tables.run_dir / outputs["log"])
    if load.get("tool") == "locust":
        return read_request_logs([tables.run_dir / outputs["requests"]]).dropna(
            subset=["started_ns", "finished_ns"])
    raise InferwireError(f"{tables.run_dir}: {load.get('tool')} keeps no per-request log")


def time_pairs(tables: RunTables, protocol: str):
    """Per request matched by time: a :class:`~inferwire.reference.match.TimeMatch` of the tool's
    log against the captured requests of its window."""
    return match_by_time(tool_log(tables, protocol), window_requests(tables, protocol))


# -- one row of the comparison --------------------------------------------------------------------
#: The percentile rule of each tool's own report where it is known (numpy's method name):
#: inferwire's load summary takes the nearest rank (:mod:`inferwire.load.histogram`).  The
#: wire's percentiles beside a tool's are taken by the same rule, so that a tool whose every
#: request lasted longer than its bytes never looks faster at a percentile (with 40 requests,
#: nearest rank and numpy's interpolation differ by half the gap between two requests).
TOOL_PERCENTILE_RULE = {"inferwire": "inverted_cdf"}


def _pct(values, p, method: str = "linear") -> float | None:
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return float(np.percentile(values, p, method=method)) if len(values) else None


def _rate(wire: pd.DataFrame) -> float | None:
    if len(wire) < 2:
        return None
    span = wire["response_end"].max() - wire["request_start"].min()
    return len(wire) / span if span > 0 else None


def _tool_name(load: dict) -> str:
    return load.get("tool") or "inferwire"


def compare_protocol(tables: RunTables, protocol: str) -> dict:
    """One comparison row: the tool's figures, the capture's, and the difference."""
    load = tables.manifest["loads"][protocol]
    tool, join = _tool_name(load), load.get("join", "id")
    lat = load.get("latency_ms") or {}
    row = {"tool": tool, "protocol": protocol, "join": join,
           "requests_tool": load.get("requests"), "throughput_tool_per_s":
           load.get("throughput_per_s")}
    row.update({f"p{p}_tool_ms": lat.get(f"p{p}") for p in PERCENTS})
    wire, pairs, missing = _wire_side(tables, protocol, join)
    row["requests_wire"] = len(wire) if wire is not None else len(pairs)
    row["missing_in_capture"] = missing
    row["throughput_wire_per_s"] = _rate(wire) if wire is not None and len(wire) else None
    row["wire_gap_p50_ms"] = _pct(connection_gaps_ms(wire), 50) if wire is not None else None
    if join == "count":
        q = ab_percentiles(wire["total_ms"].dropna().to_numpy(), PERCENTS)
        row.update({f"p{p}_wire_ms": float(q[p]) if p in q else None for p in PERCENTS})
        tool50, wire50 = row["p50_tool_ms"], row["p50_wire_ms"]
        row["overhead_ms"] = tool50 - wire50 if None not in (tool50, wire50) else None
        row["overhead_from"] = "p50 difference"
    else:
        rule = TOOL_PERCENTILE_RULE.get(tool, "linear")
        row.update({f"p{p}_wire_ms": _pct(pairs["wire_ms"], p, rule) for p in PERCENTS})
        # by id every pair is certain: the median is meaningful; by time only the sum is
        # certain (see inferwire.reference.match), so the mean is shown
        exact = join == "id"
        row["overhead_ms"] = (_pct(pairs["overhead_ms"], 50) if exact
                              else float(pairs["overhead_ms"].mean()) if len(pairs) else None)
        row["overhead_from"] = "per-request median" if exact else "per-request mean"
        row["overhead_p99_ms"] = _pct(pairs["overhead_ms"], 99) if exact else None
    row["latency_source"] = load.get("latency_source") or "inferwire client log (ns)"
    return row


def _wire_side(tables: RunTables, protocol: str, join: str):
    """(captured rows of the tool, per-request pairs, tool requests missing from the capture)."""
    if join == "count":
        wire = window_requests(tables, protocol)
        load = tables.manifest["loads"][protocol]
        return wire, None, max(0, (load.get("requests") or 0) - len(wire))
    if join == "time":   # every captured request of the window counts, matched or not
        match = time_pairs(tables, protocol)
        return window_requests(tables, protocol), match.pairs, len(match.unmatched_tool)
    pairs, missing = id_pairs(tables, protocol)
    j = tables.joined
    ids = j[(j["workload"] == protocol) & (j["client_phase"] == "measure")
            & j["in_capture"].astype(bool)]
    return ids, pairs, missing


def connection_gaps_ms(wire: pd.DataFrame) -> np.ndarray:
    """Idle time on each connection between a response's last byte and the next request's first
    byte (ms): where a closed-loop tool spends its own time between requests, seen on the
    wire.  Only meaningful with one request at a time per connection."""
    gaps = []
    for _, conn in wire.sort_values("request_start").groupby("connection"):
        gaps.append((conn["request_start"].to_numpy()[1:] - conn["response_end"].to_numpy()[:-1])
                    * 1e3)
    return np.concatenate(gaps) if gaps else np.array([])


def compare_runs(run_dirs) -> pd.DataFrame:
    """The comparison table over ``run_dirs`` (one row per run and protocol)."""
    rows = []
    for run_dir in run_dirs:
        tables = read_run_tables(run_dir)
        for protocol in tables.manifest.get("loads", {}):
            rows.append(compare_protocol(tables, protocol))
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    """The table as Markdown: tool vs wire per figure, ms and requests/s."""
    heads = ["tool", "protocol", "requests tool / wire", "req/s tool / wire"]
    heads += [f"p{p} ms tool / wire" for p in PERCENTS] + ["tool overhead ms", "joined by"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]

    def f(v, digits=3):
        return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"
    for _, r in table.iterrows():
        cells = [r["tool"], r["protocol"], f"{r['requests_tool']} / {r['requests_wire']}",
                 f"{f(r['throughput_tool_per_s'], 1)} / {f(r['throughput_wire_per_s'], 1)}"]
        cells += [f"{f(r[f'p{p}_tool_ms'])} / {f(r[f'p{p}_wire_ms'])}" for p in PERCENTS]
        cells += [f"{f(r['overhead_ms'])} ({r['overhead_from']})", r["join"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


# -- where the tool and the wire disagree ----------------------------------------------------------
#: Resolution (ms) of each tool's latency figures, by the start of its ``latency_source``.
RESOLUTION_MS = {"ab -e": 0.001, "ab report": 1.0, "h2load": 0.001, "locust request": 0.001,
                 "inferwire client log": 1e-6}
#: Throughputs and counts further apart than this fraction are said to disagree.
RATE_TOLERANCE = 0.01


def resolution_ms(source: str | None, value: float | None) -> float:
    """The tool's resolution at ``value`` ms: locust rounds its response times to whole ms
    under 100 ms, to 10 ms under 1 s, to 100 ms above; the others as :data:`RESOLUTION_MS`."""
    source = source or "inferwire client log"
    if source.startswith("locust final"):
        v = abs(value or 0.0)
        return 1.0 if v < 100 else 10.0 if v < 1000 else 100.0
    return next((r for k, r in RESOLUTION_MS.items() if source.startswith(k)), 0.001)


def _res_words(res: float) -> str:
    """A resolution for people: "1 ns", "1 µs", "1 ms"."""
    if res < 1e-3:
        return f"{res * 1e6:g} ns"
    return f"{res * 1e3:g} µs" if res < 1 else f"{res:g} ms"


def disagreements(row: dict) -> list[str]:
    """Sentences for each figure where the tool and the wire differ by more than the tool's
    resolution (latency) or by more than 1 % (requests, throughput); [] when they agree."""
    out = []
    tool_n, wire_n = row.get("requests_tool"), row.get("requests_wire")
    if tool_n and wire_n is not None and abs(tool_n - wire_n) > RATE_TOLERANCE * tool_n:
        out.append(f"requests: the tool counted {tool_n}, the capture holds {wire_n} of them")
    for p in PERCENTS:
        tool, wire = row.get(f"p{p}_tool_ms"), row.get(f"p{p}_wire_ms")
        if tool is None or wire is None or np.isnan(tool) or np.isnan(wire):
            continue
        res = resolution_ms(row.get("latency_source"), tool)
        diff = tool - wire
        if diff > res:
            out.append(f"p{p}: the tool says {tool:.3f} ms, the wire {wire:.3f} ms: "
                       f"{diff:.3f} ms more than the wire, beyond its {_res_words(res)} resolution "
                       "(the tool's own time outside the wire)")
        elif diff < -res:
            out.append(f"p{p}: the tool says {tool:.3f} ms, LESS than the wire's {wire:.3f} ms "
                       f"by {-diff:.3f} ms, beyond its {_res_words(res)} resolution (it cannot be "
                       "faster than its bytes: another clock, or other requests counted)")
    tool_r, wire_r = row.get("throughput_tool_per_s"), row.get("throughput_wire_per_s")
    if tool_r and wire_r and abs(tool_r - wire_r) > RATE_TOLERANCE * wire_r:
        out.append(f"throughput: the tool says {tool_r:.1f}/s, the wire {wire_r:.1f}/s "
                   f"({100 * (tool_r - wire_r) / wire_r:+.1f} %; the tool divides by its own "
                   "duration, the wire by first request byte to last response byte)")
    return out


def tool_vs_wire(run_dir) -> tuple[pd.DataFrame, dict]:
    """The comparison of one run folder (:func:`compare_runs`) and, per protocol, its
    :func:`disagreements`.  Raises InferwireError when the folder cannot be compared."""
    try:
        table = compare_runs([run_dir])
    except (KeyError, TypeError, ValueError) as exc:   # a manifest without loads or ports
        raise InferwireError(f"{run_dir}: cannot compare the tool with the wire: "
                             f"{type(exc).__name__}: {exc}") from exc
    said = {r["protocol"]: disagreements(r) for r in table.to_dict("records")}
    return table, said
