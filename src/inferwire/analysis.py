"""``analyze()``: a capture file in, the per-request and per-connection tables out.

capture -> packets (:mod:`inferwire.packets`) -> connections (:mod:`inferwire.tcp`) -> messages
(:mod:`inferwire.protocols`, via :mod:`inferwire.exchanges`) -> rows (:mod:`inferwire.columns`).
"""
from __future__ import annotations

import os
import re
import warnings as _warnings
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from .columns import (CONNECTION_COLUMNS, MESSAGE_COLUMNS, PHASE_COLUMNS, REQUEST_COLUMNS,
                      UTC_DTYPE)
from .exchanges.messages import MESSAGE_RAW, MESSAGE_STAT_COLUMNS, message_rows, message_stats
from .errors import InferwireError, InferwireWarning
from .exchanges.exchange import ConnectionResult, gap_note
from .exchanges.http1 import begins_mid_http1, http1_exchanges
from .exchanges.http2 import http2_exchanges
from .exchanges.plainbatch import one_request_exchanges
from .exchanges.timeline import TcpTimeline
from .packets import guard
from .protocols.detect import detect
from .runfolder.probe import run_probe_ports  # a run folder's probe port: not traffic
from .buckets import TableBuckets, bucket_count, global_numbers, order_keys
from .spill import SpilledCapture, bucket_count_for, read_bucketed, spill_wanted
from .shards import map_shards, resolve_workers
from .tcp import Connection, build_connections
from .tcp.connections import NET_FIELDS, ConnectionSet
from .tcp.grouping import VANTAGES
from .exchanges.network import connection_part, network_columns, stalled_waits
from .tcp.grouping import PacketGroups

PROTOCOLS = ("http/1.1", "h2", "grpc", "tls")

#: Bytes of the capture's mapping brought into memory between two releases of its pages.  Each
#: read of a mapped page also maps its neighbours (the kernel's fault-around, up to 64 KiB), and a
#: connection's packets lie scattered among everyone else's, so what a read maps is counted, not
#: what it reads: about 64 KiB per packet piece of a short direction (a 300-byte REST head maps
#: 64 KiB).  Counting bytes read let a worker hold 200-300 MiB of file pages on a 1 GB capture.
RELEASE_EVERY = 16 * 1024 * 1024
#: How far around a byte read the kernel may have mapped pages (its fault-around window); also
#: more than a packet piece's length (a TCP segment carries < 64 KiB).
FAULT_AROUND = 64 * 1024


class PageBudget:
    """Counts the bytes of a capture's mapping that reads bring into memory (:func:`_mapped`)
    and lets the pages go (see :meth:`PacketTable.release`) every ``every`` bytes: only the span
    of file offsets read since the last release (widened by the fault-around window), so that a
    release costs in proportion to what was read, not to the file's size.  One per bucket."""

    def __init__(self, table, every: int = RELEASE_EVERY):
        self.table, self.every, self.used = table, every, 0
        self.lo, self.hi = None, 0

    def spend(self, nbytes: int, lo: int, hi: int) -> None:
        """``nbytes`` read (or about to be) from the file offsets in ``[lo, hi)``.  When the
        budget is used up, what was read before this call goes; this call's span is counted
        for the next release (it may be about to be read)."""
        if self.used + nbytes >= self.every and self.lo is not None:
            self.table.release(self.hi + FAULT_AROUND, start=max(0, self.lo - FAULT_AROUND)
                               // FAULT_AROUND * FAULT_AROUND)
            self.used, self.lo, self.hi = 0, None, 0
        self.used += nbytes
        self.lo = lo if self.lo is None else min(self.lo, lo)
        self.hi = max(self.hi, hi)


def _mapped(pieces: int, nbytes: int) -> int:
    """About how much of the mapping reading ``nbytes`` spread over ``pieces`` packet pieces
    brings into memory: a fault-around window per piece, or the bytes if more."""
    return max(nbytes, pieces * FAULT_AROUND)


class _PagedTimeline(TcpTimeline):
    """A TcpTimeline whose chunk reads are counted against a :class:`PageBudget`."""

    def __init__(self, stream, budget: PageBudget | None):
        super().__init__(stream)
        self.budget = budget

    def chunks(self):
        return self._spent(super().chunks())

    def views(self):
        return self._spent(super().views())

    def _spent(self, pieces):
        """``pieces`` with their bytes counted (views count too: reading their head maps the
        pages around it).  A short direction is counted once, before it is read; a long one
        piece by piece, so that its pages go while it is read."""
        if self.budget is None or not self.stream.srcs:
            return pieces
        mapped, lo, hi = self._extent()
        if mapped < self.budget.every:
            self.budget.spend(mapped, lo, hi)
            return pieces
        return self._counted(pieces)

    def spend_all(self) -> None:
        if self.budget is not None and self.stream.srcs:
            self.budget.spend(*self._extent())

    def _extent(self) -> tuple[int, int, int]:
        """(bytes mapped by reading the direction, its first and last file offsets + a piece).
        A piece out of file order may lie outside: its pages go with the whole mapping's at
        the end of the bucket."""
        srcs = self.stream.srcs                  # file offsets of the pieces, in stream order
        return (_mapped(len(srcs), self.stream.contiguous_end()), srcs[0],
                srcs[-1] + FAULT_AROUND)

    def _counted(self, pieces):
        # The file span of each chunk's own pieces, not the whole direction's: a long
        # connection spans the whole file, and a release costs the span it covers.
        starts, srcs, budget = self.stream.starts, self.stream.srcs, self.budget
        for offset, data in pieces:
            yield offset, data
            first = bisect_right(starts, offset) - 1
            last = bisect_right(starts, offset + len(data) - 1) - 1
            budget.spend(_mapped(last - first + 1, len(data)), min(srcs[first], srcs[last]),
                         max(srcs[first], srcs[last]) + FAULT_AROUND)


@dataclass
class AnalyzeOptions:
    """How to read a capture.

    ``tls_keylog``: an SSLKEYLOGFILE-format file to decrypt TLS with.  ``decode_as``: server port ->
    protocol ("http/1.1", "h2", "tls"), overriding detection from the bytes (like Wireshark's Decode
    As).  ``ignore_ports``: connections to or from these ports are left out (e.g. capture probes).
    ``vantage``: where the capture was taken, "client", "server" or "auto" (from each
    connection's handshake): decides which copy of a retransmitted byte the receiver got.
    """

    tls_keylog: str | os.PathLike | None = None
    decode_as: dict = field(default_factory=dict)
    ignore_ports: tuple = ()
    progress: bool = False
    workers: int | str | None = "auto"
    spill: bool | str = "auto"
    spill_dir: str | os.PathLike | None = None
    vantage: str = "auto"


@dataclass
class Analysis:
    """The result of :func:`analyze`: ``requests`` and ``connections`` DataFrames (columns in
    :mod:`inferwire.columns`), the capture's statistics and every warning raised while reading."""

    path: str
    requests: pd.DataFrame
    connections: pd.DataFrame
    capture: object
    warnings: list
    #: one row per message of each streamed request (:data:`~inferwire.columns.MESSAGE_COLUMNS`)
    messages: pd.DataFrame = field(default_factory=lambda: _message_frame([]))

    def __repr__(self) -> str:
        return f"<Analysis {Path(self.path).name!r}: {describe_tables(self)}>"

    def summary(self) -> pd.DataFrame:
        """Per protocol: request count and p50/p90/p99 of each phase (ms)."""
        return phase_summary(self.requests)

    def __getattr__(self, name: str):
        # Plots live in the report layer, which the core does not import (no import cycles).
        if name == "plot":
            raise AttributeError("Analysis.plot moved to the report layer: use "
                                 "inferwire.report.plot(analysis), e.g. "
                                 "inferwire.report.plot(a).cdf()")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def summary_text(self) -> str:
        """A short plain-text report of where the time went."""
        return format_summary(self)

    def save(self, out_dir: str | os.PathLike) -> dict:
        """Write requests/connections (and messages, when a request was streamed) as CSV and
        Parquet into ``out_dir``; return the paths."""
        from .tablefiles import write_csv
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {}
        tables = [("requests", self.requests), ("connections", self.connections)]
        if len(self.messages):
            tables.append(("messages", self.messages))
        for name, df in tables:
            paths[f"{name}.csv"] = out / f"{name}.csv"
            write_csv(df, paths[f"{name}.csv"])
            paths[f"{name}.parquet"] = out / f"{name}.parquet"
            df.to_parquet(paths[f"{name}.parquet"], index=False)
        return paths


def describe_tables(source) -> str:
    """"N requests (grpc n, http/1.1 m) on K connections, W warnings": the short repr of an
    Analysis or a Run."""
    counts = source.requests["protocol"].value_counts(sort=False).sort_index()
    per = ", ".join(f"{p} {n}" for p, n in counts.items())
    return (f"{len(source.requests)} requests{f' ({per})' if per else ''} on "
            f"{len(source.connections)} connections, {len(source.warnings)} warnings")


def analyze(path, *, tls_keylog=None, decode_as=None, ignore_ports=(),
            progress: bool = False, workers: int | str | None = "auto",
            spill: bool | str = "auto", spill_dir=None, vantage: str = "auto") -> Analysis:
    """Read a capture and return its per-request and per-connection tables.

    ``path``: a pcap/pcapng file, a list of files, or a directory of them (analyzed as one capture).
    ``workers``: processes that analyze the connections (``"auto"``: one per CPU for captures of
    50,000 TCP packets or more, when this process has no other threads; see
    :mod:`inferwire.shards`).  The tables are the same whatever the number.
    ``spill``: read a single capture file into buckets on disk instead of memory, so that memory
    does not grow with the capture (:mod:`inferwire.spill`; ``"auto"``: files of 512 MiB or
    more); ``spill_dir``: where (default: the system's temporary folder).  Same tables either way.
    ``vantage``: "client" or "server" when the capture was taken on that host, "auto" to judge
    it per connection from the handshake (README: how a request's time is split).
    """
    if vantage not in VANTAGES:
        raise InferwireError(f"vantage {vantage!r}: use one of {', '.join(VANTAGES)}")
    options = AnalyzeOptions(tls_keylog=tls_keylog, decode_as=dict(decode_as or {}),
                             ignore_ports=tuple(ignore_ports) + run_probe_ports(path),
                             progress=progress, workers=workers, spill=spill,
                             spill_dir=spill_dir, vantage=vantage)
    keylog = _load_keylog(options.tls_keylog)
    from .tcp.gcpause import paused_gc
    with paused_gc():       # GC passes over every live connection and event cost 1-1.5 s at 40k requests
        return _analyze(path, options, keylog, progress)


def _analyze(path, options, keylog, progress):
    faults = guard.faults()
    spill = (not isinstance(path, (list, tuple)) and not Path(path).is_dir()
             and spill_wanted(path, options.spill))
    size = _file_size(path) if spill else None
    if size is not None:       # (a file that cannot be read is named by read_capture)
        workers = resolve_workers(options.workers, size // 64, 1 << 30)   # packets: estimated
        table = read_bucketed(path, bucket_count_for(size, workers), options.spill_dir)
    else:
        table = read_capture(path)
        workers = resolve_workers(options.workers, table.stats.tcp_packets, len(table))
    try:
        ignore = frozenset(options.ignore_ports) | frozenset(probe_ports(table.stats.comments))
        requests, connections, conn_warnings, messages = _tables(table, ignore, options, keylog,
                                                                 workers, progress)
        for mapped, size in _mapped_files(table):   # the parsers read payloads from the maps
            guard.check(mapped, size, faults)
    finally:
        if isinstance(table, SpilledCapture):
            table.close()        # the spill folder goes, whatever happened
    warnings = list(getattr(keylog, "warnings", ())) + list(table.stats.warnings) + conn_warnings
    drops = {k: v for k, v in (table.stats.drops or {}).items() if v}
    for iface, d in drops.items():
        lost = sum(x or 0 for k, x in d.items() if k in ("ifdrop", "osdrop"))
        if lost:
            warnings.append(f"interface {iface}: {lost} packets dropped during capture "
                            f"(counters {d}); phases of affected requests may be missing")
    for w in warnings:
        _warnings.warn(w, InferwireWarning, stacklevel=2)
    return Analysis(str(path) if not isinstance(path, (list, tuple)) else ", ".join(map(str, path)),
                    requests, connections, table.stats, warnings, messages)


def _mapped_files(table) -> list[tuple[str, int]]:
    """(path, bytes mapped) of each file the analysis of ``table`` read payloads from."""
    files = getattr(table, "files", None)         # MultiPacketTable: several files
    if files is not None:
        return list(zip(files.paths, files.sizes))
    return [(table.stats.path, len(table.buffer))]


def _tables(table, ignore: frozenset, options, keylog, workers: int, progress: bool):
    """The requests and connections tables of ``table`` and their warnings, in connection order.

    The packets are cut into buckets of whole connections (:mod:`inferwire.buckets`), in memory
    or on disk (:mod:`inferwire.spill`): only one bucket's packets, connections and parser state
    are alive at a time, and with several ``workers`` the processes share out the buckets
    (:mod:`inferwire.shards`).  Each bucket's connections are numbered within it and renumbered
    once all are done (the whole capture's order, Wireshark's ``tcp.stream``), so no bucket
    needs another's.  Connections on ``ignore`` ports are left out (their numbers stay).
    """
    if isinstance(table, SpilledCapture):
        source = table.buckets()
    else:
        source = TableBuckets(table, bucket_count(len(table), workers))
    many = len(source.weights) > 1

    def bucket_tables(indices, tick):
        budget = PageBudget(table)      # created here: in a worker, its own counter
        for b in indices:
            sub, rows = source.bucket(b)
            groups = PacketGroups(sub) if len(sub) else None
            keys = order_keys(sub, rows, groups) if many else None
            found = ConnectionSet(sub, groups, options.vantage)   # numbered 0.. in the bucket
            requests, req_pos, conn_rows, conn_pos, warnings, messages = _bucket_rows(
                found, ignore, options, keylog, budget, tick)
            found = sub = groups = None     # this bucket's objects go before the next one's
            table.release()
            yield (requests, req_pos,
                   _connection_columns(conn_rows), np.array(conn_pos, dtype=np.int64),
                   warnings, keys, messages)

    bar = _progress_bar(len(table), progress)
    try:
        shards = map_shards(bucket_tables, source.weights, workers,
                            progress=None if bar is None else bar.update_to,
                            spool_dir=options.spill_dir)
    finally:
        if bar is not None:
            bar.close()
    frames = [f for _, shard_frames in shards for f in shard_frames]
    shards = None                   # _numbered lets each bucket's columns go once gathered
    return _numbered(frames, many)


def _bucket_rows(found: ConnectionSet, ignore: frozenset, options, keylog, budget,
                 tick) -> tuple:
    """One bucket's requests columns and their connection numbers, its connection rows and
    their numbers, and its warnings (``tick``: told each connection's packets when done).
    One-request HTTP/1 connections are read from the columns (:mod:`~inferwire.exchanges.
    plainbatch`, :func:`_plain_rows`); the others one by one."""
    req_rows, req_pos, conn_rows, conn_pos, warnings = [], [], [], [], []
    msg_rows = []                   # the streamed requests' messages (MESSAGE_RAW order)
    parts, ids = [], []             # per connection: network columns, ACK round trip look-up
    plain = one_request_exchanges(found, ignore | options.decode_as.keys(), _spender(budget))
    for index in range(len(found)):
        rows = _plain_rows(found, index, plain[index]) if index in plain else None
        if rows is not None:
            req_row, conn_row, part, packets = rows
            req_rows.append(req_row)
            req_pos.append(index)
            conn_rows.append(conn_row)
            conn_pos.append(index)
            parts.append(part)
            ids.append((2 * found.order[index], 2 * found.order[index] + 1))
            tick(packets)
            continue
        c = found.connection(index)
        if c.client.port in ignore or c.server.port in ignore:
            tick(c.packets)
            continue
        result = (ConnectionResult("http/1.1", [plain[index]]) if index in plain
                  else analyze_connection(c, options, keylog, budget))
        rows_, conn_row, conn_warnings, part = _rows(c, result)
        parts.append(part)
        ids.append(c.rtt_directions())
        for row in rows_:
            if row[-1] is not None:
                msg_rows += message_rows(c.index, row[_STREAM], row[_REQUEST_ID], row[-1])
        req_rows += rows_
        req_pos += [c.index] * len(rows_)
        conn_rows.append(conn_row)
        conn_pos.append(c.index)
        if conn_warnings:
            warnings.append((c.index, str(c.client), str(c.server), conn_warnings))
        tick(c.packets)
    acks = (found.dirs, ids) if len(found) else None
    requests = _request_columns(req_rows, parts, acks)
    return (requests, np.array(req_pos, dtype=np.int64), conn_rows, conn_pos, warnings,
            _message_columns(msg_rows))


def _plain_rows(found: ConnectionSet, index: int, x) -> tuple | None:
    """What :func:`_rows` makes of connection ``index`` of ``found`` whose only exchange is
    ``x`` (:func:`one_request_exchanges`: no loss, no reordering, no cut), from the columns:
    ``(request row, connection row, network part, packets)``; None when the connection would
    have warnings (a time stamp out of order, a time unknown, a zero window): those are
    built as objects and go through :func:`_rows`."""
    k = found.order[index]
    f = found.facts["lists"]
    a, b, s, d = x.req_start_ns, x.req_end_ns, x.resp_start_ns, x.resp_end_ns
    net = found.net[k]
    if not x.complete or b < a or d < s or s < a or net[_ZERO_WINDOWS]:
        return None
    syn, synack, ack = f["syn_ns"][k], f["synack_ns"][k], f["handshake_ack_ns"][k]
    untimed = f["syn_untimed"][k]
    handshake = None if syn is None or ack is None or untimed else ack - syn
    if handshake is not None and handshake < 0:
        return None
    rtt_server = (None if syn is None or synack is None or untimed or synack < syn
                  else synack - syn)
    rtt_client = (None if synack is None or ack is None or untimed or ack < synack
                  else ack - synack)
    client, server = found.endpoints(k)
    request = (index, client, server, "http/1.1", False, False, x.stream, x.method, x.path,
               x.status, None, x.request_id, x.request_bytes, x.response_bytes, a, b, s, d,
               handshake, None, None, 0, x.request_frame, x.response_frame, True, None, None)
    mss_c, mss_s, ws_c, ws_s, sack, dup_acks, zero_windows, flight_up, flight_down, control = net
    end = "rst" if f["has_rst"][k] else "fin" if f["has_fin"][k] else "open"
    connection = (index, client, server, "http/1.1", False, None, None, None, syn, True,
                  f["first_ns"][k], f["last_ns"][k], handshake, None, None, 1, f["packets"][k],
                  found.dirs.nbytes[2 * k], found.dirs.nbytes[2 * k + 1], control, 0, 0, 0,
                  dup_acks, zero_windows, mss_c, mss_s, ws_c, ws_s, sack, flight_up,
                  flight_down, rtt_client, rtt_server, _vantage(rtt_client, rtt_server), end, "")
    return request, connection, (1, rtt_client, rtt_server, False, None), f["packets"][k]


def _spender(budget: PageBudget | None):
    """What :func:`one_request_exchanges` tells a direction's reads to: ``budget``, counted as
    :meth:`_PagedTimeline.spend_all` counts them."""
    if budget is None:
        return None
    return lambda pieces, nbytes, lo, hi: budget.spend(_mapped(pieces, nbytes), lo,
                                                        hi + FAULT_AROUND)


def _ack_rtt(columns: dict, ns: dict, parts: list, acks: tuple) -> None:
    """Fill the requests' ack_rtt_client_ms / ack_rtt_server_ms in one vectorised look-up:
    ``acks`` = (the bucket's Directions, each connection's
    :meth:`~inferwire.tcp.connections.Connection.rtt_directions`), ``ns``: the time columns."""
    dirs, ids = acks
    counts = [p[0] for p in parts]
    up = np.repeat(np.array([i[0] for i in ids], dtype=np.int64), counts)
    down = np.repeat(np.array([i[1] for i in ids], dtype=np.int64), counts)
    (start, k_start), (req_end, k_req), (resp_end, k_resp) = (ns[k] for k in (
        "req_start", "req_end", "resp_end"))
    start = np.where(k_start, start, -1)
    stop = np.where(k_resp, resp_end, np.where(k_req, req_end, -1))
    for name, d in (("ack_rtt_client_ms", down), ("ack_rtt_server_ms", up)):
        v = dirs.first_rtt(d, start, stop)
        columns[name] = np.where(v >= 0, v / 1e6, np.nan)


def _numbered(frames: list, many: bool):
    """The buckets' tables as one, their connections numbered in whole-capture order: each
    bucket's local numbers mapped through the ranks of all buckets' order keys."""
    if not frames:
        return _request_frame([]), _connection_frame([]), [], _message_frame([])
    # One bucket: its numbers are the capture's already.
    numbers = global_numbers([f[5] for f in frames]) if many else [None]
    req_parts, req_pos, conn_parts, conn_pos, notes = [], [], [], [], []
    msg_parts, msg_pos = [], []
    for (requests, rpos, connections, cpos, warnings, _, messages), nums in zip(frames, numbers):
        mpos = messages["connection"].copy()
        for cols, pos, parts, positions in ((requests, rpos, req_parts, req_pos),
                                            (connections, cpos, conn_parts, conn_pos),
                                            (messages, mpos, msg_parts, msg_pos)):
            if len(pos):
                if nums is not None:
                    cols["connection"] = nums[cols["connection"]]
                parts.append(cols)
                positions.append(pos if nums is None else nums[pos])
        notes += [(k if nums is None else int(nums[k]), client, server, ws)
                  for k, client, server, ws in warnings]
    frames.clear()
    requests = _joined(req_parts, req_pos, REQUEST_COLUMNS)
    connections = _joined(conn_parts, conn_pos, CONNECTION_COLUMNS)
    messages = _joined(msg_parts, msg_pos, MESSAGE_COLUMNS)
    notes.sort(key=lambda n: n[0])
    return requests, connections, [f"connection {k} ({client} -> {server}): {w}"
                                   for k, client, server, ws in notes for w in ws], messages


def _joined(parts: list, positions: list, columns) -> pd.DataFrame:
    """The buckets' columns (dicts, see :func:`_typed_columns`) as one DataFrame, rows in
    connection order (stable: a connection's rows keep theirs).  Built a column at a time, each
    bucket's piece of a column let go once joined: the whole table exists once, not two or
    three times over as with concatenating and reordering whole frames."""
    pos = np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64)
    order = None if np.all(pos[1:] >= pos[:-1]) else np.argsort(pos, kind="stable")
    trim = len(pos) >= TRIM_ROWS
    data = {}
    for col in columns:
        pieces = [p.pop(col.name) for p in parts]
        if not pieces:
            whole = _typed([], col.dtype)
        elif len(pieces) == 1:
            whole = pieces[0]
        elif isinstance(pieces[0], np.ndarray):
            whole = np.concatenate(pieces)
        else:
            whole = type(pieces[0])._concat_same_type(pieces)
        pieces = None
        data[col.name] = whole if order is None else whole.take(order)
        whole = None
        if trim:
            _give_back_freed_memory()
    parts.clear()
    return pd.DataFrame(data, columns=[c.name for c in columns], copy=False)


#: Tables of this many rows or more give the heap's free pages back after each joined column
#: (:func:`_give_back_freed_memory`, ~0.3 ms a call): on smaller ones it costs more than it saves.
TRIM_ROWS = 100_000


def _give_back_freed_memory() -> None:
    """Return the C heap's free pages to the system (glibc's ``malloc_trim``; nothing
    elsewhere).  The buckets' column pieces are small enough to live in the heap, and a joined
    column big enough to be mapped apart: without this, pieces freed while the table is joined
    stay in the process as free heap, and the join needs the table's size twice over."""
    trim = _MALLOC_TRIM[0]
    if trim is None:
        try:
            import ctypes
            trim = ctypes.CDLL(None).malloc_trim
            trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
        except (OSError, AttributeError):
            trim = False
        _MALLOC_TRIM[0] = trim
    if trim:
        trim(0)


_MALLOC_TRIM: list = [None]


def _file_size(path) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def probe_ports(comments) -> list[int]:
    """The capture-liveness probe ports an inferwire capture names in its section comments
    ("inferwire probe port N", written by :mod:`inferwire.capture`): probes are not traffic to
    analyze, also when the capture travels without its run's manifest."""
    found = (_PROBE_COMMENT.fullmatch(c.strip()) for c in comments)
    return [int(m.group(1)) for m in found if m and 0 < int(m.group(1)) < 65536]


_PROBE_COMMENT = re.compile(r"inferwire probe port (\d{1,5})")


def read_capture(path):
    """One file -> its PacketTable; several files, a directory or a ring-buffer set -> one table
    with connections stitched across files and duplicate packets dropped
    (:func:`inferwire.packets.multi.read_many`)."""
    from .packets import read_packets
    if isinstance(path, (list, tuple)) or Path(path).is_dir():
        from .packets.multi import read_many
        return read_many(path)
    return read_packets(path)


def _progress_bar(total: int, enabled: bool):
    """A tqdm bar over the TCP packets with ``update_to(done)``, or None when not wanted."""
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    class _Bar(tqdm):
        def update_to(self, done: int) -> None:
            self.update(done - self.n)
    return _Bar(total=total, desc="packets", unit="pkt", unit_scale=True, leave=False)


def _load_keylog(path):
    if path is None:
        return None
    from .protocols.tlskeys import parse_keylog
    return parse_keylog(path)


def analyze_connection(conn: Connection, options: AnalyzeOptions, keylog=None,
                       budget: PageBudget | None = None) -> ConnectionResult:
    """Find the protocol of ``conn`` from its bytes (or a hint) and build its exchanges;
    ``budget`` (optional) releases the capture's mapped pages as the payload is read."""
    proto = options.decode_as.get(conn.server.port) or options.decode_as.get(conn.client.port)
    up_head, down_head = conn.to_server.head(64), conn.to_client.head(64)
    if proto is None:
        proto = detect(up_head, down_head)
        if proto is None and conn.roles_inferred and detect(down_head, up_head):
            conn.swap()  # no SYN seen and the "server" spoke first like a client: swap roles
            proto = detect(down_head, up_head)
        if proto is None and not conn.syn_seen and begins_mid_http1(conn.to_server,
                                                                     conn.to_client):
            proto = "http/1.1"     # begun inside a message: read from the first one found
    if proto is None:
        result = ConnectionResult()
        if conn.to_server.nbytes or conn.to_client.nbytes:
            result.warnings.append(_UNRECOGNISED_MIDDLE if not conn.syn_seen else
                                   "protocol not recognised from the first bytes; no requests "
                                   "reported (use decode_as to force one)")
        return result
    up, down = _PagedTimeline(conn.to_server, budget), _PagedTimeline(conn.to_client, budget)
    if proto == "tls":
        from .exchanges.tls import tls_exchanges
        return tls_exchanges(conn, keylog)
    result = ConnectionResult(protocol=proto)
    for stream, label in ((conn.to_server, "client->server"), (conn.to_client, "server->client")):
        note = gap_note(stream, label)
        if note:
            result.warnings.append(note)
    if proto == "h2":
        result.exchanges, result.h2_setup_ns, result.h2_stalls = http2_exchanges(
            up, down, result.warnings)
        if any(e.protocol == "grpc" for e in result.exchanges):
            result.protocol = "grpc"
    elif proto == "http/1.1":
        result.exchanges = http1_exchanges(
            up, down, result.warnings,
            up_fin=_fin_reached(conn.to_server), down_fin=_fin_reached(conn.to_client),
            resync=not conn.syn_seen)
    else:
        raise InferwireError(f"unknown protocol {proto!r} in decode_as; use one of {PROTOCOLS}")
    return result


_UNRECOGNISED_MIDDLE = ("protocol not recognised: the capture began in the middle of this "
                        "connection, and an HTTP/2 or TLS connection cannot be read from its "
                        "middle (its header compression or keys come first); no requests "
                        "reported: start the capture before the connections open")


def _fin_reached(stream) -> bool:
    return stream.fin_offset is not None and stream.contiguous_end() >= stream.fin_offset


# -- tables -------------------------------------------------------------------------------------
def _rows(c: Connection, r: ConnectionResult) -> tuple[list[tuple], tuple, list[str], tuple]:
    """One connection's request rows (:data:`_REQUEST_RAW` order), its connection row
    (:data:`CONNECTION_COLUMNS` order), its warnings and what its rows' network columns need
    (:func:`~inferwire.exchanges.network.connection_part`): plain values, cheap to send
    between processes.  The connection number in the rows is ``c.index`` (its bucket's; renumbered by
    :func:`_numbered`)."""
    exchanges = r.exchanges
    if len(exchanges) > 1:
        exchanges = sorted(exchanges, key=lambda e: (e.req_start_ns is None,
                                                     e.req_start_ns or 0, e.stream or 0))
    client, server = str(c.client), str(c.server)
    first, backwards = _setup_times(c.tcp_handshake_ns, r.tls_handshake_ns, r.h2_setup_ns)
    req_rows, incomplete, disordered = [], 0, []
    rtt = (c.rtt_client_ns, c.rtt_server_ns)
    net = connection_part(c, exchanges, r.h2_stalls, rtt)
    for i, e in enumerate(exchanges):
        a, b, s, d = e.req_start_ns, e.req_end_ns, e.resp_start_ns, e.resp_end_ns
        req_rows.append((c.index, client, server, e.protocol, r.tls, e.inferred, e.stream,
                         e.method, e.path, e.status, e.grpc_status, e.request_id,
                         e.request_bytes, e.response_bytes, a, b, s, d,
                         *(first if i == 0 else (None, None, None)),
                         e.interim_responses, e.request_frame, e.response_frame, e.complete,
                         e.error, e.messages))
        if not e.complete:
            incomplete += 1
        try:
            if b < a or d < s or s < a:
                disordered.append(e.stream)
        except TypeError:                   # a time is unknown: compare the known ones
            if _out_of_order(a, b, s, d):
                disordered.append(e.stream)
    warnings = c.warnings + r.warnings + backwards   # prefixed with the connection's number later
    differing = c.to_server.differing_segments + c.to_client.differing_segments
    if differing:
        warnings = warnings + [f"{differing} retransmitted segment{'s' if differing > 1 else ''} "
                               "whose repeated bytes differ from the first copy: the first "
                               "copy's bytes are kept"]
    waits = stalled_waits(c, exchanges) if c.net and c.net[_ZERO_WINDOWS] else ()
    if waits:
        warnings = warnings + [f"the client's zero window held back the server during the wait "
                               f"of {len(waits)} request(s) (stream {', '.join(map(str, waits[:5]))}"
                               "): that time is in wait_ms, the capture cannot tell whether the "
                               "response was ready"]
    if exchanges or disordered:
        warnings = warnings + _partial_notes(c, len(exchanges), incomplete, disordered)
    return (req_rows, _connection_row(c, r, len(exchanges), client, server, warnings, first, rtt),
            warnings, net)


def _setup_times(*spans) -> tuple[tuple, list[str]]:
    """The TCP handshake, TLS handshake and HTTP/2 setup spans (ns), a negative one (its packets'
    time stamps out of causal order) left empty; and a warning naming each one left empty."""
    names = ("tcp_handshake_ms", "tls_handshake_ms", "h2_setup_ms")
    bad = [name for name, span in zip(names, spans) if span is not None and span < 0]
    if not bad:
        return spans, []
    kept = tuple(None if span is not None and span < 0 else span for span in spans)
    return kept, [f"time stamps out of causal order (the end before the start): "
                  f"{', '.join(bad)} left empty"]


def _out_of_order(a, b, s, d) -> bool:
    """Whether the known ones of request start ``a``, request end ``b``, response start ``s``
    and response end ``d`` contradict the order bytes must have been sent in: an end before
    its start, a response begun or ended before its request began.  (A response begun before
    the request's end is possible, e.g. an early error or a streaming call.)"""
    return any(x is not None and y is not None and y < x
               for x, y in ((a, b), (s, d), (a, s), (a, d)))


def _partial_notes(c: Connection, n: int, incomplete: int, disordered: list) -> list[str]:
    """What the rows of a partly captured connection lack, and why (empty when nothing)."""
    notes = []
    if not c.syn_seen:
        notes.append("connection already open when the capture began (no SYN): no handshake "
                     "times, and requests sent before the capture are not in the table")
    if incomplete:
        why = {"open": " (the capture ended before the connection did)",
               "rst": " (the connection was reset)"}.get(c.end, "")
        notes.append(f"{incomplete} of {n} request{'s' if n > 1 else ''} not seen to "
                     f"{'their' if incomplete > 1 else 'its'} end{why}: "
                     "times and sizes not seen are left empty")
    if disordered:
        notes.append(f"{len(disordered)} request{'s' if len(disordered) > 1 else ''} (stream "
                     f"{', '.join(map(str, disordered[:5]))}{', ...' if len(disordered) > 5 else ''}"
                     ") with packet time stamps out of order (a response stamped before its "
                     "request, or an end before its start): the durations that would be "
                     "negative are left empty")
    return notes


_REQUEST_RAW = ("connection", "client", "server", "protocol", "tls", "inferred", "stream",
                "method", "path", "status", "grpc_status", "request_id", "request_bytes",
                "response_bytes", "req_start", "req_end", "resp_start", "resp_end",
                "tcp_handshake", "tls_handshake", "h2_setup", "interim_responses",
                "request_frame", "response_frame", "complete", "error", "messages")
_REQ_START, _REQ_END, _RESP_END = (_REQUEST_RAW.index(k) for k in ("req_start", "req_end",
                                                                    "resp_end"))
_ZERO_WINDOWS = NET_FIELDS.index("zero_windows")
_STREAM, _REQUEST_ID = _REQUEST_RAW.index("stream"), _REQUEST_RAW.index("request_id")


def _ns_column(values) -> tuple[np.ndarray, np.ndarray]:
    """int64 ns (0 where None) and the mask of known values: differences stay exact."""
    try:                            # no None: most time columns
        known_all = np.array(values, dtype=np.int64)
        return known_all, np.ones(len(known_all), dtype=bool)
    except TypeError:
        objects = np.array(values, dtype=object)
        known = objects != None     # noqa: E711 -- element-wise
        return np.where(known, objects, 0).astype(np.int64), known


def _utc(ns: np.ndarray, known: np.ndarray):
    """int ns since the epoch as a datetime64[ns, UTC] array (NaT where not known): exact."""
    stamps = np.where(known, ns, np.iinfo(np.int64).min).view("M8[ns]")  # int64 min = NaT
    return pd.array(stamps, dtype=pd.DatetimeTZDtype("ns", "UTC"))


def _request_frame(rows: list[tuple]) -> pd.DataFrame:
    """The requests table of :func:`_rows`' request rows."""
    return pd.DataFrame(_request_columns(rows), columns=[c.name for c in REQUEST_COLUMNS],
                        copy=False)


def _request_columns(rows: list[tuple], parts: list | None = None,
                     acks: tuple | None = None) -> dict:
    """The requests table's columns (name -> typed array) from :func:`_rows`' request rows,
    network parts (None: no rows) and ACK round trip look-up (see :func:`_ack_rtt`)."""
    raw = dict(zip(_REQUEST_RAW, map(list, zip(*rows)))) if rows else {
        k: [] for k in _REQUEST_RAW}
    ns = {k: _ns_column(raw[k]) for k in ("req_start", "req_end", "resp_start", "resp_end",
                                            "tcp_handshake", "tls_handshake", "h2_setup")
}
    def seconds(k):
        v, known = ns[k]
        return np.where(known, v / 1e9, np.nan)
    def ms(k):
        v, known = ns[k]
        return np.where(known, v / 1e6, np.nan)
    def diff(a, b, after=None):
        # b - a where both are known and the packets' time stamps are in causal order
        # (b not before a; for wait_ms: the response not before the request's start)
        (va, ka), (vb, kb) = ns[a], ns[b]
        va_, ka_ = ns[after] if after else (va, ka)
        ok = ka & kb & (~ka_ | (vb >= va_))
        return np.where(ok, (vb - va) / 1e6, np.nan)
    derived = {"request_start": seconds("req_start"), "request_end": seconds("req_end"),
               "response_start": seconds("resp_start"), "response_end": seconds("resp_end"),
               "request_start_utc": _utc(*ns["req_start"]), "request_end_utc": _utc(*ns["req_end"]),
               "response_start_utc": _utc(*ns["resp_start"]),
               "response_end_utc": _utc(*ns["resp_end"]),
               "request_ms": diff("req_start", "req_end"),
               "wait_ms": diff("req_end", "resp_start", after="req_start"),
               "response_ms": diff("resp_start", "resp_end"),
               "total_ms": diff("req_start", "resp_end"),
               "tcp_handshake_ms": ms("tcp_handshake"), "tls_handshake_ms": ms("tls_handshake"),
               "h2_setup_ms": ms("h2_setup")}
    derived.update(network_columns(parts or [], derived["request_ms"], derived["response_ms"]))
    if acks is not None and rows:
        _ack_rtt(derived, ns, parts, acks)
    if any(m is not None for m in raw["messages"]):      # a streamed request (else all empty)
        raw.update(message_stats(raw["messages"], raw["req_end"]))
    else:
        raw.update(dict.fromkeys(MESSAGE_STAT_COLUMNS, [None] * len(raw["messages"])))
    return _typed_columns(REQUEST_COLUMNS, raw, derived)


def _message_columns(rows: list[tuple]) -> dict:
    """The messages table's columns (name -> typed array) from :func:`message_rows`' rows."""
    raw = dict(zip(MESSAGE_RAW, map(list, zip(*rows)))) if rows else {k: [] for k in MESSAGE_RAW}
    derived = {}
    for name, key in (("start", "start_ns"), ("end", "end_ns")):
        v, known = _ns_column(raw[key])
        derived[name] = np.where(known, v / 1e9, np.nan)
    return _typed_columns(MESSAGE_COLUMNS, raw, derived)


def _message_frame(rows: list[tuple]) -> pd.DataFrame:
    """The messages table of :func:`message_rows`' rows."""
    return pd.DataFrame(_message_columns(rows), columns=[c.name for c in MESSAGE_COLUMNS],
                        copy=False)


def _typed_columns(columns, raw: dict, derived: dict) -> dict:
    """name -> array of each of ``columns``: from ``derived`` (arrays) or ``raw`` (lists),
    typed as the column says."""
    return {col.name: _typed(derived[col.name] if col.name in derived else raw[col.name],
                             col.dtype) for col in columns}


def _typed(values, dtype: str):
    """``values`` as an array of the table dtype ``dtype`` (numpy for float64 and int64, a
    pandas extension array for the nullable and string types)."""
    if isinstance(values, pd.api.extensions.ExtensionArray) and str(values.dtype) == dtype:
        return values                # made typed already (the network columns)
    if dtype == "float64":
        return np.asarray(values, dtype=np.float64)
    if dtype == "int64":
        return np.asarray(values, dtype=np.int64)
    if dtype == UTC_DTYPE and not len(values):
        return pd.array(np.zeros(0, "M8[ns]"), dtype=pd.DatetimeTZDtype("ns", "UTC"))
    if dtype == "string" and _ARROW_STRINGS:
        try:                        # what pd.array makes, in half its time
            return pd.arrays.ArrowStringArray(pa.array(values, type=pa.large_string()))
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            pass                    # not all str: pd.array converts them as it does
    return pd.array(values, dtype=dtype)


#: Whether pandas keeps "string" columns in Arrow (pandas 3; pandas 2 by option).
_ARROW_STRINGS = isinstance(pd.array([], dtype="string"), pd.arrays.ArrowStringArray)


#: The raw connection row: the table's columns, with times as int ns where the table has
#: seconds or milliseconds (converted column-wise in :func:`_connection_frame`).
_CONNECTION_RAW = ("connection", "client", "server", "protocol", "tls", "tls_version", "alpn",
                   "sni", "syn", "start_seen", "first", "last", "tcp_handshake",
                   "tls_handshake", "h2_setup", "requests", "packets", "bytes_to_server",
                   "bytes_to_client", "retransmissions", "missing_bytes", "retrans_bytes",
                   "out_of_order", "dup_acks", "zero_windows", "mss_client", "mss_server",
                   "wscale_client", "wscale_server", "sack_permitted",
                   "max_in_flight_to_server_bytes", "max_in_flight_to_client_bytes",
                   "rtt_client", "rtt_server", "vantage", "end", "warnings")


def _connection_row(c: Connection, r: ConnectionResult, n_requests: int, client: str,
                    server: str, warnings: list, setup: tuple, rtt: tuple | None = None) -> tuple:
    """``setup``: the TCP handshake, TLS handshake and HTTP/2 setup spans of
    :func:`_setup_times`; ``rtt``: the handshake's client- and server-side round trips (ns)."""
    up, down = c.to_server, c.to_client
    missing = 0
    for st in (up, down):
        for g in st.gaps():
            missing += g.end - g.start
        for s, e in st.uncaptured:
            missing += e - s
    retrans = retrans_bytes = ooo = 0
    if up.delivery is not None or down.delivery is not None:
        for st in (up, down):
            if st.delivery is not None:
                retrans += len(st.delivery.retrans_t)
                retrans_bytes += sum(st.delivery.retrans_bytes)
                ooo += st.delivery.out_of_order
    (mss_c, mss_s, ws_c, ws_s, sack, dup_acks, zero_windows, flight_up,
     flight_down, control) = c.net or _NO_NET
    retrans += control
    if c.swapped:
        flight_up, flight_down = flight_down, flight_up
    rtt_client, rtt_server = rtt if rtt is not None else (c.rtt_client_ns, c.rtt_server_ns)
    return (c.index, client, server, r.protocol, r.tls, r.tls_version, r.alpn, r.sni,
            c.syn_ns, c.syn_seen, c.first_ns, c.last_ns, *setup, n_requests, c.packets, up.nbytes, down.nbytes,
            retrans, missing, retrans_bytes, ooo, dup_acks, zero_windows, mss_c, mss_s, ws_c,
            ws_s, sack, flight_up, flight_down, rtt_client, rtt_server,
            _vantage(rtt_client, rtt_server), c.end, "; ".join(warnings) if warnings else "")


#: :attr:`Connection.net` of a connection not built by build_connections: nothing known.
_NO_NET = (None, None, None, None, None, 0, 0, None, None, 0)


def _vantage(rtt_client: int | None, rtt_server: int | None) -> str:
    """Which host the capture point is nearer, from the handshake's two round trips: "client",
    "server", or "" (not known, or the same)."""
    if rtt_client is None or rtt_server is None or rtt_client == rtt_server:
        return ""
    return "client" if rtt_client < rtt_server else "server"


def _connection_frame(rows: list[tuple]) -> pd.DataFrame:
    """The connections table of :func:`_connection_row` tuples."""
    return pd.DataFrame(_connection_columns(rows), columns=[c.name for c in CONNECTION_COLUMNS],
                        copy=False)


def _connection_columns(rows: list[tuple]) -> dict:
    """The connections table's columns (name -> typed array) from :func:`_connection_row`
    tuples."""
    raw = dict(zip(_CONNECTION_RAW, map(list, zip(*rows)))) if rows else {
        k: [] for k in _CONNECTION_RAW}
    ns = {k: _ns_column(raw[k]) for k in ("syn", "first", "last", "tcp_handshake",
                                            "tls_handshake", "h2_setup", "rtt_client",
                                            "rtt_server")}

    def seconds(k):
        v, known = ns[k]
        return np.where(known, v / 1e9, np.nan)

    def ms(k):
        v, known = ns[k]
        return np.where(known, v / 1e6, np.nan)
    (first, kf), (last, kl) = ns["first"], ns["last"]
    derived = {"syn_time": seconds("syn"), "first_time": seconds("first"),
               "last_time": seconds("last"), "syn_utc": _utc(*ns["syn"]),
               "first_utc": _utc(*ns["first"]), "last_utc": _utc(*ns["last"]),
               "duration_ms": np.where(kf & kl, (last - first) / 1e6, np.nan),
               "tcp_handshake_ms": ms("tcp_handshake"), "tls_handshake_ms": ms("tls_handshake"),
               "h2_setup_ms": ms("h2_setup"), "rtt_client_ms": ms("rtt_client"),
               "rtt_server_ms": ms("rtt_server")}
    return _typed_columns(CONNECTION_COLUMNS, raw, derived)


# -- summaries ----------------------------------------------------------------------------------
def phase_summary(requests: pd.DataFrame) -> pd.DataFrame:
    """Per protocol: count, and p50/p90/p99 (ms) of each phase column that has values."""
    rows = []
    for proto, g in requests.groupby("protocol", sort=True):
        row = {"protocol": proto, "requests": len(g), "complete": int(g["complete"].sum())}
        for col in PHASE_COLUMNS:
            v = g[col].dropna().to_numpy(dtype=float)
            for q in (50, 90, 99):
                row[f"{col}_p{q}"] = float(np.percentile(v, q)) if len(v) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def format_summary(a: Analysis) -> str:
    """Plain text: capture facts, then per protocol a table of phase percentiles (ms)."""
    st = a.capture
    lines = [f"{a.path}: {st.packets} packets ({st.tcp_packets} TCP), "
             f"{len(a.connections)} connections, {len(a.requests)} requests"]
    drops = {k: v for k, v in (st.drops or {}).items() if v}
    if drops:
        lines.append(f"capture drop counters: {drops}")
    summary = a.summary()
    for _, row in summary.iterrows():
        lines.append("")
        lines.append(f"{row['protocol']}: {row['requests']} requests "
                     f"({row['complete']} complete)")
        lines.append(f"  {'phase':<18}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}")
        for col in PHASE_COLUMNS:
            vals = [row[f"{col}_p{q}"] for q in (50, 90, 99)]
            if all(np.isnan(v) for v in vals):
                continue
            lines.append(f"  {col:<18}" + "".join(f"{v:>10.3f}" for v in vals))
    if a.warnings:
        lines.append("")
        lines.append(f"{len(a.warnings)} warnings; first ones:")
        lines += [f"  - {w}" for w in a.warnings[:5]]
    return "\n".join(lines)
