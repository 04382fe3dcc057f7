"""What a format reader (pcap, pcapng) hands to the decoder: the packet records of one stretch of
the file as columns.  No packet bytes are copied: ``data_off`` points into the file buffer."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# A record or block longer than this is taken as a corrupt length field, not as a real packet.
MAX_RECORD = 256 * 1024 * 1024

# A chunk ends after this many records or bytes of file, whichever comes first: this bounds the
# temporary arrays of the vectorised decode (~100 bytes per record) and the file pages resident
# at once (pages are released chunk by chunk).
CHUNK_RECORDS = 1 << 16
CHUNK_BYTES = 32 << 20


@dataclass
class RecordChunk:
    """Consecutive packet records: one row per record, all int64 except ``iface`` (int32).

    ``ts_ns`` is ns since the epoch (-1 where the record has no time stamp), ``data_off`` the
    offset of the first packet byte in the file, ``caplen`` the bytes present there, ``origlen``
    the length on the wire.  ``end`` is the file offset just after the last record read.
    """
    frame: np.ndarray
    data_off: np.ndarray
    caplen: np.ndarray
    origlen: np.ndarray
    ts_ns: np.ndarray
    iface: np.ndarray
    end: int

    def __len__(self) -> int:
        return len(self.frame)

    @staticmethod
    def join(chunks: list["RecordChunk"]) -> "RecordChunk":
        """Consecutive chunks (in file order) as one; ``end`` is the last one's."""
        if len(chunks) == 1:
            return chunks[0]
        cols = [np.concatenate([getattr(c, name) for c in chunks])
                for name in ("frame", "data_off", "caplen", "origlen", "ts_ns", "iface")]
        return RecordChunk(*cols, end=chunks[-1].end)

    def take(self, keep: np.ndarray) -> "RecordChunk":
        """The rows selected by a boolean mask or an index array."""
        return RecordChunk(self.frame[keep], self.data_off[keep], self.caplen[keep],
                           self.origlen[keep], self.ts_ns[keep], self.iface[keep], self.end)


def read_at(u8: np.ndarray, offsets: np.ndarray, dtype) -> np.ndarray:
    """One value of ``dtype`` (e.g. '>u4', 'V20') read at each byte offset of ``u8``.

    A strided view with a stride of one byte turns the unaligned reads into one fancy index
    (several times faster than gathering the bytes one by one).  Offsets too close to the end
    are clamped: callers check record lengths separately, so this never raises on short data.
    """
    dt = np.dtype(dtype)
    if len(u8) < dt.itemsize:
        return np.zeros(len(offsets), dtype=dt)
    view = np.ndarray((len(u8) - dt.itemsize + 1,), dtype=dt, buffer=u8, strides=(1,))
    return view[np.minimum(offsets, len(u8) - dt.itemsize)]


def gather_rows(u8: np.ndarray, offsets: np.ndarray, width: int) -> np.ndarray:
    """The ``width`` bytes at each offset, as an (N, width) uint8 array (clamped as read_at)."""
    return read_at(u8, offsets, f"V{width}").view(np.uint8).reshape(-1, width)


def words(rows: np.ndarray, dtype: str, out: type = np.int64) -> np.ndarray:
    """Reinterpret each row of an (N, k) uint8 array as words of ``dtype`` (e.g. '>u4'):
    an (N, k // itemsize) array of ``out`` (native byte order)."""
    return np.ascontiguousarray(rows).view(dtype).astype(out)
