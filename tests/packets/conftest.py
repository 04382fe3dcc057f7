"""Fixtures of the capture-reader tests."""
from __future__ import annotations

import itertools
import warnings

import pytest

from inferwire.packets import read_packets
from needs import need_tool  # noqa: F401  (re-exported to the tests here)

_names = itertools.count()


@pytest.fixture
def read_bytes(tmp_path):
    """Write bytes to a capture file and read it: read_bytes(data) -> PacketTable.

    InferwireWarnings are recorded, not shown: tests assert on ``table.stats.warnings``.
    """
    tables = []

    def read(data: bytes, suffix: str = ".pcap"):
        path = tmp_path / f"capture{next(_names)}{suffix}"
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = read_packets(path)
        tables.append(table)
        return table

    yield read
    for table in tables:
        table.close()




def row(table, i: int) -> dict:
    """Row ``i`` of a PacketTable as a dict of Python ints (addresses as text)."""
    names = ["frame", "ts_ns", "iface", "ip_version", "sport", "dport", "seq", "ack", "flags",
             "window", "ip_id", "payload_len", "captured_len", "payload_off"]
    out = {n: int(getattr(table, n)[i]) for n in names}
    out["src"] = table.address(table.src_hi[i], table.src_lo[i])
    out["dst"] = table.address(table.dst_hi[i], table.dst_lo[i])
    out["payload"] = bytes(table.payload(i))
    return out
