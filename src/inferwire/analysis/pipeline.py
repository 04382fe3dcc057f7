"""``analyze()``: a capture file in, the per-request and per-connection tables out.

capture -> packets (:mod:`inferwire.packets`) -> connections (:mod:`inferwire.tcp`) -> messages
(:mod:`inferwire.protocols`, via :mod:`inferwire.exchanges`) -> rows (:mod:`.rows`) -> tables
(:mod:`.tables`), bucket by bucket (:mod:`.schedule`).
"""
from __future__ import annotations

import os
import re
import warnings as _warnings
from pathlib import Path

from ..errors import InferwireError, InferwireWarning
from ..packets import guard, read_packets
from ..packets.multi import read_many
from ..problems import lines
from ..protocols.tls.keylog import parse_keylog
from ..tcp.gcpause import paused_gc
from ..tcp.grouping import VANTAGES
from .options import Analysis, AnalyzeOptions
from .schedule import capture_tables
from .arrowpool import system_pool
from .keptheap import kept_heap
from .smallpages import small_pages
from .spill import SpilledCapture, bucket_count_for, read_bucketed, spill_wanted
from .workers import resolve_workers

_PROBE_COMMENT = re.compile(r"inferwire probe port (\d{1,5})")


def analyze(path, *, tls_keylog=None, decode_as=None, ignore_ports=(),
            progress: bool = False, workers: int | str | None = "auto",
            spill: bool | str = "auto", spill_dir=None, vantage: str = "auto") -> Analysis:
    """Read a capture and return its per-request and per-connection tables.

    ``path``: a pcap/pcapng file, a list of files, or a directory of them (analyzed as one capture).
    ``ignore_ports``: connections to or from these ports are left out; so are those of the
    capture-liveness probe an inferwire capture names in its section comment (a run folder's
    manifest names it too: :func:`inferwire.runfolder.run_probe_ports`, which the CLI,
    ``load_run`` and ``analyze_many`` add).
    ``workers``: processes that analyze the connections (``"auto"``: one per CPU for captures of
    50,000 TCP packets or more, when this process has no other threads; see
    :mod:`inferwire.analysis.workers`).  The tables are the same whatever the number.
    ``spill``: read a single capture file into buckets on disk instead of memory, so that memory
    does not grow with the capture (:mod:`inferwire.analysis.spill`; ``"auto"``: files of 512 MiB
    or more); ``spill_dir``: where (default: the system's temporary folder).  Same tables either way.
    ``vantage``: "client" or "server" when the capture was taken on that host, "auto" to judge
    it per connection from the handshake (README: how a request's time is split).
    """
    if vantage not in VANTAGES:
        raise InferwireError(f"vantage {vantage!r}: use one of {', '.join(VANTAGES)}")
    options = AnalyzeOptions(tls_keylog=tls_keylog, decode_as=dict(decode_as or {}),
                             ignore_ports=tuple(ignore_ports), progress=progress,
                             workers=workers, spill=spill, spill_dir=spill_dir, vantage=vantage)
    keylog = parse_keylog(options.tls_keylog) if options.tls_keylog is not None else None
    # GC passes over every live connection and event cost 1-1.5 s at 40k requests; huge pages
    # for its large arrays, more than they save (smallpages.py); Arrow's buffers on malloc
    # (arrowpool.py), whose freed blocks are kept for the next ones (keptheap.py)
    with paused_gc(), small_pages(), system_pool(), kept_heap():
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
        bar = _progress_bar(len(table), progress)
        try:
            requests, connections, conn_warnings, messages = capture_tables(
                table, ignore, options, keylog, workers, bar)
        finally:
            if bar is not None:
                bar.close()
        for mapped, size in _mapped_files(table):   # the parsers read payloads from the maps
            guard.check(mapped, size, faults)
    finally:
        if isinstance(table, SpilledCapture):
            table.close()        # the spill folder goes, whatever happened
    warnings = (lines(getattr(keylog, "warnings", ())) + list(table.stats.warnings)
                + conn_warnings + _drop_warnings(table.stats.drops))
    for w in warnings:
        _warnings.warn(w, InferwireWarning, stacklevel=2)
    return Analysis(str(path) if not isinstance(path, (list, tuple)) else ", ".join(map(str, path)),
                    requests, connections, table.stats, warnings, messages)


def _drop_warnings(drops: dict | None) -> list[str]:
    """A warning per interface whose counters say packets were dropped during the capture."""
    out = []
    for iface, d in {k: v for k, v in (drops or {}).items() if v}.items():
        lost = sum(x or 0 for k, x in d.items() if k in ("ifdrop", "osdrop"))
        if lost:
            out.append(f"interface {iface}: {lost} packets dropped during capture "
                       f"(counters {d}); phases of affected requests may be missing")
    return out


def _mapped_files(table) -> list[tuple[str, int]]:
    """(path, bytes mapped) of each file the analysis of ``table`` read payloads from."""
    files = getattr(table, "files", None)         # MultiPacketTable: several files
    if files is not None:
        return list(zip(files.paths, files.sizes))
    return [(table.stats.path, len(table.buffer))]


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


def read_capture(path):
    """One file -> its PacketTable; several files, a directory or a ring-buffer set -> one table
    with connections stitched across files and duplicate packets dropped
    (:func:`inferwire.packets.multi.read_many`)."""
    if isinstance(path, (list, tuple)) or Path(path).is_dir():
        return read_many(path)
    return read_packets(path)


def _progress_bar(total: int, enabled: bool):
    """A tqdm bar over the TCP packets with ``update_to(done)``, or None when not wanted."""
    if not enabled or total == 0:
        return None
    from tqdm import tqdm  # deferred: tqdm (~40 ms to import) only when a bar is shown

    class _Bar(tqdm):
        def update_to(self, done: int) -> None:
            self.update(done - self.n)
    return _Bar(total=total, desc="packets", unit="pkt", unit_scale=True, leave=False)
