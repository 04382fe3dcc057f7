"""infer_exchanges (inferwire.protocols.tls.inference): bursts, sizes, ties."""
from __future__ import annotations

from inferwire.protocols.tls import infer_exchanges


MS = 1_000_000


def test_infer_exchanges_pairs_bursts_and_subtracts_overhead():
    client = [(100, 229, 124, 10 * MS, 10 * MS),                # request 1
              (229, 16642, 16408, 30 * MS, 30 * MS), (16642, 17000, 353, 31 * MS, 32 * MS),
              (17000, 17100, 95, 90 * MS, 90 * MS)]              # request 3, no answer yet
    server = [(50, 100, 45, 1 * MS, 1 * MS),                    # before any request: dropped
              (900, 1929, 1024, 12 * MS, 13 * MS), (1929, 2434, 500, 14 * MS, 14 * MS),
              (2434, 2534, 95, 40 * MS, 41 * MS)]
    ex = infer_exchanges(client, server, version="TLS 1.2", cipher_suite=0xC02F)
    assert len(ex) == 3
    e1, e2, e3 = ex
    assert (e1.req_start, e1.req_end, e1.resp_start, e1.resp_end) == (100, 229, 900, 2434)
    assert (e1.req_t_first_ns, e1.resp_t_first_ns, e1.resp_t_last_ns) == (10 * MS, 12 * MS,
                                                                         14 * MS)
    assert (e1.request_bytes, e1.response_bytes) == (100, 1000 + 476)
    assert (e1.request_records, e1.response_records) == (1, 2)
    assert (e2.request_bytes, e2.req_t_last_ns) == (16384 + 329, 32 * MS)
    assert e3.resp_start is None and e3.response_bytes is None and e3.response_records == 0
    assert all(e.inferred and e.plaintext_sizes for e in ex)


def test_infer_exchanges_unknown_cipher_uses_ciphertext_sizes():
    ex = infer_exchanges([(0, 105, 100, 1, 1)], [(0, 205, 200, 2, 2)], version="TLS 1.2",
                         cipher_suite=0xC013)
    assert (ex[0].request_bytes, ex[0].response_bytes, ex[0].plaintext_sizes) == (100, 200, False)
    assert infer_exchanges([], []) == []


def test_infer_exchanges_equal_times_put_the_client_first():
    ex = infer_exchanges([(0, 50, 45, 5, 5)], [(0, 60, 55, 5, 5)], version="TLS 1.3",
                         cipher_suite=0x1301)
    assert len(ex) == 1 and (ex[0].request_bytes, ex[0].response_bytes) == (28, 38)
