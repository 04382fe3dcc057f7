"""Comparing inferwire's tables with the tshark reference rows, reporting every disagreement."""
from __future__ import annotations

import math

import pandas as pd

TIME_COLUMNS = ("request_start", "request_end", "response_start", "response_end")
#: phase column -> (start, end) time columns it spans (columns.py)
PHASES = {"request_ms": ("request_start", "request_end"),
          "wait_ms": ("request_end", "response_start"),
          "response_ms": ("response_start", "response_end"),
          "total_ms": ("request_start", "response_end")}


def same_time(got, ref_ns) -> bool:
    """inferwire's float epoch seconds equal tshark's integer ns within float rounding.

    A float64 near 1.8e9 s resolves about 240 ns, so "equal" means within one unit in the last
    place of ``ref_ns / 1e9``: any real disagreement (a different frame) is microseconds or more.
    """
    if ref_ns is None or _missing(got):
        return ref_ns is None and _missing(got)
    ref = ref_ns / 1e9
    return abs(float(got) - ref) <= math.ulp(ref)


def _missing(v) -> bool:
    return v is None or (not isinstance(v, str) and pd.isna(v))


def same_value(got, ref) -> bool:
    if _missing(ref) or _missing(got):
        return _missing(ref) and _missing(got)
    return got == ref


def row_mismatches(requests: pd.DataFrame, reference: list[dict], columns) -> list[str]:
    """Every (client, stream) present on one side only, and every column that differs.

    ``reference`` rows use inferwire's column names, times as integer ns.
    """
    ours = {(r["client"], int(r["stream"])): r for r in requests.to_dict("records")}
    theirs = {(r["client"], r["stream"]): r for r in reference}
    problems = [f"{k}: in tshark only" for k in sorted(set(theirs) - set(ours))]
    problems += [f"{k}: in inferwire only" for k in sorted(set(ours) - set(theirs))]
    for key in sorted(set(ours) & set(theirs)):
        mine, ref = ours[key], theirs[key]
        for col in columns:
            if col not in ref:
                continue
            ok = (same_time if col in TIME_COLUMNS else same_value)(mine[col], ref[col])
            if not ok:
                shown = ref[col] / 1e9 if col in TIME_COLUMNS and ref[col] is not None else ref[col]
                problems.append(f"{key} {col}: inferwire {mine[col]!r} != tshark {shown!r}")
        problems += _phase_mismatches(key, mine, ref)
    return problems


def _phase_mismatches(key, mine: dict, ref: dict) -> list[str]:
    """The phase durations (ms) against tshark's integer-ns frame times (exact to 1e-9 ms)."""
    out = []
    for col, (a, b) in PHASES.items():
        if a not in ref or b not in ref:
            continue
        want = None if ref[a] is None or ref[b] is None else (ref[b] - ref[a]) / 1e6
        got = mine[col]
        ok = (_missing(got) and want is None) or (
            want is not None and not _missing(got) and abs(float(got) - want) <= 1e-9)
        if not ok:
            out.append(f"{key} {col}: inferwire {got!r} != tshark {want!r}")
    return out


def connection_mismatches(connections: pd.DataFrame, streams: dict) -> list[str]:
    """Connections table vs tshark's TCP streams: clients, SYN time, handshake, end."""
    ours = {r["client"]: r for r in connections.to_dict("records")}
    theirs = {s.client: s for s in streams.values()}
    problems = [f"{c}: in tshark only" for c in sorted(set(theirs) - set(ours))]
    problems += [f"{c}: in inferwire only" for c in sorted(set(ours) - set(theirs))]
    for client in sorted(set(ours) & set(theirs)):
        mine, s = ours[client], theirs[client]
        hs_ns = s.ack_ns - s.syn_ns
        checks = {
            "server": (mine["server"] == s.server, s.server),
            "syn_time": (same_time(mine["syn_time"], s.syn_ns), s.syn_ns / 1e9),
            "start_seen": (bool(mine["start_seen"]), True),
            # SYN to the client's ACK of the SYN-ACK: exactly Wireshark's iRTT
            "tcp_handshake_ms": (abs(mine["tcp_handshake_ms"] - hs_ns / 1e6) < 1e-9
                                 and hs_ns == s.initial_rtt_ns, hs_ns / 1e6),
            "packets": (mine["packets"] == s.packets, s.packets),
            "end": (mine["end"] == ("rst" if s.rst else "fin" if s.fin else "open"),
                    "rst" if s.rst else "fin" if s.fin else "open"),
        }
        problems += [f"{client} {name}: inferwire {mine[name]!r} != tshark {want!r}"
                     for name, (ok, want) in checks.items() if not ok]
    return problems


def report(problems: list[str], limit: int = 40) -> str:
    more = f"\n... and {len(problems) - limit} more" if len(problems) > limit else ""
    return "\n".join(problems[:limit]) + more
