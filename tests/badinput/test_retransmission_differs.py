"""A retransmission whose bytes differ from the first copy and run past it (issue 16, item 4):
the first copy's bytes are kept, and the extra tail, which cannot begin a request, is no request
row (it was a phantom request with no method, path or times before)."""
from __future__ import annotations

import warnings

import inferwire
from craft import Conversation, http_request, http_response, write_pcap
from inferwire.protocols.http1 import Http1Parser


def _capture(path):
    c = Conversation()
    c.handshake(0, 10_000, 20_000)
    c.client(100_000, http_request())
    longer = http_request(request_id="r1-retx")          # 5 bytes longer, same start
    c.client(150_000, longer, seq=c.seq_c - len(http_request()))
    c.server(300_000, http_response())
    write_pcap(path, c.packets)


def test_the_extra_tail_of_a_differing_retransmission_is_no_request(tmp_path):
    _capture(tmp_path / "c.pcap")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = inferwire.analyze(tmp_path / "c.pcap")
    assert len(a.requests) == 1
    row = a.requests.iloc[0]
    assert row["method"] == "POST" and row["status"] == 200 and bool(row["complete"])
    assert row["request_id"] == "r1"                     # the first copy's bytes
    assert row["request_start_utc"].value == 1_700_000_000_000_100_000   # exact ns: first copy
    said = " ".join(a.warnings)
    assert "cannot begin an HTTP/1.x request" in said and "not counted as one" in said
    assert "whose repeated bytes differ from the first copy" in said


def test_a_request_line_cut_by_the_capture_is_still_an_unfinished_request():
    for cut in (b"PO", b"POST /v1/mo", b"POST /v1/models/m:predict HTTP/1."):
        p = Http1Parser("client")
        assert p.feed(cut, 0) == []
        (msg,) = p.close(len(cut))
        assert not msg.complete and msg.start == 0


def test_a_status_line_cut_by_the_capture_is_still_an_unfinished_response():
    p = Http1Parser("server")
    p.expect("POST")
    assert p.feed(b"HTTP/1.1 2", 0) == []
    (msg,) = p.close(10)
    assert not msg.complete
    q = Http1Parser("server")
    q.expect("POST")
    q.feed(b"}]]", 0)
    try:
        q.close(3)
    except inferwire.errors.ProtocolError as exc:
        assert "cannot begin an HTTP/1.x response" in str(exc) and exc.offset == 0
    else:
        raise AssertionError("bytes that cannot begin a response were taken for one")
