"""One direction's TCP segments as columns, and the direction reassembled from them.

The directions whose segments overlap or arrive out of order (retransmissions, reordering; on
loopback, captures whose time stamps are not in sending order) are reassembled segment by
segment: every byte keeps the first copy captured (:meth:`DirectionStream.add`).  That loop runs
in C (``_segments.c``, built by setup.py) over the columns, one call per direction; without the
extension, or for the reference, :meth:`DirectionStream.add` is called for each segment (the same
result: ``tests/tcp/test_segments_c.py`` compares them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .stream import DirectionStream, int64s

try:              # DirectionStream.add over a whole direction in C (_segments.c); same results
    from ._segments import reassemble as _c_reassemble
except ImportError:
    _c_reassemble = None


def accelerated() -> bool:
    """True when directions are reassembled in C (the ``inferwire.tcp._segments`` extension
    was built); False when Python does it (same results, slower)."""
    return _c_reassemble is not None


@dataclass
class Segments:
    """One direction's segments in capture-time order, int64 columns of equal length: stream
    offset, wire (payload) length, captured length, capture time (ns; -1 unknown), frame, and
    the offset of the first captured byte in the capture's buffer."""

    off: np.ndarray
    wire: np.ndarray
    cap: np.ndarray
    t: np.ndarray
    frame: np.ndarray
    src: np.ndarray

    def __len__(self) -> int:
        return len(self.off)

    def tuples(self) -> list[tuple]:
        """The segments as :meth:`DirectionStream.add`'s argument tuples (Python ints)."""
        return list(zip(*(c.tolist() for c in self.columns())))

    def columns(self) -> tuple:
        return self.off, self.wire, self.cap, self.t, self.frame, self.src


def reassembled(buffer, segments: Segments, use_c: bool = True) -> DirectionStream:
    """The DirectionStream of ``segments`` (their bytes in ``buffer``): as calling
    :meth:`DirectionStream.add` for each, in C when built (``use_c`` False: in Python)."""
    s = DirectionStream(buffer)
    if _c_reassemble is None or not use_c:
        for args in segments.tuples():
            s.add(*args)
        return s
    cols = [np.ascontiguousarray(c, dtype=np.int64) for c in segments.columns()]
    (starts, ends, times, frames, srcs, s.retransmitted_segments, s.retransmitted_bytes,
     s.differing_segments, uncaptured) = _c_reassemble(buffer, *cols)
    s.set_pieces(*(_int64s(b) for b in (starts, ends, times, frames, srcs)))
    cut = np.frombuffer(uncaptured, dtype=np.int64).tolist()
    s.uncaptured = list(zip(cut[0::2], cut[1::2]))
    return s


def _int64s(raw: bytes):
    out = int64s()
    out.frombytes(raw)
    return out
