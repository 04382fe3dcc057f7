"""What kind of file a path is (for the inputs inferwire reads whole: captures, key logs), and
files only their owner may read (for what holds payloads or secrets: captures, annotated
captures, HAR, tool request bodies, TLS key logs, run and report folders)."""
from __future__ import annotations

import os
import stat
from pathlib import Path

#: Modes of what holds payloads or secrets: files 0600, folders 0700.
PRIVATE_FILE, PRIVATE_DIR = 0o600, 0o700


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


def open_private(path: str | os.PathLike, mode: str = "wb", **kwargs):
    """``open(path, mode)`` of a file created 0600, or made 0600 before anything is written when
    it already exists (``mode``: "w", "wb", "x", "xb", "a", "ab", with ``encoding`` etc.)."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    flags |= {"w": os.O_TRUNC, "x": os.O_EXCL, "a": os.O_APPEND}[mode[0]]
    fd = os.open(path, flags, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def make_private(paths) -> None:
    """chmod each of ``paths`` 0600 (files) or 0700 (folders, and every file and folder below
    them); paths that vanished are skipped."""
    for p in map(Path, paths):
        try:
            if p.is_dir() and not p.is_symlink():
                os.chmod(p, PRIVATE_DIR)
                make_private(p.iterdir())
            elif p.is_file() and not p.is_symlink():
                os.chmod(p, PRIVATE_FILE)
        except FileNotFoundError:
            continue
