"""The lossy streaming tests' allowance (:func:`.streamref.sender_cannot_tell`) on crafted
server-side captures: a token whose first copy got through while the client's ACK of it was
lost, and whose timeout repeat's D-SACK was lost too, is beyond what the server's capture can
tell (the analyzer takes the repeat, a timeout late, and its warnings say so: allowed); with
the D-SACK captured it is not (the analyzer takes the first copy, and a late stamp would be a
defect)."""
from __future__ import annotations

import pytest

import inferwire
from needs import need_tool
from tests.craft import T0_NS, Conversation, http_request, write_pcap
from tests.tcp.test_delivery import sack

from . import streamref

US, MS = 1_000, 1_000_000
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n")


def chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def capture(tmp_path, dsack: bool) -> tuple:
    """(run folder, files, the repeat's time s): tokens 2 ms apart; the second's ACK and
    the next lost, a timeout later the server repeats the second token, and the ACK after
    it carries a D-SACK of it (``dsack``) or not (lost, the next ACK covers it)."""
    c = Conversation()
    opts = [("MSS", 1460), ("SAckOK", b"")]
    c.handshake(0, 5 * US, 22 * US, syn_options=opts, synack_options=opts)   # server side
    start = c.seq_s
    c.client(1 * MS, http_request(path="/v1/completions"))
    c.server(2 * MS, HEAD + chunk(b"data: one\n\n"))
    c.ack_from_client(2 * MS + 40 * US)
    second = c.seq_s
    c.server(4 * MS, chunk(b"data: two\n\n"))                       # got through; ACK lost
    end = c.seq_s
    repeat_ns = 210 * MS
    c.server(repeat_ns, chunk(b"data: two\n\n"), seq=second)         # the timeout's repeat
    options = sack(c, True, second - start, end - start) if dsack else []
    c.ack_from_client(repeat_ns + 40 * US, options=options)
    c.server(repeat_ns + 100 * US, chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    c.ack_from_client(repeat_ns + 140 * US)
    write_pcap(tmp_path / "server.pcap", c.packets)
    return tmp_path, {"server": "server.pcap"}, (T0_NS + repeat_ns) / 1e9


@pytest.mark.parametrize("dsack", [False, True])
def test_a_repeat_taken_is_beyond_the_senders_capture_only_without_its_dsack(tmp_path, dsack):
    need_tool("tshark", "tshark")
    run_dir, files, repeat_s = capture(tmp_path, dsack)
    a = inferwire.analyze(run_dir / files["server"], vantage="server")
    (ours,) = streamref.inferwire_messages(a, 8501, by_stream=False).values()
    second_end = ours[1][2]
    first_copy_s = (T0_NS + 4 * MS) / 1e9
    assert second_end == pytest.approx(first_copy_s if dsack else repeat_s, abs=1e-6)
    cannot = streamref.sender_cannot_tell(run_dir, files, 8501, streamref.sse_spans,
                                          (40000, 0), 1, second_end, 1e-6)
    assert cannot is not dsack
    # and the analyzer says so, with how late the stamp may be (the repeat 206 ms after)
    said = [w for w in a.warnings if "no ACK telling which copy" in w]
    assert said == ([] if dsack else [
        "connection 0 (10.0.0.1:40000 -> 10.0.0.2:8501): 1 segment of the server's sent twice "
        "or more with no ACK telling which copy got through (none between the copies, none "
        "naming one): the latest is taken, up to 206 ms after the earliest (a capture on the "
        "other host has the arrival)"]), a.warnings
    if dsack:   # the repeat taken while its D-SACK says it arrived twice: the analyzer's fault
        assert not streamref.sender_cannot_tell(run_dir, files, 8501, streamref.sse_spans,
                                                (40000, 0), 1, repeat_s, 1e-6)
    # a token sent once is never beyond it
    assert not streamref.sender_cannot_tell(run_dir, files, 8501, streamref.sse_spans,
                                            (40000, 0), 0, ours[0][2], 1e-6)
