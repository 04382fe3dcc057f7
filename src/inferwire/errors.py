"""inferwire's own exception and warning types.

Every error says what was wrong and where: the file, the byte offset, the field, and when it helps,
what to do about it.  Callers catch :class:`InferwireError` to handle all of them.
"""
from __future__ import annotations


class InferwireError(Exception):
    """Base class of every error inferwire raises on purpose."""


class CaptureFormatError(InferwireError):
    """A capture file that cannot be read: wrong magic, truncated block, impossible length.

    ``path`` is the file, ``offset`` the byte offset in it where reading failed (or None), ``field``
    the header field that was wrong (or None).
    """

    def __init__(self, message: str, *, path: str | None = None, offset: int | None = None,
                 field: str | None = None):
        self.path, self.offset, self.field = path, offset, field
        where = []
        if path is not None:
            where.append(str(path))
        if offset is not None:
            where.append(f"offset {offset}")
        if field is not None:
            where.append(f"field {field}")
        super().__init__(f"{': '.join([', '.join(where), message]) if where else message}")


class ProtocolError(InferwireError):
    """Bytes on a stream that do not parse as the protocol they claim to be.

    ``offset`` is the stream offset (bytes from the start of that direction's data) where parsing
    failed.  The analyzer turns these into warnings and keeps the rows that are certain.
    """

    def __init__(self, message: str, *, offset: int | None = None, field: str | None = None):
        self.offset, self.field = offset, field
        where = []
        if offset is not None:
            where.append(f"stream offset {offset}")
        if field is not None:
            where.append(f"field {field}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class CaptureError(InferwireError):
    """Starting, running or stopping a packet capture failed (missing tool, no permission, ...)."""


class ServerError(InferwireError):
    """The model server could not be started, or died, or answered in a way we cannot use."""


class LoadError(InferwireError):
    """The load generator was misconfigured or could not reach the target."""


class InferwireWarning(UserWarning):
    """Something was uncertain or missing; the rows that are certain are still returned."""
