"""Buckets of whole TCP connections: how one capture is cut so that the analysis holds the objects of
one bucket at a time (memory bounded by the bucket, not by the capture) and shares buckets out
among worker processes.

A bucket is the packets of a set of 4-tuples, chosen by a hash of the 4-tuple that is the same in
both directions.  So every connection, and every reuse of its 4-tuple, lies whole in one bucket,
and :func:`~inferwire.tcp.build_connections` finds it there exactly as in the whole table.

Connection numbers stay those of the whole capture (Wireshark's ``tcp.stream``: connections in
order of their first packet's time, then file order): :func:`order_keys` gives each bucket's
connections their sort key in whole-table terms, :func:`global_numbers` ranks them all.
"""
from __future__ import annotations

import numpy as np

from ..tcp.grouping import PacketGroups
from ..tcp.sorting import stable_argsort

try:              # the cut in one pass in C (tcp/_segments.c); the numpy one is the reference
    from ..tcp._segments import bucket_order as _c_bucket_order
except ImportError:
    _c_bucket_order = None

#: Packets per bucket (about 2 KB of working memory each during its analysis): enough that the
#: per-bucket overheads do not show, few enough that a bucket's objects stay small.
BUCKET_PACKETS = 100_000

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place: every input bit moves every output bit (``x``
    uint64, changed and returned)."""
    t = np.empty_like(x)
    for shift, mult in ((30, _M1), (27, _M2), (31, None)):
        np.right_shift(x, np.uint64(shift), out=t)
        np.bitwise_xor(x, t, out=x)
        if mult is not None:
            np.multiply(x, mult, out=x)
    return x


def _endpoint(hi: np.ndarray, lo: np.ndarray, port: np.ndarray) -> np.ndarray:
    """One endpoint's address and port in one uint64 (the port in the top 16 bits, over the
    address's low bits; IPv6's high half folded in by a multiply): a new array."""
    x = port.astype(np.uint64)
    np.left_shift(x, np.uint64(48), out=x)
    np.bitwise_xor(x, lo, out=x)
    if hi.any():                          # IPv6 (IPv4 is stored mapped: hi 0)
        np.bitwise_xor(x, hi * _M2, out=x)
    return x


#: The fewest buckets per worker process, so that one heavy connection does not leave the other
#: workers idle (they claim the buckets heaviest first).  Each bucket has its set-up (its
#: packets grouped into connections, its columns gathered: about 20 ms for 25,000 packets):
#: 4 was faster than 8 on the h2load + ab capture (3 gRPC connections among 20,000; warm calls,
#: medians of 6: 0.469 s against 0.503 s; docs/bench-analyze.md has the whole-process figures,
#: noisier), 2 was slower (0.484 s), 3 and 5 within the machine's noise of 4.
BUCKETS_PER_WORKER = 4


def bucket_count(tcp_packets: int, workers: int) -> int:
    """How many buckets: one per :data:`BUCKET_PACKETS` packets, and at least
    :data:`BUCKETS_PER_WORKER` per worker."""
    n = -(-tcp_packets // BUCKET_PACKETS)
    if workers > 1:
        n = max(n, BUCKETS_PER_WORKER * workers)
    return max(1, n)


def bucket_ids(src_hi, src_lo, sport, dst_hi, dst_lo, dport, n: int) -> np.ndarray:
    """The bucket (0..n-1) of each packet from its addresses and ports: the same for both
    directions of a 4-tuple (its two endpoints XORed, then mixed).  In place on two arrays
    of the packets' size: each new array's pages are faulted in at first touch (0.75 ms a MiB
    on this VM), and the first call's five mixes of new temporaries took 50 ms on 884,000
    packets."""
    with np.errstate(over="ignore"):
        h = _endpoint(src_hi, src_lo, sport)
        np.bitwise_xor(h, _endpoint(dst_hi, dst_lo, dport), out=h)
        _mix(h)
        np.remainder(h, np.uint64(n), out=h)
    return h.view(np.int64)


def bucket_rows(table, n: int, use_c: bool = True) -> list[np.ndarray]:
    """The table's rows cut into at most ``n`` buckets of whole 4-tuples; each bucket's rows
    in file order, empty buckets left out.  In one pass in C when built
    (``_segments.bucket_order``: :func:`bucket_ids`' hash and a counting sort; the serial step
    before the workers fork, 42 ms -> 8 ms on 1.56 M packets), else (``use_c`` False) with
    numpy: the same rows."""
    if n <= 1 or len(table) == 0:
        return [np.arange(len(table), dtype=np.int64)] if len(table) else []
    if _c_bucket_order is not None and use_c and n <= 1 << 16:
        order, counts = _c_bucket_order(table.src_hi, table.src_lo, table.sport, table.dst_hi,
                                        table.dst_lo, table.dport, n)
        order = np.frombuffer(order, np.int64)
        cuts = np.cumsum(np.frombuffer(counts, np.int64))[:-1]
        return [rows for rows in np.split(order, cuts) if len(rows)]
    bucket = bucket_ids(table.src_hi, table.src_lo, table.sport, table.dst_hi, table.dst_lo,
                        table.dport, n)
    order = stable_argsort(bucket)      # file order within a bucket; by radix: O(packets)
    cuts = np.searchsorted(bucket[order], np.arange(1, n))
    return [rows for rows in np.split(order, cuts) if len(rows)]


class TableBuckets:
    """The buckets of a table held in memory, as the analysis takes them: ``weights`` (packets
    per bucket) and ``bucket(b)`` -> (its table, its rows in the whole table)."""

    def __init__(self, table, n: int):
        self.table, self.rows = table, bucket_rows(table, n)
        self.weights = [len(r) for r in self.rows]

    def bucket(self, b: int):
        if len(self.rows) == 1:
            return self.table, self.rows[0]
        return self.table.take(self.rows[b]), self.rows[b]


def order_keys(sub, rows: np.ndarray, groups: PacketGroups | None = None) -> np.ndarray:
    """For the connections of ``sub`` (the table of ``rows``), in the order
    :func:`~inferwire.tcp.build_connections` returns them: their whole-table sort keys, an
    ``(n, 3)`` int64 array of (first packet time ns, first row of its 4-tuple, first row).
    ``groups``: ``PacketGroups(sub)`` if already made (build_connections can share it)."""
    if len(sub) == 0:
        return np.zeros((0, 3), dtype=np.int64)
    g = PacketGroups(sub) if groups is None else groups
    first_row = g.order[g.starts]
    tuple_first = first_row[np.maximum.accumulate(np.where(g.new_tuple[g.starts],
                                                           np.arange(len(g.starts)), 0))]
    first_ns = np.minimum.reduceat(g.s_ts, g.starts)
    built = np.lexsort((first_row, tuple_first, first_ns))     # build_connections' order
    return np.stack([first_ns[built], rows[tuple_first[built]], rows[first_row[built]]], axis=1)


def global_numbers(keys: list[np.ndarray]) -> list[np.ndarray]:
    """Whole-capture connection numbers for each bucket's connections (from :func:`order_keys`):
    the rank of each key among all of them."""
    if not keys:
        return []
    allkeys = np.concatenate(keys)
    ranks = np.empty(len(allkeys), dtype=np.int64)
    ranks[np.lexsort((allkeys[:, 2], allkeys[:, 1], allkeys[:, 0]))] = np.arange(len(allkeys))
    return np.split(ranks, np.cumsum([len(k) for k in keys])[:-1])
