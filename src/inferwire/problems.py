"""Problems found in the bytes: the one way every stage of the core reports them.

A parser, an assembler or an exchange builder that meets something odd keeps the facts it is
sure of and appends a :class:`Problem` to a list: one the caller passes (``warnings`` of the
exchange builders), or one the result carries (``TlsRecordParser.problems``,
``TlsSession.problems``, ``H2Conversation.warnings``, ``KeyLog.warnings``).  Nothing in the core
calls :func:`warnings.warn`: the analysis turns the problems into its warning lines
(:func:`lines`), and only the public entry points and the shell hand lines to Python's warnings.
"""
from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Problem:
    """One problem.  ``str(problem)`` is its warning line (``message``), as the analysis lists it.

    ``connection``: the connection's ``"client -> server"`` addresses, None when the reporter
    does not know it (the parsers and exchange builders never do: the analysis puts the
    connection's number and addresses in front of each line); ``direction``: ``"client"`` for the
    client->server bytes, ``"server"`` for the server->client ones, None for both or neither;
    ``offset``: the stream offset (bytes) in that direction where the problem is, None when it
    has no single place; ``field``: the protocol field or part concerned (``"length"``,
    ``"HEADERS"``, ``"grpc-status"``, ``"keylog"``), None when none applies.
    """

    message: str
    connection: str | None = None
    direction: str | None = None
    offset: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        return self.message

    def labelled(self, label: str) -> Problem:
        """The same problem with ``label: `` before its message (e.g. ``"TLS client"``)."""
        return replace(self, message=f"{label}: {self.message}")


def lines(problems) -> list[str]:
    """The warning lines of ``problems`` (Problems, or lines already), in order."""
    return [str(p) for p in problems]
