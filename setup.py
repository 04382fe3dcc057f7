"""Build of the C extensions; everything else is in pyproject.toml.

* ``inferwire.packets._walk``: the record walk of the pcap/pcapng readers;
* ``inferwire.packets._headers``: their IPv4, IPv6 and TCP header decode, one pass per chunk;
* ``inferwire.protocols._scan``: the HTTP/1 parser's fast path for plain heads;
* ``inferwire.protocols._chunks``: the walk over a chunked body's whole chunks (streamed
  responses: the parser's skip and the per-message split);
* ``inferwire.protocols._sse``: the usual Server-Sent Events bodies split into events where
  their pieces lie (the per-message split of streamed completions);
* ``inferwire.protocols._hpack``: HPACK's plain header blocks (no table change, no Huffman)
  decoded to text;
* ``inferwire.protocols.http2._frames``: the HTTP/2 parser's walk over the usual whole frames
  (DATA and its gRPC messages, HEADERS handed to HPACK, WINDOW_UPDATE) of one direction, and
  its DATA records read back as columns (``data_rows``);
* ``inferwire.protocols.http2._streams``: a connection's usual streams (nothing odd in them)
  assembled from both directions' records (:func:`inferwire.protocols.http2.assemble_rows`);
* ``inferwire.exchanges._plain``: a one-request HTTP/1 connection's heads split and framed;
* ``inferwire.tcp._segments``: a TCP direction with retransmissions or reordering reassembled
  segment by segment and its copies classified (:mod:`inferwire.tcp.segments`,
  :func:`inferwire.tcp.delivery.classify_codes`);
* ``inferwire._csvrows``: CSV rows joined from their columns' cell texts (:mod:`inferwire.tablefiles`);
* ``inferwire.packets._guard``: a SIGBUS handler, so that a capture that shrinks while it is
  mapped is an error naming the file instead of a silent death (:mod:`inferwire.packets.guard`).

``optional=True``: without a C compiler the install still succeeds and the readers and parsers
use their pure-Python code (same results, slower); ``inferwire.packets.accelerated()``,
``inferwire.protocols.accelerated()`` and ``inferwire.tcp.segments.accelerated()`` say which is
in use, and the test suite fails under CI=true when one is missing.
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("inferwire.packets._walk", ["src/inferwire/packets/_walk.c"],
                             extra_compile_args=["-O2"], optional=True),
                   Extension("inferwire.packets._headers", ["src/inferwire/packets/_headers.c"],
                             extra_compile_args=["-O2"], optional=True),
                   Extension("inferwire.protocols._scan", ["src/inferwire/protocols/_scan.c"],
                             extra_compile_args=["-O2"], optional=True),
                   Extension("inferwire.protocols._chunks",
                             ["src/inferwire/protocols/_chunks.c"],
                             depends=["src/inferwire/protocols/chunkwalk.h"],
                             extra_compile_args=["-O2"], optional=True),
                   Extension("inferwire.protocols._sse", ["src/inferwire/protocols/_sse.c"],
                             depends=["src/inferwire/protocols/chunkwalk.h"],
                             extra_compile_args=["-O2"], optional=True),
                   Extension("inferwire.protocols._hpack", ["src/inferwire/protocols/_hpack.c"],
                             extra_compile_args=["-O2"], optional=True),
                   Extension("inferwire.protocols.http2._frames",
                             ["src/inferwire/protocols/http2/_frames.c"],
                             extra_compile_args=["-O2"], optional=True),
                   Extension("inferwire.protocols.http2._streams",
                             ["src/inferwire/protocols/http2/_streams.c"],
                             extra_compile_args=["-O2"], optional=True),
                   Extension("inferwire.packets._guard", ["src/inferwire/packets/_guard.c"],
                             extra_compile_args=["-O2"], optional=True),
                   Extension("inferwire.exchanges._plain", ["src/inferwire/exchanges/_plain.c"],
                             extra_compile_args=["-O2"], optional=True),
                   Extension("inferwire.tcp._segments", ["src/inferwire/tcp/_segments.c"],
                             extra_compile_args=["-O2"], optional=True),
                   Extension("inferwire._csvrows", ["src/inferwire/_csvrows.c"],
                             extra_compile_args=["-O2"], optional=True)])
