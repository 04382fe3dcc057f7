"""Run a block of code with the calling thread inside a named network namespace.

Linux network namespaces belong to threads: ``setns`` moves only the calling thread, and a
process (or thread) it starts inside the block is born in the namespace.  So the run's main
thread steps into the server's namespace to start the server process, into the client's to start
the capture tool and to send its probe packets, and back out after each, leaving the rest of the
process (its other threads) where it was.  ``ip netns add`` keeps a namespace at
/run/netns/NAME.
"""
from __future__ import annotations

import contextlib
import ctypes
import os

from .profile import NetworkError

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"


def _setns(fd: int, what: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NetworkError(f"cannot enter network namespace {what}: {os.strerror(err)}")


@contextlib.contextmanager
def entered(name: str | None):
    """:func:`inside` namespace ``name``, or where the thread is when ``name`` is None (a
    socket made in the block stays in that namespace after it)."""
    if name is None:
        yield
    else:
        with inside(name):
            yield


@contextlib.contextmanager
def inside(name: str):
    """The block runs with this thread in network namespace ``name``; it comes back out at the
    end, whatever happens.  Nested blocks restore the namespace they were entered from."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            target = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise NetworkError(f"network namespace {name!r} not found ({exc.strerror})") from None
        try:
            _setns(target, name)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(home, "of this thread before")
    finally:
        os.close(home)
