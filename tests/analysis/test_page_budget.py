"""PageBudget: when the capture's mapped pages are let go (analysis/pages.py).  What a read maps
is counted as a fault-around window per piece, but never more than the span of offsets read
since the last release: many small pieces packed in a short span do not release, pieces spread
over more than the budget do, and each release covers only what was read."""
from inferwire.analysis.pages import FAULT_AROUND, PageBudget, spender

MIB = 1 << 20


class Table:
    """Records the ``release(end, start)`` calls a budget makes."""

    def __init__(self):
        self.released = []

    def release(self, end_offset=None, start=0):
        self.released.append((start, end_offset))


def test_small_pieces_in_a_short_span_never_release():
    table = Table()
    spend = spender(PageBudget(table, 16 * MIB))
    for i in range(100_000):                 # 300-byte tokens, 30 MB counted at 64 KiB a piece
        at = (i * 97) % (8 * MIB)            # ... all inside 8 MiB of the file
        spend(1, 300, at, at + 300)
    assert table.released == []


def test_pieces_spread_wider_than_the_budget_release_what_was_read():
    table = Table()
    spend = spender(PageBudget(table, 16 * MIB))
    for i in range(40):                      # 1 MiB pieces one after the other: 40 MiB
        spend(1, MIB, i * MIB, (i + 1) * MIB)
    assert len(table.released) == 2
    start, end = table.released[0]
    assert start == 0 and 15 * MIB < end < 17 * MIB + 2 * FAULT_AROUND
    assert table.released[1][0] >= end - 4 * FAULT_AROUND     # the next span, not from 0


def test_a_whole_file_budget_keeps_a_file_smaller_than_it():
    table = Table()
    spend = spender(PageBudget(table, 512 * MIB))
    for sweep in range(16):                  # 16 interleaved connections, each across the file
        for i in range(0, 300 * MIB, 64 * 1024):
            spend(1, 300, i + sweep * 300, i + sweep * 300 + 300)
    assert table.released == []


def test_one_request_connections_are_read_a_quarter_budget_at_a_time():
    """(plainbatch reads that many connections' heads, two fault-around windows each, between
    two calls to the spender: a spilled bucket's 16 MiB budget, 32; a whole file's, 1,024.)"""
    table = Table()
    assert spender(PageBudget(table, 16 * MIB)).connections == 32
    assert spender(PageBudget(table, 512 * MIB)).connections == 1024
    assert 2 * FAULT_AROUND * 32 == 16 * MIB // 4
