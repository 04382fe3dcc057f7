"""Buckets of whole connections: cutting a capture into many buckets (and sharing them among
workers) changes nothing in the tables, the connection numbers or the warnings."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from needs import skip_or_fail

import inferwire
from inferwire.analysis import buckets
from inferwire.packets import read_packets
from craft import Conversation, http_request, http_response, write_pcap

US = 1_000
CAPTURES = Path(__file__).resolve().parents[2] / "captures"


def mixed_capture(tmp_path) -> str:
    """Eight interleaved connections: a reused 4-tuple, one without its handshake, one whose
    packets are written out of time order, one cut mid-response."""
    packets = []
    for k in range(5):
        c = Conversation(client=("10.0.0.1", 40000 + k), isn_client=100 + k,
                         t0_ns=1_700_000_000 * 10**9 + (7 - k) * 50 * US)
        c.handshake(0, 10 * US, 20 * US)
        c.client(30 * US, http_request(request_id=f"c{k}"))
        c.server((60 + k) * US, http_response())
        c.fin_from_client(90 * US)
        c.fin_from_server(95 * US)
        packets += c.packets
    reuse = Conversation(client=("10.0.0.1", 40000), isn_client=777_777,
                         t0_ns=1_700_000_000 * 10**9 + 3_000 * US)
    reuse.handshake(0, 10 * US, 20 * US)
    reuse.client(30 * US, http_request(request_id="reused"))
    reuse.server(80 * US, http_response())
    midway = Conversation(client=("10.0.0.9", 50000), t0_ns=1_700_000_000 * 10**9 + 100 * US)
    midway.client(0, http_request(request_id="no-syn"))
    midway.server(40 * US, http_response())
    cut = Conversation(client=("10.0.0.7", 50001), t0_ns=1_700_000_000 * 10**9 + 200 * US)
    cut.handshake(0, 10 * US, 20 * US)
    cut.client(30 * US, http_request(request_id="cut"))
    cut.server(70 * US, http_response(b"x" * 300)[:60])
    late = list(reversed(cut.packets[3:]))              # written out of time order
    return write_pcap(tmp_path / "mixed.pcap",
                      packets + reuse.packets + midway.packets + cut.packets[:3] + late)


def analyze_all(path, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return inferwire.analyze(path, **options)


def assert_same(a, b):
    pd.testing.assert_frame_equal(a.requests, b.requests)
    pd.testing.assert_frame_equal(a.connections, b.connections)
    assert a.warnings == b.warnings


def test_both_directions_of_a_connection_share_a_bucket(tmp_path):
    with read_packets(mixed_capture(tmp_path)) as table:
        parts = buckets.bucket_rows(table, 5)
        assert sorted(np.concatenate(parts).tolist()) == list(range(len(table)))
        assert all(np.all(np.diff(rows) > 0) for rows in parts)       # file order
        for rows in parts:
            mine = {frozenset(((int(table.src_lo[i]), int(table.sport[i])),
                               (int(table.dst_lo[i]), int(table.dport[i])))) for i in rows}
            for other in parts:
                if other is not rows:
                    theirs = {frozenset(((int(table.src_lo[i]), int(table.sport[i])),
                                         (int(table.dst_lo[i]), int(table.dport[i]))))
                              for i in other}
                    assert not mine & theirs
        assert len(parts) > 1


@pytest.mark.parametrize("use_c", [True, False], ids=["C", "numpy"])
@pytest.mark.parametrize("n", [2, 7, 40_000, 70_000])
def test_bucket_rows_are_each_buckets_packets_in_file_order(tmp_path, n, use_c):
    """Whatever the sort (in C up to 65,536 buckets; in numpy 16-bit keys up to 32,767, 64-bit
    beyond): bucket k's rows are exactly the packets whose bucket id is k, ascending; empty
    buckets left out."""
    if use_c and buckets._c_bucket_order is None:
        skip_or_fail("inferwire.tcp._segments is not built: no C cut to test")
    with read_packets(mixed_capture(tmp_path)) as table:
        ids = buckets.bucket_ids(table.src_hi, table.src_lo, table.sport, table.dst_hi,
                                 table.dst_lo, table.dport, n)
        expected = [r for r in (np.flatnonzero(ids == k) for k in range(n)) if len(r)]
        got = buckets.bucket_rows(table, n, use_c=use_c)
        assert len(got) == len(expected) > 1
        assert all(np.array_equal(a, b) and a.dtype == np.int64 for a, b in zip(got, expected))


@pytest.mark.parametrize("seed", range(4))
def test_the_c_cut_hashes_as_bucket_ids_does(seed):
    """Random endpoints (IPv4 stored mapped, IPv6 with both halves, every port), any count of
    buckets: the C cut's rows are bucket_ids' buckets, each in file order."""
    if buckets._c_bucket_order is None:
        skip_or_fail("inferwire.tcp._segments is not built: no C cut to test")
    rng = np.random.default_rng(seed)
    n = 5000
    v6 = rng.random(n) < 0.3
    hi = lambda: np.where(v6, rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2),  # noqa: E731
                          np.uint64(0)).astype(np.uint64)
    lo = lambda: rng.integers(0, 2**63, n, dtype=np.uint64) | np.uint64(1)  # noqa: E731
    cols = dict(src_hi=hi(), src_lo=lo(), sport=rng.integers(0, 65536, n).astype(np.int32),
                dst_hi=hi(), dst_lo=lo(), dport=rng.integers(0, 65536, n).astype(np.int32))
    for buckets_n in (2, 3, 16, 1000, 65_536):
        order, counts = buckets._c_bucket_order(*cols.values(), buckets_n)
        order, counts = np.frombuffer(order, np.int64), np.frombuffer(counts, np.int64)
        ids = buckets.bucket_ids(*cols.values(), buckets_n)
        assert counts.tolist() == np.bincount(ids, minlength=buckets_n).tolist()
        assert order.tolist() == np.argsort(ids, kind="stable").tolist()


@pytest.mark.parametrize("workers", [1, 2])
def test_many_buckets_give_the_same_tables(tmp_path, monkeypatch, workers):
    path = mixed_capture(tmp_path)
    whole = analyze_all(path, workers=1)
    assert len(whole.connections) == 8
    assert list(whole.connections["connection"]) == list(range(8))
    monkeypatch.setattr(buckets, "BUCKET_PACKETS", 3)            # a bucket per few packets
    assert_same(whole, analyze_all(path, workers=workers))


@pytest.mark.parametrize("capture, options", [
    ("run-b1/capture.pcapng", {"ignore_ports": (8500,)}),          # numbers kept, rows left out
    ("run-new-conn/capture.pcapng", {}),
    ("tls-rest.pcapng", {"tls_keylog": CAPTURES / "tls-rest.keylog"}),
])
def test_real_captures_in_many_buckets(monkeypatch, capture, options):
    whole = analyze_all(CAPTURES / capture, workers=1, **options)
    assert len(whole.requests) > 0
    monkeypatch.setattr(buckets, "BUCKET_PACKETS", 50)
    assert_same(whole, analyze_all(CAPTURES / capture, workers=1, **options))
    assert_same(whole, analyze_all(CAPTURES / capture, workers=2, **options))


def test_global_numbers_rank_every_key():
    keys = [np.array([[5, 1, 1], [9, 2, 2]]), np.array([[5, 0, 0], [7, 3, 3]])]
    assert [n.tolist() for n in buckets.global_numbers(keys)] == [[1, 3], [0, 2]]
    assert buckets.bucket_count(10, 1) == 1 and buckets.bucket_count(10, 2) == 8
    assert buckets.bucket_count(950_000, 2) == 10       # one per BUCKET_PACKETS


def test_bucket_ids_are_the_same_both_ways_and_spread_the_tuples():
    """A 4-tuple's packets each way get one bucket (IPv4, stored mapped, and IPv6 with both
    halves), and many client ports to one server spread evenly over the buckets; the inputs
    are not changed (the hash works in place on its own arrays)."""
    rng = np.random.default_rng(7)
    n = 20_000
    v6 = rng.random(n) < 0.5
    cols = {"src_hi": np.where(v6, rng.integers(1, 2**63, n), 0).astype(np.uint64),
            "src_lo": (rng.integers(0, 2**32, n) | (0xFFFF << 32)).astype(np.uint64),
            "sport": rng.integers(1024, 65536, n).astype(np.int32),
            "dst_hi": np.where(v6, rng.integers(1, 2**63, n), 0).astype(np.uint64),
            "dst_lo": np.full(n, 0xFFFF_0A000001, np.uint64), "dport": np.full(n, 8500, np.int32)}
    kept = {k: v.copy() for k, v in cols.items()}
    ways = buckets.bucket_ids(cols["src_hi"], cols["src_lo"], cols["sport"], cols["dst_hi"],
                              cols["dst_lo"], cols["dport"], 8)
    back = buckets.bucket_ids(cols["dst_hi"], cols["dst_lo"], cols["dport"], cols["src_hi"],
                              cols["src_lo"], cols["sport"], 8)
    assert np.array_equal(ways, back) and ways.min() >= 0 and ways.max() <= 7
    assert all(np.array_equal(cols[k], kept[k]) for k in cols)
    counts = np.bincount(ways, minlength=8)
    assert counts.min() > 0.9 * n / 8 and counts.max() < 1.1 * n / 8
    # one server, loopback-like: only the client port differs
    ports = np.arange(30000, 30000 + 4000, dtype=np.int32)
    one = np.full(len(ports), 0xFFFF_7F000001, np.uint64)
    zero = np.zeros(len(ports), np.uint64)
    ids = buckets.bucket_ids(zero, one, ports, zero, one, np.full(len(ports), 8501, np.int32), 8)
    counts = np.bincount(ids, minlength=8)
    assert counts.min() > 0.85 * len(ports) / 8 and counts.max() < 1.15 * len(ports) / 8
