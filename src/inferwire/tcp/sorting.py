"""Stable sorts of integer keys, by the quickest way numpy has for their range.

numpy's stable sort of 16-bit integers is a radix sort (one pass per byte: O(n)); of wider ones,
a merge sort.  Keys whose range fits 16 bits (a bucket's directions: two per connection) are
sorted as 16-bit offsets from their minimum, 4-6 times quicker (a direction order over 120,000
packets: 0.7 ms against 3.6 ms); several keys are spaced into one int64 where their ranges allow
it, one sort instead of one per key.  The indices are the same in every case.
"""
from __future__ import annotations

import numpy as np

#: Products of key ranges below this are spaced into one int64 key.
MAX_SPACED = 1 << 62


def stable_argsort(key: np.ndarray) -> np.ndarray:
    """``np.argsort(key, kind="stable")`` of integer ``key``s: by radix where their range fits
    16 bits."""
    if len(key) == 0:
        return np.zeros(0, dtype=np.int64)
    low, high = int(key.min()), int(key.max())
    if high - low < 1 << 16:
        return np.argsort(_above(key, low).astype(np.uint16), kind="stable")
    return np.argsort(key, kind="stable")


def _above(key: np.ndarray, low: int) -> np.ndarray:
    """``key - low`` (``low``: the keys' minimum) without wrapping, as int64 (where the range
    fits it) or uint64."""
    if key.dtype.kind == "u":
        return key.astype(np.uint64, copy=False) - np.uint64(low)
    return key.astype(np.int64, copy=False) - np.int64(low)


def stable_order(*keys: np.ndarray) -> np.ndarray:
    """``np.lexsort(keys[::-1])``: the indices sorted by the integer keys (most significant
    first; signed or unsigned, up to 64 bits), ties in index order.  One stable sort of a
    combined key where the keys' ranges fit in int64 (a third of the time of lexsort's pass per
    key, less on the nearly sorted rows it gets here; a key of one value adds nothing)."""
    if not len(keys[0]):
        return np.zeros(0, dtype=np.int64)
    lows, spans, scale = [], [], 1
    for k in keys:
        low = int(k.min())
        lows.append(low)
        spans.append(int(k.max()) - low + 1)
        scale *= spans[-1]
    if scale >= MAX_SPACED:
        return np.lexsort(keys[::-1])
    combined = None
    for k, low, span in zip(keys, lows, spans):
        if span == 1:
            continue
        part = _above(k, low).astype(np.int64, copy=False)
        combined = part if combined is None else combined * span + part
    if combined is None:
        return np.arange(len(keys[0]), dtype=np.int64)
    return stable_argsort(combined)
