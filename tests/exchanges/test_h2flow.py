"""HTTP/2 flow-control stalls (inferwire.exchanges.h2flow) on crafted captures: a stalled sender
is still sending; the stall is reported in h2_flow_stall_ms, never in wait_ms.

The HTTP/2 bytes come from python-hyper's ``h2``, which enforces the flow-control windows itself.
"""
import pandas as pd
import pytest

import inferwire
from craft import T0_NS, Conversation, write_pcap
from h2craft import H2Pair, grpc_msg, grpc_request_headers, h2_setup

US, MS = 1_000, 1_000_000
FRAME = 16_384


def send(h: H2Pair, sid: int, data: bytes, end: bool) -> None:
    for i in range(0, len(data), FRAME):
        last = i + FRAME >= len(data)
        h.cli.send_data(sid, data[i:i + FRAME], end_stream=end and last)


def segments(c: Conversation, at_ns: int, data: bytes, from_client=True) -> int:
    """Send ``data`` in segments of 8,192 bytes 1 us apart; the last one's time."""
    t = at_ns
    for i in range(0, len(data), 8192):
        t = at_ns + (i // 8192) * US
        (c.client if from_client else c.server)(t, data[i:i + 8192])
    return t


def at(ns):
    return (T0_NS + ns) / 1e9


def build(tmp_path, stall_ns: int):
    """A 100,005-byte gRPC request: the first 65,535 bytes fill both windows from 1 ms on (8 KiB
    segments 1 us apart), the server's WINDOW_UPDATEs come at 1 ms + ``stall_ns``, the rest
    follows 50 us after them.  Returns the path and the time the windows ran out."""
    c, h = h2_setup()
    body = grpc_msg(b"x" * 100_000)
    h.cli.send_headers(1, grpc_request_headers("big"))
    assert h.cli.local_flow_control_window(1) == 65_535
    send(h, 1, body[:65_535], end=False)
    exhausted = segments(c, 1 * MS, h.flush_client())
    assert h.cli.local_flow_control_window(1) == 0              # h2 would refuse more
    h.srv.acknowledge_received_data(65_535, 1)
    c.server(1 * MS + stall_ns, h.flush_server())                # WINDOW_UPDATE stream + conn
    send(h, 1, body[65_535:], end=True)
    end = segments(c, 1 * MS + stall_ns + 50 * US, h.flush_client())
    h.srv.send_headers(1, [(":status", "200"), ("content-type", "application/grpc")])
    h.srv.send_data(1, grpc_msg(b"r" * 10))
    h.srv.send_headers(1, [("grpc-status", "0")], end_stream=True)
    c.server(1 * MS + stall_ns + 5 * MS, h.flush_server())
    return write_pcap(tmp_path / "stall.pcap", c.packets), exhausted, end


def test_flow_control_stall_is_sending_time(tmp_path):
    path, exhausted, end = build(tmp_path, 50 * MS)
    assert exhausted == 1 * MS + 8 * US and end == 51 * MS + 54 * US
    a = inferwire.analyze(path)
    row = a.requests.iloc[0]
    assert row["protocol"] == "grpc" and row["request_id"] == "big" and bool(row["complete"])
    assert row["request_start"] == pytest.approx(at(1 * MS), abs=1e-7)     # HEADERS + DATA
    assert row["request_end"] == pytest.approx(at(end), abs=1e-7)
    # from the segment that used the windows up to the server's WINDOW_UPDATEs
    assert row["h2_flow_stall_ms"] == pytest.approx((51 * MS - exhausted) / 1e6)
    assert row["wait_ms"] == pytest.approx((56 * MS - end) / 1e6)       # the server's time only
    assert row["zero_window_ms"] == 0


def test_no_stall_when_the_window_is_never_exhausted(tmp_path):
    """The same request with the update before the window ran out is not a stall."""
    c, h = h2_setup()
    h.cli.send_headers(1, grpc_request_headers("small"))
    send(h, 1, grpc_msg(b"x" * 30_000), end=True)
    c.client(1 * MS, h.flush_client())
    h.srv.send_headers(1, [(":status", "200"), ("content-type", "application/grpc")])
    h.srv.send_headers(1, [("grpc-status", "0")], end_stream=True)
    c.server(3 * MS, h.flush_server())
    a = inferwire.analyze(write_pcap(tmp_path / "s.pcap", c.packets))
    row = a.requests.iloc[0]
    assert row["h2_flow_stall_ms"] == 0 and row["wait_ms"] == pytest.approx(2)


def test_http1_rows_have_no_h2_stall(tmp_path):
    from craft import http_request, http_response
    c = Conversation()
    c.handshake(0, 10 * US, 20 * US)
    c.client(100 * US, http_request())
    c.server(200 * US, http_response())
    a = inferwire.analyze(write_pcap(tmp_path / "h1.pcap", c.packets))
    assert pd.isna(a.requests.iloc[0]["h2_flow_stall_ms"])


class Clock:
    """A direction's capture times by stream offset (what ``timeline.last(end)`` answers: the
    time of the packet with byte ``end - 1``; None: not captured)."""

    def __init__(self, times: dict):
        self.times = times

    def last(self, end):
        return self.times.get(end)


def random_flow(rng):
    """Random sender DATA records and receiver WINDOW_UPDATE/SETTINGS records on a few
    streams, sized around the windows so that some run out; each frame's capture time (some
    unknown)."""
    from inferwire.protocols.http2 import Data, Settings, WindowUpdate
    sender, receiver, s_times, r_times = [], [], {}, {}
    s_at = r_at = 0
    t = 0
    if rng.random() < 0.5:      # a connection window that never runs out: streams' only
        receiver.append((WindowUpdate, 0, 0, 13, 1 << 30))
        r_at = 13
        r_times[r_at] = 0
    for _ in range(rng.randint(1, 40)):
        t += rng.choice([0, 1, 5, 100])
        if rng.random() < 0.6:
            size = rng.choice([0, 100, 16_384, 30_000, 65_535])
            sid = rng.choice([1, 3, 5])
            sender.append((Data, sid, s_at, s_at + 9 + size, size, rng.random() < 0.2, ()))
            s_at += 9 + size
            s_times[s_at] = None if rng.random() < 0.05 else t
        elif rng.random() < 0.85:
            receiver.append((WindowUpdate, rng.choice([0, 0, 1, 3, 5]), r_at, r_at + 13,
                             rng.choice([1, 1000, 65_535, 200_000])))
            r_at += 13
            r_times[r_at] = None if rng.random() < 0.05 else t
        else:
            params = {4: rng.choice([0, 1000, 65_535, 1 << 20])} if rng.random() < 0.8 else {}
            receiver.append((Settings, r_at, r_at + 15, rng.random() < 0.2, params))
            r_at += 15
            r_times[r_at] = None if rng.random() < 0.05 else t
    return sender, receiver, Clock(s_times), Clock(r_times)


def test_the_vectorised_test_prunes_only_flows_without_stalls():
    """Whether a window can have run out is judged in arrays (h2flow._possible) before the
    frame-by-frame walk: on random flows, pruning never loses a stall that the whole walk
    finds, and both kinds of flow occur."""
    import random
    from inferwire.exchanges import h2flow
    rng = random.Random(20261207)
    pruned = stalled = 0
    for _ in range(600):
        sender, receiver, s_clock, r_clock = random_flow(rng)
        whole = h2flow.stalls(sender, receiver, s_clock, r_clock, prune=False)
        assert h2flow.stalls(sender, receiver, s_clock, r_clock) == whole
        pruned += not h2flow._events(sender, receiver, s_clock, r_clock)
        stalled += bool(whole[0] or whole[1])
    assert pruned > 50 and stalled > 50, (pruned, stalled)
