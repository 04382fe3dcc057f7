"""The bytes of streamed HTTP/1.1 bodies kept as the parser reads them (a thin shell over the
parser: runs in, body bytes out).

A streamed response's messages are split after its direction is parsed
(:func:`~.message_columns.bodies_columns`), which read each body again from the capture:
thousands of packet pieces gathered a second time, the mapped pages they lie on brought in and
let go again.  :class:`KeptBodies` wraps the response parser: it keeps the last
:data:`KEEP_WINDOW` bytes of the runs fed to it and, as the parser completes each streamed
response (:func:`~.messages.streamed_body`), copies its body out of them; the split then takes
it from here (:meth:`KeptBodies.pop`) and reads from the capture only a body not kept (longer
than the window, or fed as a view of the capture).  The bytes are those the capture holds, so
the messages are the same either way.
"""
from __future__ import annotations

from collections import deque

from .messages import streamed_body

#: Bytes of the latest runs kept (a body lying wholly in them is copied out when it completes).
KEEP_WINDOW = 4 << 20
#: Bytes of kept bodies held at most per direction; past it, bodies are read from the capture.
KEEP_BUDGET = 32 << 20


class KeptBodies:
    """A response parser (``parser``) whose streamed bodies are kept as it reads them: use it in
    the parser's place (``feed``, ``close``, ``role``), then :meth:`pop` each body by its start."""

    def __init__(self, parser, window: int = KEEP_WINDOW, budget: int = KEEP_BUDGET):
        self.parser, self.role = parser, parser.role
        self.window, self.budget = window, budget
        self._runs: deque = deque()             # (stream offset, bytes) of the latest runs
        self._held = 0                          # bytes in _runs
        self._bodies: dict = {}                 # body start -> its bytes
        self._kept = 0                          # bytes in _bodies

    def feed(self, data, offset: int) -> list:
        if isinstance(data, (bytes, bytearray)):
            self._runs.append((offset, data))
            self._held += len(data)
            while self._held - len(self._runs[0][1]) >= self.window:
                self._held -= len(self._runs.popleft()[1])
        else:                                   # a view of the capture: never held on to
            self._runs.clear()
            self._held = 0
        messages = self.parser.feed(data, offset)
        for msg in messages:
            body = streamed_body(msg)
            if body is not None:
                self._keep(body[0], body[1])
        return messages

    def close(self, offset: int) -> list:
        return self.parser.close(offset)

    def pop(self, start: int) -> bytes | None:
        """The kept body that begins at stream offset ``start`` (taken out), or None."""
        body = self._bodies.pop(start, None)
        if body is not None:
            self._kept -= len(body)
        return body

    def _keep(self, start: int, end: int) -> None:
        """Copy the body at stream offsets ``[start, end)`` out of the runs, when they hold all
        of it and the budget allows."""
        if end <= start or self._kept + end - start > self.budget or not self._runs or \
                self._runs[0][0] > start:
            return
        parts = []
        for offset, data in self._runs:
            stop = offset + len(data)
            if stop <= start:
                continue
            if offset >= end:
                break
            parts.append(memoryview(data)[max(start - offset, 0):min(end, stop) - offset])
        if sum(len(p) for p in parts) != end - start:
            return                              # (the runs end before the body: not kept)
        self._bodies[start] = parts[0].tobytes() if len(parts) == 1 else b"".join(parts)
        self._kept += end - start
