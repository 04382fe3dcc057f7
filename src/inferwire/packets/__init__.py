"""Capture readers: pcap / pcapng files -> a PacketTable of their TCP packets as numpy columns.

``read_packets(path)`` is the entry point; see :class:`PacketTable` for the columns and units.
"""
from __future__ import annotations

from . import pcapng
from .reader import read_packets
from .table import CaptureStats, PacketTable, format_address



def accelerated() -> bool:
    """True when the record walk runs in C (the ``inferwire.packets._walk`` extension was built);
    False when the pure-Python loop does it (same results, slower)."""
    return pcapng._cwalk is not None


__all__ = ["read_packets", "PacketTable", "CaptureStats", "format_address", "accelerated"]
