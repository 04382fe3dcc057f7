"""Fuzzing the capture readers and every protocol parser, seeded from a kept corpus.

Each target takes a corpus input (tests/fuzz/corpus: valid inputs and the crafted bad inputs of
the bad-input fixes), mutates it (byte flips, boundary values written over a length field,
insertions, deletions, cuts, splices of two inputs, random chunking of a stream) and checks the
contract: a table or the library's own error, never another exception, a hang or a crash.

* captures (pcap, pcapng; whole pipeline): ``inferwire.analyze`` returns an Analysis or raises
  CaptureFormatError; its request rows hold no negative duration.
* HTTP/1, HTTP/2 (+ HPACK, gRPC framing), gRPC framing alone, TLS records and handshake
  messages: ``feed()`` returns events or raises ProtocolError (HTTP/2 streams are assembled too).

In CI each target runs :data:`EXAMPLES` examples (seeded: the same ones every run, a few seconds
each).  By hand, longer and with new random ones::

    INFERWIRE_FUZZ_EXAMPLES=20000 INFERWIRE_FUZZ_RANDOM=1 .venv/bin/python -m pytest tests/fuzz -q

An input that breaks a target is printed by hypothesis; add it to the corpus (make_corpus.py)
with its fix.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import inferwire
from inferwire.errors import CaptureFormatError, ProtocolError
from inferwire.protocols.grpc import GrpcMessageSplitter
from inferwire.protocols.http1 import Http1Parser
from inferwire.protocols.http2 import H2Parser, assemble_h2
from inferwire.protocols.tls import HandshakeReassembler, TlsRecordParser

CORPUS = Path(__file__).resolve().parent / "corpus"
EXAMPLES = int(os.environ.get("INFERWIRE_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                derandomize=not os.environ.get("INFERWIRE_FUZZ_RANDOM"),
                suppress_health_check=list(HealthCheck), database=None)
BOUNDARY = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\xff\xff", b"\x00\x00", b"\xff\xff\xff",
            b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00", b"-1", b"9" * 30,
            "\u0663".encode(), b"\r\n", b"\r\n\r\n"]


def corpus(kind: str) -> list[bytes]:
    files = sorted((CORPUS / kind).glob("*"))
    assert files, f"the fuzz corpus {CORPUS / kind} is missing"
    return [f.read_bytes() for f in files]


CAPTURES = corpus("captures")
STREAMS = {name: corpus(f"streams/{name}") for name in ("http1", "h2", "grpc", "tls")}


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    """A seed with a few mutations (sometimes none: the corpus itself is checked too)."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["flip", "boundary", "insert", "delete", "cut", "splice"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "boundary":
            value = draw(st.sampled_from(BOUNDARY))
            data[at:at + len(value)] = value
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        elif op == "cut":
            del data[at:]
        elif op == "splice":
            other = draw(st.sampled_from(seeds))
            data[at:] = other[draw(st.integers(0, max(len(other) - 1, 0))):]
    return bytes(data)


@st.composite
def chunked(draw, seeds: list[bytes]) -> list[bytes]:
    """A mutated stream cut into random pieces (as TCP segments would deliver it)."""
    data = draw(mutated(seeds))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:]) if b > a]


def feed(parser, pieces: list[bytes]) -> list:
    """Feed ``pieces`` in order; the events, stopping at the first ProtocolError."""
    events, offset = [], 0
    try:
        for piece in pieces:
            events += parser.feed(piece, offset)
            offset += len(piece)
    except ProtocolError as exc:
        events += getattr(exc, "events", [])
    return events


@pytest.fixture(scope="module")
def capture_file(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "fuzz.pcap"


def test_corpus_is_complete():
    assert len(CAPTURES) >= 10 and all(len(v) >= 2 for v in STREAMS.values())


@FUZZ
@given(mutated(CAPTURES))
def test_captures_analyze_or_name_the_error(capture_file, data):
    capture_file.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            a = inferwire.analyze(capture_file, workers=1, spill=False)
        except CaptureFormatError as exc:
            assert exc.path == str(capture_file)
            return
    durations = a.requests.filter(like="_ms").to_numpy(dtype=float)
    assert not (durations < 0).any(), "a negative duration"
    assert all(isinstance(w, str) for w in a.warnings)


@FUZZ
@given(st.sampled_from(["client", "server"]), chunked(STREAMS["http1"]))
def test_http1_parser(role, pieces):
    feed(Http1Parser(role), pieces)


@FUZZ
@given(chunked(STREAMS["h2"]), chunked(STREAMS["h2"]))
def test_http2_parser_and_assembly(client, server):
    c_events = feed(H2Parser("client"), client)
    s_events = feed(H2Parser("server"), server)
    conv = assemble_h2(c_events, s_events)
    for stream in conv.streams:
        assert stream.grpc_status is None or 0 <= stream.grpc_status < 10**10
        assert stream.status is None or 0 <= stream.status < 1000


@FUZZ
@given(chunked(STREAMS["grpc"]))
def test_grpc_framing(pieces):
    feed(GrpcMessageSplitter(), pieces)


@FUZZ
@given(st.sampled_from(["client", "server"]), chunked(STREAMS["tls"]))
def test_tls_records_and_handshake(role, pieces):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        feed(TlsRecordParser(role), pieces)
        reassembler = HandshakeReassembler()
        data = b"".join(pieces)
        for at in range(0, len(data), 97):           # handshake bytes without record framing
            reassembler.feed(data[at:at + 97], at, at + 97)

