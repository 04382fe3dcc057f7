"""Tool requests matched to captured requests by time, for tools that send no request id.

Pure: two tables in, pairs out.  A tool that logs a start and an end for each request (h2load's
log, ghz's details, a locustfile without ids) saw the whole request inside that interval: the
captured request it made started on the wire no earlier than the tool's start and ended no later
than the tool's end.  So the matching pairs each tool request with a distinct captured request
inside its interval; it is a maximum matching (augmenting paths), so if every tool request can
get one, every one does, and then each request the tool made is shown to be in the capture.

Which concurrent request goes with which is a guess (the tightest fit first: the longest captured
request inside the interval), so per-request overheads are approximate under concurrency; their
sum is exact for any complete matching (sum of tool times minus sum of wire times), so the mean
overhead is exact.  Send a request id to join exactly.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: default slack for clock granularity: h2load writes µs (truncated), the tables hold float s
TOLERANCE_NS = 2_000


@dataclass
class TimeMatch:
    """``pairs``: ``tool_index``, ``wire_index`` (index labels of the inputs), ``tool_ms``,
    ``wire_ms`` (the capture's ``total_ms``), ``overhead_ms`` (tool - wire), sorted by tool
    index; ``unmatched_tool`` / ``unmatched_wire``: index labels left without a partner."""
    pairs: pd.DataFrame
    unmatched_tool: list
    unmatched_wire: list

    @property
    def complete(self) -> bool:
        """Every tool request and every captured request has a partner."""
        return not self.unmatched_tool and not self.unmatched_wire


def _wire_ns(wire: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    start = np.rint(wire["request_start"].to_numpy(dtype=float) * 1e9).astype(np.int64)
    end = np.rint(wire["response_end"].to_numpy(dtype=float) * 1e9).astype(np.int64)
    return start, end


def _candidates(tool_start, tool_end, wire_start, wire_end, tolerance_ns) -> list[list[int]]:
    """For each tool request, the captured requests inside its interval, tightest fit first."""
    order = np.argsort(wire_start, kind="stable")
    sorted_start = wire_start[order]
    out = []
    for s, f in zip(tool_start, tool_end):
        lo = np.searchsorted(sorted_start, s - tolerance_ns, "left")
        hi = np.searchsorted(sorted_start, f + tolerance_ns, "right")
        inside = [int(j) for j in order[lo:hi] if wire_end[j] <= f + tolerance_ns]
        inside.sort(key=lambda j: wire_start[j] - wire_end[j])    # longest first
        out.append(inside)
    return out


def _greedy(adj: list[list[int]], tool_len, n_wire: int) -> tuple[list[int], list[int]]:
    """Pairs by the tool's smallest overhead (interval minus wire time) first."""
    edges = sorted((tool_len[i] - w_len, i, j) for i, js in enumerate(adj) for j, w_len in js)
    match_t, match_w = [-1] * len(adj), [-1] * n_wire
    for _, i, j in edges:
        if match_t[i] < 0 and match_w[j] < 0:
            match_t[i], match_w[j] = j, i
    return match_t, match_w


def _augment(start: int, adj: list[list[int]], match_t: list[int], match_w: list[int]) -> bool:
    """One BFS for an augmenting path from the free tool request ``start``."""
    parent, seen, queue = {}, set(), deque([start])
    while queue:
        u = queue.popleft()
        for j in adj[u]:
            if j in seen:
                continue
            seen.add(j)
            parent[j] = u
            if match_w[j] < 0:
                while True:         # flip the path back to start
                    u = parent[j]
                    previous = match_t[u]
                    match_t[u], match_w[j] = j, u
                    if u == start:
                        return True
                    j = previous
            queue.append(match_w[j])
    return False


def match_by_time(tool: pd.DataFrame, wire: pd.DataFrame,
                  tolerance_ns: int = TOLERANCE_NS) -> TimeMatch:
    """Pair ``tool`` rows (``started_ns``, ``finished_ns``: wall-clock ns) with ``wire`` rows
    (the capture's ``request_start``, ``response_end``: s since the epoch).  A pair needs the
    wire request inside the tool interval, give or take ``tolerance_ns``."""
    wire = wire.dropna(subset=["request_start", "response_end"])
    tool_start = tool["started_ns"].to_numpy(dtype=np.int64)
    tool_end = tool["finished_ns"].to_numpy(dtype=np.int64)
    wire_start, wire_end = _wire_ns(wire)
    inside = _candidates(tool_start, tool_end, wire_start, wire_end, tolerance_ns)
    wire_len = wire_end - wire_start
    match_t, match_w = _greedy([[(j, wire_len[j]) for j in js] for js in inside],
                               tool_end - tool_start, len(wire))
    for i in range(len(tool)):
        if match_t[i] < 0 and inside[i]:
            _augment(i, inside, match_t, match_w)
    rows = [(tool.index[i], wire.index[j], (tool_end[i] - tool_start[i]) / 1e6,
             wire_len[j] / 1e6) for i, j in enumerate(match_t) if j >= 0]
    pairs = pd.DataFrame(rows, columns=["tool_index", "wire_index", "tool_ms", "wire_ms"])
    if "total_ms" in wire and len(pairs):
        # the table's own total_ms, not the float-seconds difference (same value, less rounding)
        pairs["wire_ms"] = wire.loc[pairs["wire_index"], "total_ms"].to_numpy(dtype=float)
    pairs["overhead_ms"] = pairs["tool_ms"] - pairs["wire_ms"]
    return TimeMatch(pairs, [tool.index[i] for i, j in enumerate(match_t) if j < 0],
                     [wire.index[j] for j, i in enumerate(match_w) if i < 0])
