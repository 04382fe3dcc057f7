"""A scoped change of glibc ``malloc``'s thresholds while :func:`~inferwire.analyze` runs: memory
the analysis frees is kept for its next arrays instead of going back to the system at once.

The analysis makes and drops numpy temporaries of a bucket's size (100,000 packets: about 1 MB
each) thousands of times.  glibc maps blocks above an adaptive threshold apart (unmapped when
freed) and trims the heap's top once twice that is free, so many new arrays land on pages new
to the process, each faulted in at its first touch (0.75 ms a MiB on this VM).  Inside
:func:`kept_heap` blocks below :data:`MMAP_THRESHOLD` come from the heap and the heap is not
trimmed on its own (:data:`TRIM_THRESHOLD`), so a freed temporary's pages serve the next one.
The joins of big tables still give the heap's free pages back explicitly
(:func:`.pages.give_back_freed_memory`), which bounds the peak as before; on leaving, the kept
memory goes back too (``malloc_trim``).

glibc cannot return to its adaptive thresholds once they are set, so leaving sets the values
they settle at in a program that frees large arrays (the mapping threshold rises to the largest
freed block, at most 32 MiB on 64-bit systems, the trim threshold to twice it): :data:`AFTER`.
``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_TOP_PAD_`` or
``GLIBC_TUNABLES`` set in the environment are the user's choice and are left as they are; so is
any C library without ``mallopt``.  Measured in docs/bench-analyze.md ("The C heap kept").
"""
from __future__ import annotations

import ctypes
import os
from contextlib import contextmanager

from ..libc import libc_function
from .pages import malloc_trim

#: mallopt's parameter numbers (glibc's malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: Blocks smaller than this (bytes) come from the heap inside :func:`kept_heap` (1 GiB: all the
#: analysis makes; the packet table's columns are a mapping of their own).
MMAP_THRESHOLD = 1 << 30
#: Free bytes at the heap's top that glibc keeps inside :func:`kept_heap` before trimming on
#: its own (1 GiB: never, in practice; the joins of big tables trim explicitly).
TRIM_THRESHOLD = 1 << 30
#: (mapping threshold, trim threshold) set on leaving: what glibc's adaptive values settle at
#: (32 MiB, the adaptive mapping threshold's ceiling on 64-bit systems, and twice it).
AFTER = (32 << 20, 64 << 20)
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                  "GLIBC_TUNABLES")


def _mallopt():
    """glibc's ``mallopt`` as a ctypes function, or None where the C library has none."""
    return libc_function("mallopt", (ctypes.c_int, ctypes.c_int), ctypes.c_int)


@contextmanager
def kept_heap():
    """Freed memory kept in the C heap for reuse inside the block (see the module doc), given
    back on leaving; nestable (only the outermost block changes anything)."""
    global _depth
    mallopt = _mallopt()
    if mallopt is None or _depth or any(k in os.environ for k in _USER_SETTINGS):
        yield
        return
    if not (mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
            and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        yield                       # (refused: nothing else changed that matters)
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        mallopt(M_MMAP_THRESHOLD, AFTER[0])
        mallopt(M_TRIM_THRESHOLD, AFTER[1])
        trim = malloc_trim()
        if trim is not None:
            trim(0)


_depth = 0
