"""Capture readers: pcap / pcapng files -> a PacketTable of their TCP packets as numpy columns.

``read_packets(path)`` is the entry point; see :class:`PacketTable` for the columns and units.
"""
from __future__ import annotations

from . import decode, pcapng
from .reader import read_packets
from .table import CaptureStats, PacketTable, format_address



def accelerated() -> bool:
    """True when the record walk and the header decode run in C (the ``inferwire.packets._walk``
    and ``_headers`` extensions were built); False when the pure-Python code does either (same
    results, slower)."""
    return pcapng._cwalk is not None and decode._c_tcp_headers is not None


__all__ = ["read_packets", "PacketTable", "CaptureStats", "format_address", "accelerated"]
