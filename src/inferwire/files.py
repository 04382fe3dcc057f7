"""What kind of file a path is, for the inputs inferwire reads whole (captures, key logs)."""
from __future__ import annotations

import stat


def not_regular(mode: int) -> str | None:
    """None for a regular file's ``st_mode``, else what it is ("a directory", "a FIFO or
    pipe", "a socket", "a device", "not a file"): reading a FIFO or a pipe would block or
    read a stream that cannot be mapped, so callers refuse these before opening them."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO or pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"
