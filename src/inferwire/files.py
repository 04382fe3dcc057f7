"""What kind of file a path is (for the inputs inferwire reads whole: captures, key logs),
files only their owner may read (for what holds payloads or secrets: captures, annotated
captures, HAR, tool request bodies, TLS key logs, run and report folders), and temporary
folders that outlive no killed process for long (:func:`owned_tempdir`)."""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
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


def owned_tempdir(prefix: str, directory: str | os.PathLike | None = None) -> Path:
    """A new temporary folder (0700) named ``{prefix}{pid}-...`` in ``directory`` (default: the
    system's temporary folder), after removing the ones of that prefix whose process is gone:
    a process killed with SIGKILL cannot remove its own, so the next one does.  The caller
    removes its folder when done; OSError when it cannot be made."""
    parent = Path(directory or tempfile.gettempdir())
    remove_orphans(parent, prefix)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))


def remove_orphans(parent: Path, prefix: str) -> list[Path]:
    """Remove the folders ``{prefix}{pid}-...`` in ``parent`` whose process ``pid`` no longer
    exists (one that exists, or that this user may not signal, is kept); the folders removed."""
    gone = []
    for folder in Path(parent).glob(f"{prefix}*"):
        pid = folder.name[len(prefix):].split("-")[0]
        if pid.isdigit() and folder.is_dir() and not pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            gone.append(folder)
    return gone


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one this user may not signal counts as existing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
