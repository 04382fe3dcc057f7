"""A scoped switch of Arrow's default memory pool to the C library's ``malloc`` while
:func:`~inferwire.analyze` runs, for the analysis's large, short-lived Arrow buffers.

pyarrow's default pool (mimalloc in the wheels) gave the messages table's text columns (a
million rows: some 50 MB of Arrow strings, made in each worker and joined again in this
process) pages that were new to the process on nearly every call, each faulted in at its
first touch (0.75 ms a MiB on this VM, more for the huge pages mimalloc asks for): with one
worker on the 1 M-message streaming capture, 0.05-0.17 s making those columns against 0.03 s
on ``malloc``.  The CLI already runs on ``malloc`` (``ARROW_DEFAULT_MEMORY_POOL=system``,
:data:`inferwire.cli.ARROW_POOL`); :func:`system_pool` gives ``analyze()`` called from a
program the same, and puts the program's pool back after: Arrow buffers made inside are freed
to ``malloc`` whenever they go.  ``ARROW_DEFAULT_MEMORY_POOL`` set in the environment (Arrow's
own switch) is the user's choice and is left as it is.  Measured in docs/bench-analyze.md
("Issues 19 and 20, a seventh pass").
"""
from __future__ import annotations

import os
from contextlib import contextmanager

import pyarrow as pa


@contextmanager
def system_pool():
    """Arrow's default memory pool is ``malloc``'s inside the block (unless
    ``ARROW_DEFAULT_MEMORY_POOL`` is set), the previous one back after; nestable."""
    if "ARROW_DEFAULT_MEMORY_POOL" in os.environ:
        yield
        return
    was = pa.default_memory_pool()
    try:
        pa.set_memory_pool(pa.system_memory_pool())
    except (pa.ArrowException, NotImplementedError):      # (no such pool in this build)
        yield
        return
    try:
        yield
    finally:
        pa.set_memory_pool(was)
