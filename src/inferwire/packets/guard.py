"""A capture that shrinks while it is read: a clear error instead of a silent SIGBUS death.

Captures are memory-mapped.  When another program truncates or rewrites the file (a rotating
capture, a copy being overwritten), touching a page past the new end raises SIGBUS, which killed
the process without a word (exit 135).  :func:`install` puts a C handler in place (the
``inferwire.packets._guard`` extension) that lets such a read complete with zeros and counts it;
:func:`check` then turns the shrink into a :class:`CaptureFormatError` naming the file and both
sizes.  Without the extension (no C compiler at install) the old behaviour remains.
"""
from __future__ import annotations

import os

from ..errors import CaptureFormatError

try:
    from . import _guard
except ImportError:          # pragma: no cover - built by setup.py wherever gcc exists
    _guard = None


def install() -> bool:
    """Install the SIGBUS handler in this process (idempotent; forked workers inherit it).
    False when the C extension is missing."""
    if _guard is None:
        return False
    _guard.install()
    return True


def faults() -> int:
    """Reads past the end of a mapped file this process survived so far."""
    return _guard.faults() if _guard is not None else 0


def check(path: str, mapped_bytes: int, faults_before: int) -> None:
    """CaptureFormatError if ``path`` (mapped with ``mapped_bytes``) is now shorter, or if a read
    past a mapped file's end happened here since ``faults_before`` (:func:`faults`)."""
    try:
        size = os.stat(path).st_size
    except OSError:
        size = None
    if size is not None and size >= mapped_bytes and faults() == faults_before:
        return
    now = "is gone" if size is None else f"is now {size}"
    raise CaptureFormatError(
        f"the file changed while it was read (it was {mapped_bytes} bytes and {now}; another "
        "program truncated, rotated or rewrote it): no table is given from bytes that changed "
        "under the reader; analyze a copy that no program writes to (e.g. a finished "
        "ring-buffer file, or `cp` it first)", path=path,
        offset=size if size is not None and size < mapped_bytes else None)
