"""A scoped switch-off of numpy's huge page advice, for the analysis's large, short-lived arrays.

numpy asks the kernel for transparent huge pages (``madvise(MADV_HUGEPAGE)``) for every array of
4 MiB or more.  Where THP is "madvise" (Debian's default, this machine's) each first touch of such
an array's 2 MiB then takes a whole huge page: the kernel may first compact memory to find one
(THP ``defrag`` "madvise" stalls the faulting thread for it), and on a VM whose freed memory goes
back to the host (virtio-balloon free page reporting, as on this machine: its reports are of
2 MiB blocks and up) the host must back the page anew, 3.5-9 ms each here, against 0.75 ms a MiB
for ordinary 4 KiB pages.  The analysis makes its big arrays (a million messages' columns, the
packet table of a large capture) once and reads them a few times: the TLB misses huge pages would
save are worth less than that.  :func:`small_pages` turns the advice off while a block runs and
restores it after; ``NUMPY_MADVISE_HUGEPAGE`` set in the environment (numpy's own switch) is the
user's choice and is left as it is.  Measured in docs/bench-analyze.md ("Huge pages").
"""
from __future__ import annotations

import os
from contextlib import contextmanager

try:                    # numpy 2
    from numpy._core.multiarray import _set_madvise_hugepage
except ImportError:     # numpy 1.26
    try:
        from numpy.core.multiarray import _set_madvise_hugepage
    except ImportError:     # (a numpy without the switch: nothing to turn off)
        _set_madvise_hugepage = None


@contextmanager
def small_pages():
    """numpy's huge page advice off inside the block (unless ``NUMPY_MADVISE_HUGEPAGE`` is set),
    its previous state back after; nestable."""
    if _set_madvise_hugepage is None or "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        yield
        return
    was = _set_madvise_hugepage(False)
    try:
        yield
    finally:
        _set_madvise_hugepage(was)
