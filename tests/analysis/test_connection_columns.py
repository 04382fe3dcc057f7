"""The per-connection table, column by column, on crafted pcaps with exact timestamps.

docs/columns.md "The per-connection table": first_time / last_time are the first and last packet of the
connection, duration_ms = last_time - first_time, bytes_to_server / bytes_to_client are DISTINCT
TCP payload bytes of each direction, retransmissions counts segments that repeated bytes already
captured in BOTH directions, end is "fin", "rst" or "open", start_seen says whether the SYN was
captured (syn_time is then the SYN's time, else empty).
"""
import pandas as pd
import pytest

import inferwire
import inferwire.errors
from craft import Conversation, http_request, http_response, write_pcap

US = 1_000       # ns
MS = 1_000_000   # ns

REQ_A = http_request(body=b'{"instances": [[1, 2, 3]]}', request_id="conn-a")
RESP_A = http_response(b'{"predictions": [[0.1, 0.2, 0.7]]}' + b" " * 200)
REQ_B = http_request(body=b"x" * 333, request_id="conn-b")
RESP_B = http_response(b"y" * 77)
REQ_C = http_request(body=b"{}", request_id="conn-c")
RESP_C = http_response(b"z" * 1000)


def conn_fin_with_server_retransmission():
    """Connection 0: full handshake, a response in two segments whose first is retransmitted by
    the server, FIN both ways, last ACK at 1.2 ms."""
    c = Conversation(client=("10.0.0.1", 40001))
    c.handshake(0, 10 * US, 20 * US)
    c.client(100 * US, REQ_A)
    first_seq = c.seq_s
    c.server(400 * US, RESP_A[:60])
    c.server(450 * US, RESP_A[60:])
    # the client's ACK shows the first copies arrived: the retransmission is spurious (without
    # it, the delivery rule would take the retransmission as the copy the client got)
    c.ack_from_client(500 * US)
    c.server(700 * US, RESP_A[:60], seq=first_seq)      # server -> client retransmission
    c.ack_from_client(800 * US)
    c.fin_from_client(1_000 * US)
    c.fin_from_server(1_100 * US)
    c.ack_from_client(1_200 * US)
    return c


def conn_rst_without_syn():
    """Connection 1: the capture starts mid-connection (no SYN); one exchange; client resets."""
    c = Conversation(client=("10.0.0.1", 40002), isn_client=70_000, isn_server=90_000)
    c.client(2 * MS, REQ_B)
    c.server(2 * MS + 500 * US, RESP_B)
    c.ack_from_client(2 * MS + 550 * US)
    c.rst_from_client(3 * MS + 250 * US)
    return c


def conn_open_with_both_retransmissions():
    """Connection 2: handshake, a client retransmission and a server retransmission, no FIN or
    RST: still open when the capture ends at 7 ms."""
    c = Conversation(client=("10.0.0.1", 40003))
    c.handshake(4 * MS, 4 * MS + 30 * US, 4 * MS + 60 * US)
    seq_c = c.seq_c
    c.client(4 * MS + 100 * US, REQ_C)
    c.ack_from_server(4 * MS + 200 * US)                # both retransmissions are spurious:
    c.client(4 * MS + 300 * US, REQ_C, seq=seq_c)       # client -> server retransmission
    seq_s = c.seq_s
    c.server(5 * MS, RESP_C)
    c.ack_from_client(5 * MS + 100 * US)                # the first copies' ACKs came first
    c.server(6 * MS, RESP_C, seq=seq_s)                 # server -> client retransmission
    c.ack_from_client(7 * MS)
    return c


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    convs = [conn_fin_with_server_retransmission(), conn_rst_without_syn(),
             conn_open_with_both_retransmissions()]
    packets = [p for c in convs for p in c.packets]
    path = write_pcap(tmp_path_factory.mktemp("conns") / "three.pcap", packets)
    with pytest.warns(inferwire.errors.InferwireWarning, match="no SYN"):
        a = inferwire.analyze(path)
    return a, convs


def epoch(ns):
    return (Conversation().t0 + ns) / 1e9


def test_three_connections_in_capture_order(analysis):
    a, _ = analysis
    conns = a.connections
    assert list(conns["connection"]) == [0, 1, 2]
    assert list(conns["client"]) == ["10.0.0.1:40001", "10.0.0.1:40002", "10.0.0.1:40003"]
    assert set(conns["server"]) == {"10.0.0.2:8501"}
    assert list(conns["requests"]) == [1, 1, 1]
    assert list(conns["packets"]) == [len(c.packets) for c in analysis[1]] == [12, 4, 10]


def test_first_last_time_and_duration(analysis):
    conns = analysis[0].connections
    expected = [(0, 1_200 * US), (2 * MS, 3 * MS + 250 * US), (4 * MS, 7 * MS)]
    for (_, row), (first, last) in zip(conns.iterrows(), expected):
        assert row["first_time"] == pytest.approx(epoch(first), abs=1e-7)
        assert row["last_time"] == pytest.approx(epoch(last), abs=1e-7)
        assert row["duration_ms"] == pytest.approx((last - first) / 1e6)
    assert list(conns["duration_ms"]) == pytest.approx([1.2, 1.25, 3.0])


def test_distinct_payload_bytes_each_direction(analysis):
    conns = analysis[0].connections
    # retransmitted bytes are not counted twice; each direction its own count
    assert list(conns["bytes_to_server"]) == [len(REQ_A), len(REQ_B), len(REQ_C)]
    assert list(conns["bytes_to_client"]) == [len(RESP_A), len(RESP_B), len(RESP_C)]
    assert len(REQ_A) != len(RESP_A) and len(REQ_B) != len(RESP_B)
    assert list(conns["missing_bytes"]) == [0, 0, 0]


def test_retransmissions_count_both_directions(analysis):
    conns = analysis[0].connections
    assert conns.loc[0, "retransmissions"] == 1        # only a server -> client one
    assert conns.loc[1, "retransmissions"] == 0
    assert conns.loc[2, "retransmissions"] == 2        # one each way


def test_server_retransmission_does_not_move_response_end(analysis):
    r = analysis[0].requests.set_index("request_id")
    row = r.loc["conn-a"]
    assert row["response_start"] == pytest.approx(epoch(400 * US), abs=1e-7)
    assert row["response_end"] == pytest.approx(epoch(450 * US), abs=1e-7)
    assert row["response_bytes"] == len(RESP_A) - RESP_A.index(b"\r\n\r\n") - 4
    assert r.loc["conn-c", "response_end"] == pytest.approx(epoch(5 * MS), abs=1e-7)
    assert r.loc["conn-c", "request_end"] == pytest.approx(epoch(4 * MS + 100 * US), abs=1e-7)


def test_end_values(analysis):
    assert list(analysis[0].connections["end"]) == ["fin", "rst", "open"]


def test_start_seen_syn_time_and_handshake(analysis):
    conns = analysis[0].connections
    assert [bool(x) for x in conns["start_seen"]] == [True, False, True]
    assert conns.loc[0, "syn_time"] == pytest.approx(epoch(0), abs=1e-7)
    assert pd.isna(conns.loc[1, "syn_time"])
    assert conns.loc[2, "syn_time"] == pytest.approx(epoch(4 * MS), abs=1e-7)
    assert conns.loc[0, "tcp_handshake_ms"] == pytest.approx(0.02)
    assert pd.isna(conns.loc[1, "tcp_handshake_ms"])
    assert conns.loc[2, "tcp_handshake_ms"] == pytest.approx(0.06)


def test_cleartext_connections_have_no_tls_facts(analysis):
    conns = analysis[0].connections
    assert not conns["tls"].any()
    assert conns["alpn"].isna().all() and conns["sni"].isna().all()
    assert conns["tls_version"].isna().all() and conns["tls_handshake_ms"].isna().all()


def test_connections_csv_round_trip(analysis, tmp_path):
    a = analysis[0]
    paths = a.save(tmp_path)
    back = pd.read_csv(paths["connections.csv"])
    assert list(back["end"]) == ["fin", "rst", "open"]
    assert list(back["retransmissions"]) == [1, 0, 2]
    assert list(back["duration_ms"]) == pytest.approx([1.2, 1.25, 3.0])
    assert list(back["bytes_to_client"]) == [len(RESP_A), len(RESP_B), len(RESP_C)]
