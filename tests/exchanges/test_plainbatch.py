"""The bucket-wide read of one-request HTTP/1 connections (``exchanges.plainbatch``) gives the
results of the per-connection path (``analysis.analyze_connection``) for every connection it
takes, and the same tables, row order and warnings: on the sample captures (real dumpcap
captures of real servers and clients) and on generated captures mixing connections it must
take with every kind it must leave to the per-connection path (several requests, a head split
over packets or shorter than detection reads, error statuses, HEAD, 1xx, 204, chunked, no SYN,
gaps, retransmissions, reordering, cut packets, a capture cut short, a forced or ignored port)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import inferwire.analysis.schedule as schedule
from craft import Conversation, write_pcap
from needs import skip_or_fail
from inferwire import analyze
from inferwire.analysis import AnalyzeOptions, analyze_connection, read_capture
from inferwire.exchanges.exchange import ConnectionResult
from inferwire.exchanges import plainbatch
from inferwire.exchanges.plainbatch import PlainBatch, one_request_exchanges
from inferwire.tcp.connections import ConnectionSet

CAPTURES = Path(__file__).resolve().parents[2] / "captures"


def both_ways(path, monkeypatch, **options):
    """(tables with the bucket-wide read, tables without it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = analyze(path, workers=1, **options)
        monkeypatch.setattr(schedule, "one_request_batch", lambda *args: PlainBatch.empty())
        general = analyze(path, workers=1, **options)
    return fast, general


def assert_same(fast, general):
    pd.testing.assert_frame_equal(fast.requests, general.requests)
    pd.testing.assert_frame_equal(fast.connections, general.connections)
    assert fast.warnings == general.warnings


def taken_and_checked(path, skip_ports=frozenset()) -> set:
    """The client ports of the connections of ``path`` the bucket-wide read takes; each one's
    result checked against :func:`analyze_connection` on the same connection."""
    found = ConnectionSet(read_capture(str(path)))
    events = []                 # ("spend", pieces, lo, hi) and ("read", connection numbers)
    real = plainbatch.plain_heads

    def heads(buffer, srcs, ends, bounds, contiguous, ks, max_head):
        events.append(("read", ks.tolist()))
        return real(buffer, srcs, ends, bounds, contiguous, ks, max_head)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(plainbatch, "plain_heads", heads)
        fast = one_request_exchanges(found, skip_ports,
                                     lambda p, n, lo, hi: events.append(("spend", p, lo, hi)))
    for index, exchange in fast.items():
        assert ConnectionResult("http/1.1", [exchange]) == analyze_connection(
            found.connection(index), AnalyzeOptions())
    # each group's reads told before the group is read: spend, read, spend, read ...; a
    # group's pieces are those of the connections it reads, at most SPEND_GROUP of them
    bounds = found.dirs.piece_bounds if found.dirs else []
    assert [e[0] for e in events] == ["spend", "read"] * (len(events) // 2)
    read = []
    for (_, pieces, lo, hi), (_, ks) in zip(events[0::2], events[1::2]):
        assert 0 < len(ks) <= plainbatch.SPEND_GROUP and lo <= hi
        assert pieces == sum(bounds[2 * k + 2] - bounds[2 * k] for k in ks)
        read += ks
    assert {found.order[i] for i in fast} <= set(read)
    return {found.connection(index).client.port for index in fast}


@pytest.mark.parametrize("capture, options", [
    ("run-b1/capture.pcapng", {}),
    ("run-b4/capture.pcapng", {}),
    ("run-new-conn/capture.pcapng", {}),
    ("tls-rest.pcapng", {"tls_keylog": CAPTURES / "tls-rest.keylog"}),
])
def test_sample_captures_give_the_same_tables(capture, options, monkeypatch):
    fast, general = both_ways(CAPTURES / capture, monkeypatch, **options)
    assert_same(fast, general)
    assert len(general.requests) > 0


def test_a_connection_per_request_capture_is_read_bucket_wide():
    # run-new-conn: a real capture of inferwire's REST client opening a connection per call
    path = CAPTURES / "run-new-conn/capture.pcapng"
    taken = taken_and_checked(path)
    requests = analyze(path, workers=1).requests
    assert len(taken) > 0 and len(taken) == (requests.protocol == "http/1.1").sum()


def test_tls_connections_are_left_alone():
    assert taken_and_checked(CAPTURES / "tls-rest.pcapng") == set()


# -- generated captures --------------------------------------------------------------------------
def _request(i: int, kind: str) -> bytes:
    body = b'{"instances": [[%d, 1, 2, 3]]}' % i
    if kind == "head":
        return b"HEAD /h HTTP/1.1\r\nHost: example\r\nx-request-id: r%d\r\n\r\n" % i
    if kind == "get":
        return (b"GET /v1/models/m HTTP/1.0\r\nHost: example.org\r\nX-Request-Id: r%d\r\n\r\n"
                % i)
    if kind == "short":
        return b"GET / HTTP/1.0\r\n\r\n"
    if kind == "chunked":
        return (b"POST /p HTTP/1.1\r\nHost: example\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    return (b"POST /v1/models/m:predict HTTP/1.0\r\nHost: example\r\nx-request-id: r%d\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (i, len(body))
            + body)


def _response(i: int, kind: str) -> bytes:
    body = b'{"predictions": [[%d, 0.5, 0.25]]}' % i
    if kind == "error":
        body = b'{"error": "no such model %d"}' % i
        return (b"HTTP/1.0 404 Not Found\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body) + body)
    if kind == "no-content":
        return b"HTTP/1.1 204 No Content\r\nServer: example-server/1.0\r\nx-pad: padding\r\n\r\n"
    if kind == "short":
        return b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"
    if kind == "interim":
        return b"HTTP/1.1 100 Continue\r\n\r\n" + _response(i, "plain")
    if kind == "close":
        return b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nServer: x\r\n\r\n" + body
    return (b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nServer: example\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body)


def _cuts(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % len(data) for c in cuts if 0 < c % len(data)})
    return [data[a:b] for a, b in zip([0] + points, points + [len(data)])]


connection = st.fixed_dictionaries({
    "requests": st.lists(st.sampled_from(["plain"] * 8 + ["get", "head", "short", "chunked"]),
                         min_size=0, max_size=2),
    "responses": st.lists(st.sampled_from(["plain"] * 8 + ["error", "no-content", "short",
                                                           "interim", "close"]), max_size=2),
    "cuts": st.lists(st.integers(1, 300), max_size=2),
    "syn": st.sampled_from([True] * 5 + [False]),
    "fault": st.sampled_from([None] * 6 + ["gap", "retransmit", "reorder", "snap", "drop_last",
                                           "untimed_order", "rst"]),
    "fin": st.booleans(),
})


def _conversation(n: int, spec: dict, t0: int) -> Conversation:
    conv = Conversation(client=("10.0.0.1", 40000 + n), server=("10.0.0.2", 8501))
    t = t0
    if spec["syn"]:
        conv.handshake(t, t + 50_000, t + 60_000)
    t += 100_000
    up = b"".join(_request(i, k) for i, k in enumerate(spec["requests"]))
    down = b"".join(_response(i, k) for i, k in enumerate(spec["responses"]))
    ups = _cuts(up, spec["cuts"]) if up else []
    downs = _cuts(down, spec.get("down_cuts", spec["cuts"][::-1])) if down else []
    fault = spec["fault"]
    for piece in ups:
        conv.client(t, piece)
        t += 37_000
    if fault == "retransmit" and ups:
        conv.client(t, ups[-1], seq=conv.seq_c - len(ups[-1]))
        t += 10_000
    if fault == "zero_window":     # the client's window is shut while the server would answer
        conv.ack_from_client(t, window=0)
        conv.ack_from_client(t + 20_000)
        t += 30_000
    if fault == "gap" and len(downs) > 1:
        conv.seq_s += len(downs[0])                 # the first piece is never captured
        downs = downs[1:]
    sent = []
    for n_piece, piece in enumerate(downs):
        if fault == "drop_last" and n_piece == len(downs) - 1:
            break
        sent.append(conv.server(t, piece))
        t += 53_000
    if fault == "reorder" and len(sent) > 1:
        a, b = conv.packets.index(sent[0]), conv.packets.index(sent[1])
        conv.packets[a], conv.packets[b] = conv.packets[b], conv.packets[a]
    if fault == "untimed_order" and len(sent) > 1:
        sent[0].time, sent[1].time = sent[1].time, sent[0].time
    if fault == "backwards" and sent:          # the response stamped before the request
        sent[0].time = conv.packets[0].time - 1

    if fault == "rst":
        conv.rst_from_client(t)
    elif spec["fin"]:
        conv.fin_from_server(t)
        conv.fin_from_client(t + 10_000)
    if fault == "snap" and sent:
        from scapy.all import Raw
        sent[-1][Raw].load = bytes(sent[-1][Raw].load)[:-3]   # fewer bytes than its seq says
    return conv


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(connection, min_size=1, max_size=6))
def test_generated_captures_give_the_same_results_and_tables(tmp_path, monkeypatch, specs):
    packets = []
    for n, spec in enumerate(specs):
        packets += _conversation(n, spec, 1_000_000 * n).packets
    path = write_pcap(tmp_path / "conns.pcap", packets)
    taken_and_checked(path)
    fast, general = both_ways(path, monkeypatch)
    assert_same(fast, general)


def _plain_conversations(count: int) -> list:
    packets = []
    for n in range(count):
        conv = Conversation(client=("10.0.0.1", 40000 + n), server=("10.0.0.2", 8501))
        t = 1_000_000 * n
        conv.handshake(t, t + 50_000, t + 60_000)
        conv.client(t + 100_000, _request(n, "plain"))
        conv.server(t + 400_000, _response(n, "plain"))
        conv.fin_from_server(t + 500_000)
        conv.fin_from_client(t + 510_000)
        packets += conv.packets
    return packets


def test_one_request_connections_are_taken_with_their_times(tmp_path, monkeypatch):
    path = write_pcap(tmp_path / "plain.pcap", _plain_conversations(5))
    assert len(taken_and_checked(path)) == 5
    fast, general = both_ways(path, monkeypatch)
    assert_same(fast, general)
    assert fast.requests.request_id.tolist() == [f"r{n}" for n in range(5)]
    assert fast.requests.wait_ms.tolist() == [0.3] * 5
    assert fast.requests.complete.all()


REQUESTS = ["plain", "get", "head", "short", "chunked"]
RESPONSES = ["plain", "error", "no-content", "short", "interim", "close"]
FAULTS = [None, "gap", "retransmit", "reorder", "snap", "drop_last", "untimed_order", "rst",
          "backwards", "zero_window"]


def test_every_kind_of_connection_in_one_capture(tmp_path, monkeypatch):
    # each request kind with each response kind, each fault, no SYN, two requests, a head cut
    specs = [{"requests": [rq], "responses": [rs], "cuts": [], "syn": True, "fault": None,
              "fin": True} for rq in REQUESTS for rs in RESPONSES]
    specs += [{"requests": ["plain"], "responses": ["plain"], "cuts": cuts, "syn": syn,
               "fault": fault, "fin": fin} for fault in FAULTS for syn in (True, False)
              for cuts in ([], [20, 150]) for fin in (True, False)]
    specs += [{"requests": ["plain", "plain"], "responses": ["plain", "plain"], "cuts": [],
               "syn": True, "fault": None, "fin": True}]
    specs += [{"requests": ["plain"], "responses": [rs], "cuts": [], "down_cuts": [100, 120],
               "syn": True, "fault": None, "fin": True} for rs in ("plain", "error")]
    packets = []
    for n, spec in enumerate(specs):
        packets += _conversation(n, spec, 1_000_000 * n).packets
    path = write_pcap(tmp_path / "kinds.pcap", packets)
    taken = taken_and_checked(path)
    fast, general = both_ways(path, monkeypatch)
    assert_same(fast, general)
    # Taken: a request with a body or none, answered by a response framed by Content-Length
    # (or a 204), each head in its first packet and at least 64 bytes long, with a SYN, no
    # loss and no cut; the reordering faults change nothing with one packet each way; time
    # stamps out of order and a zero window are taken, and their rows (with warnings) made
    # the per-connection way.
    expected = {40000 + n for n, spec in enumerate(specs)
                if spec["requests"] in (["plain"], ["get"])
                and spec["responses"] in (["plain"], ["no-content"]) and spec["syn"]
                and not spec["cuts"]
                and spec["fault"] in (None, "rst", "reorder", "untimed_order", "gap",
                                      "backwards", "zero_window")}
    assert taken == expected and len(expected) == 4 + 7 * 2 + 1  # matrix, faults x FIN, cut
    assert any("out of order" in w for w in fast.warnings)
    assert (fast.connections.zero_windows > 0).sum() == 8      # zero_window x SYN x cuts x FIN
    assert any("zero window held back" in w for w in fast.warnings)
    assert len(fast.requests) == len(general.requests) > len(specs)


def test_forced_and_ignored_ports_are_left_alone(tmp_path, monkeypatch):
    path = write_pcap(tmp_path / "plain.pcap", _plain_conversations(3))
    assert taken_and_checked(path, frozenset({8501})) == set()
    fast, general = both_ways(path, monkeypatch, decode_as={8501: "http/1.1"})
    assert_same(fast, general)
    assert len(fast.requests) == 3


def test_ipv6_and_ipv4_clients_of_several_addresses_keep_their_endpoint_texts(tmp_path,
                                                                                monkeypatch):
    # the column path formats each distinct address once: IPv6 ones in brackets, each row its
    # own port, clients of several addresses interleaved
    packets = []
    hosts = [("10.0.0.1", "10.0.0.2", False), ("2001:db8::7", "2001:db8::1", True),
             ("10.0.0.9", "10.0.0.2", False), ("::ffff:10.1.2.3", "::1", True)]
    for n in range(12):
        client, server, v6 = hosts[n % len(hosts)]
        conv = Conversation(client=(client, 41000 + n), server=(server, 8501), ipv6=v6)
        t = 1_000_000 * n
        conv.handshake(t, t + 50_000, t + 60_000)
        conv.client(t + 100_000, _request(n, "plain"))
        conv.server(t + 400_000, _response(n, "plain"))
        packets += conv.packets
    for p in packets:               # scapy would look the MAC addresses up, seconds each
        p.dst, p.src = "02:00:00:00:00:02", "02:00:00:00:00:01"
    path = write_pcap(tmp_path / "hosts.pcap", packets)
    assert len(taken_and_checked(path)) == 12
    fast, general = both_ways(path, monkeypatch)
    assert_same(fast, general)
    assert fast.requests.client.tolist()[:4] == ["10.0.0.1:41000", "[2001:db8::7]:41001",
                                                 "10.0.0.9:41002", "10.1.2.3:41003"]  # IPv4-mapped
    assert fast.connections.server.tolist()[1] == "[2001:db8::1]:8501"


def _batch_of(path, monkeypatch, heads) -> PlainBatch:
    monkeypatch.setattr(plainbatch, "plain_heads", heads)
    return plainbatch.one_request_batch(ConnectionSet(read_capture(str(path))))


@pytest.mark.parametrize("make", ["kinds", "run-new-conn", "run-b4"])
def test_the_c_heads_read_takes_what_its_python_twin_takes(tmp_path, monkeypatch, make):
    if plainbatch._plain_heads_c is None:
        skip_or_fail("inferwire.exchanges._plain is not built here: nothing to compare")
    if make == "kinds":                 # every request, response and fault kind, as above
        specs = [{"requests": [rq], "responses": [rs], "cuts": cuts, "syn": True,
                  "fault": fault, "fin": True} for rq in REQUESTS for rs in RESPONSES
                 for fault in (None, "gap", "snap") for cuts in ([], [30])]
        packets = []
        for n, spec in enumerate(specs):
            packets += _conversation(n, spec, 1_000_000 * n).packets
        path = write_pcap(tmp_path / "kinds.pcap", packets)
    else:
        path = CAPTURES / make / "capture.pcapng"
    c = _batch_of(path, monkeypatch, plainbatch._plain_heads_c)
    py = _batch_of(path, monkeypatch, plainbatch._plain_heads_py)
    assert c.index.tolist() == py.index.tolist()
    for name in ("method", "path", "request_id"):
        assert getattr(c, name) == getattr(py, name)
    for name in ("k", "status", "request_bytes", "response_bytes", "times", "known", "frames"):
        assert np.array_equal(getattr(c, name), getattr(py, name))
    if make != "run-b4":                # run-b4: keep-alive connections, none taken
        assert len(c) > 0


def test_the_c_heads_read_names_what_is_wrong_with_its_columns():
    if plainbatch._plain_heads_c is None:
        skip_or_fail("inferwire.exchanges._plain is not built here")
    heads = plainbatch._plain_heads_c
    ints = np.zeros(4, dtype=np.int64)
    with pytest.raises(ValueError, match="srcs must be an int64 column"):
        heads(b"", np.zeros(4), ints, ints, ints, ints, 100)
    with pytest.raises(ValueError, match="connection 7 out of range"):
        heads(b"", ints, ints, ints, ints, np.array([7]), 100)
    with pytest.raises(ValueError, match="pieces out of range"):
        heads(b"", ints, ints, np.array([0, 2, 9, 9]), ints, np.array([0]), 100)
