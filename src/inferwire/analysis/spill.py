"""A capture read straight into buckets on disk, so that memory does not grow with its size.

:func:`read_bucketed` walks the capture like :func:`~inferwire.packets.read_packets`, but instead
of keeping every TCP packet's columns it hands each decoded chunk's rows to their bucket (the same
hash of the 4-tuple as :func:`inferwire.analysis.buckets.bucket_ids`, so a connection and every reuse of
its 4-tuple land in one bucket) and appends them to that bucket's file in a private temporary
folder.  The analysis then loads one bucket at a time (:meth:`SpilledCapture.bucket`): resident
memory is one chunk while reading and one bucket while analyzing, whatever the capture's size.
The spill holds only header columns (:data:`RECORD`, 134 bytes per TCP packet, no payload); payload bytes
stay in the mapped capture.
"""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .buckets import bucket_ids
from ..errors import InferwireError, InferwireWarning
from ..files import owned_tempdir
from ..packets import guard
from ..packets.reader import COLUMNS, decoded_chunks, map_capture
from ..packets.table import CaptureStats, PacketTable, release_pages
from ..tcp.sorting import stable_argsort

#: Capture file bytes per bucket: about 17,000 packets of loopback traffic at full payloads, at
#: most 170,000 packets of 100-byte records.  Fewer bytes per bucket cost more per-bucket
#: overhead; more cost working memory while a bucket is analyzed.
BUCKET_FILE_BYTES = 16 << 20
#: Rows kept back before they are appended to the bucket files (about 30 MB).
FLUSH_ROWS = 1 << 18
#: Files at least this big are read into buckets on disk under ``spill="auto"``; smaller ones
#: are read into memory (:func:`~inferwire.packets.read_packets`), which needs about 126 bytes
#: per TCP packet plus the working memory of the analysis.
AUTO_SPILL_BYTES = 512 << 20
#: The spill folders' names: this, the process id, a random part (a killed process's folder is
#: removed by the next spill: :func:`~inferwire.files.owned_tempdir`).
SPILL_PREFIX = "inferwire-spill-"

_NAMES = tuple(COLUMNS) + ("row",)
#: One spilled packet: the PacketTable columns and its row number in the whole capture, packed.
RECORD = np.dtype([(name, COLUMNS.get(name, np.int64)) for name in _NAMES])

def spill_wanted(path, spill) -> bool:
    """Whether to read ``path`` into buckets on disk: ``spill`` True/False, or "auto" (files of
    :data:`AUTO_SPILL_BYTES` or more)."""
    if spill not in (True, False, "auto"):
        raise InferwireError(f"spill must be True, False or 'auto', not {spill!r}")
    if spill != "auto":
        return spill
    try:
        return os.path.getsize(path) >= AUTO_SPILL_BYTES
    except OSError:
        return False          # read_packets names the problem


def bucket_count_for(file_bytes: int, workers: int) -> int:
    """Buckets for a capture of ``file_bytes``: one per :data:`BUCKET_FILE_BYTES`, and at least
    eight per worker so that the processes share them out evenly."""
    return max(1, -(-file_bytes // BUCKET_FILE_BYTES), 8 * workers if workers > 1 else 1)


@dataclass
class SpilledCapture:
    """The TCP packets of one capture, cut into buckets of whole 4-tuples kept on disk.

    Has what the analysis needs of a :class:`~inferwire.packets.PacketTable` (``path``,
    ``buffer``, ``stats``, ``len()``, :meth:`release`) and, instead of the columns,
    :meth:`bucket`.  Close it (or use it in a ``with``) to remove the folder and release the map.
    """
    path: str
    buffer: object
    stats: CaptureStats
    directory: Path
    counts: list = field(default_factory=list)    # TCP rows per bucket

    def __len__(self) -> int:
        return sum(self.counts)

    def bucket(self, b: int) -> tuple[PacketTable, np.ndarray]:
        """Bucket ``b``'s packets as a table (file order) and their row numbers in the whole
        capture's TCP packets (what :func:`~inferwire.analysis.buckets.order_keys` needs)."""
        file = self.directory / f"{b}.cols"
        records = (np.fromfile(file, dtype=RECORD) if self.counts[b]
                   else np.zeros(0, dtype=RECORD))       # one read, however many flushes
        cols = {name: np.ascontiguousarray(records[name]) for name in _NAMES}
        del records
        rows = cols.pop("row")
        return PacketTable(path=self.path, buffer=self.buffer, stats=self.stats, **cols), rows

    def buckets(self) -> "SpilledBuckets":
        """The non-empty buckets, as the analysis takes them (like
        :class:`~inferwire.analysis.buckets.TableBuckets`)."""
        return SpilledBuckets(self)

    def release(self, end_offset: int | None = None, start: int = 0) -> None:
        """Drop the capture's mapped pages in ``[start, end_offset)`` from this process's
        memory (see PacketTable)."""
        if not getattr(self.buffer, "closed", True):
            release_pages(self.buffer, start,
                          len(self.buffer) if end_offset is None else end_offset)

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        try:
            self.buffer.close()
        except BufferError:
            pass  # a payload view is still alive; the map goes when it is collected

    def __enter__(self) -> "SpilledCapture":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SpilledBuckets:
    """The non-empty buckets of a :class:`SpilledCapture`: ``weights`` (packets per bucket) and
    ``bucket(b)`` -> (its table, its rows in the whole capture)."""

    def __init__(self, spilled: SpilledCapture):
        self.spilled = spilled
        self.ids = [b for b, n in enumerate(spilled.counts) if n]
        self.weights = [spilled.counts[b] for b in self.ids]

    def bucket(self, b: int):
        return self.spilled.bucket(self.ids[b])


def read_bucketed(path, n_buckets: int, directory=None) -> SpilledCapture:
    """Read every TCP packet of ``path`` into ``n_buckets`` buckets on disk.

    ``directory``: where the private spill folder is made (default: the system's temporary
    folder, ``TMPDIR``).  Errors and warnings are those of
    :func:`~inferwire.packets.read_packets`; a full disk is an :class:`InferwireError` naming
    the folder and about how much room the spill needs.  The folder is removed on any error.
    """
    path = os.fspath(path)
    faults = guard.faults()
    buf, stats = map_capture(path)
    try:
        folder = owned_tempdir(SPILL_PREFIX, directory)          # 0700
    except OSError as exc:
        buf.close()
        raise InferwireError(f"cannot make a spill folder in {directory or tempfile.gettempdir()}"
                             f": {exc.strerror or exc}") from exc
    spilled = SpilledCapture(path, buf, stats, folder, [0] * n_buckets)
    try:
        _spill(spilled, n_buckets)
        guard.check(path, len(buf), faults)
        for message in stats.warnings:      # inside: a warning made an error removes the folder
            warnings.warn(message, InferwireWarning, stacklevel=2)
    except OSError as exc:
        spilled.close()
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            need = os.path.getsize(path) // 8 >> 20
            raise InferwireError(f"no space left in {folder.parent} for the analysis's spill "
                                 f"files (about {need} MB for {path}): free some, or point "
                                 "TMPDIR (or spill_dir=) at a disk with room") from None
        raise InferwireError(f"cannot write the spill files in {folder}: "
                             f"{exc.strerror or exc}") from exc
    except BaseException:
        spilled.close()
        raise
    return spilled


def _spill(spilled: SpilledCapture, n: int) -> None:
    """Decode the capture chunk by chunk and append each bucket's rows to its file."""
    pending: list[list[dict]] = [[] for _ in range(n)]
    held = row0 = 0
    for cols in decoded_chunks(spilled.buffer, spilled.stats):
        rows = len(cols["frame"])
        if not rows:
            continue
        cols["row"] = np.arange(row0, row0 + rows, dtype=np.int64)
        row0 += rows
        ids = bucket_ids(cols["src_hi"], cols["src_lo"], cols["sport"], cols["dst_hi"],
                         cols["dst_lo"], cols["dport"], n)
        order = stable_argsort(ids)                     # file order within each bucket
        cuts = np.searchsorted(ids[order], np.arange(n + 1))
        for b in np.flatnonzero(cuts[1:] > cuts[:-1]).tolist():
            take = order[cuts[b]:cuts[b + 1]]
            pending[b].append({name: cols[name][take] for name in _NAMES})
            spilled.counts[b] += len(take)
        held += rows
        if held >= FLUSH_ROWS:
            _flush(spilled.directory, pending)
            held = 0
    _flush(spilled.directory, pending)


def _flush(folder: Path, pending: list[list[dict]]) -> None:
    """Append each bucket's pending rows to its file as packed :data:`RECORD` s."""
    for b, parts in enumerate(pending):
        if not parts:
            continue
        records = np.empty(sum(len(p["row"]) for p in parts), dtype=RECORD)
        for name in _NAMES:
            records[name] = np.concatenate([p[name] for p in parts])
        with open(folder / f"{b}.cols", "ab") as f:
            f.write(records.data)        # (tofile hides the errno of a full disk)
        parts.clear()
