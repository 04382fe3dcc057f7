"""The C library's functions through ctypes, for the few calls Python has no wrapper for
(``madvise`` ranges of numpy's memory, ``malloc_trim``, ``mallopt``): one loader, each function
looked up once, None where the C library has none (not glibc, say).  A foreign call through
ctypes lets go of the GIL while it runs."""
from __future__ import annotations

import ctypes
import functools


@functools.cache
def libc_function(name: str, argtypes: tuple, restype):
    """The C library's function ``name`` as a ctypes function of those argument and result
    types, or None where the library has none."""
    try:
        fn = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = list(argtypes), restype
    return fn
