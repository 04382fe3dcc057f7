"""A scoped pause of Python's cyclic garbage collector, for stages that build many small objects.

Building tens of thousands of acyclic objects (connections, streams, events) triggers a
collection every few hundred allocations, and each older-generation pass walks every live
container, including the large per-packet lists; on a big capture that was half of the build
time.  Reference counting still frees everything; only cycle detection waits until the end.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def paused_gc():
    """Disable the cyclic GC inside the block; restore the previous state after (nestable)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
