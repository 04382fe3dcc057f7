"""Sans-IO protocol parsers: HTTP/1.x, HTTP/2, gRPC framing, TLS, and protocol detection.

Each parser is fed one direction's reassembled TCP stream bytes together with the stream offset of
the first byte, and returns events carrying exact stream offsets (``start`` inclusive, ``end``
exclusive).  Parsers never read sockets or clocks; mapping offsets to packet times happens
elsewhere.  Import the submodules directly (``inferwire.protocols.http2``); nothing is imported
eagerly here.
"""
from . import http1


def accelerated() -> bool:
    """True when the HTTP/1 parser splits plain heads and walks chunked bodies in C, the usual
    SSE bodies are split into events in C and the HTTP/2 parser walks the usual frames, decodes
    plain HPACK blocks and assembles the usual streams in C (the ``inferwire.protocols._scan``,
    ``_chunks``, ``_sse``, ``_hpack``, ``http2._frames`` and ``http2._streams`` extensions
    were built); False when Python does it (same results, slower)."""
    from . import hpackdecode, sse  # deferred: not imported eagerly here
    from .http2 import frames, streams  # deferred: HTTP/2 is not imported eagerly here
    return (http1._c_head is not None and http1._c_chunks is not None
            and sse.c_split is not None and frames._c_walk is not None
            and hpackdecode._c_plain_text is not None and streams._c_assemble is not None)
