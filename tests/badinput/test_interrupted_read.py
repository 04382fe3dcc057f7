"""Ctrl-C while a capture is being read is a KeyboardInterrupt, whatever still holds a view of
the mapped file (closing the map raised BufferError, which replaced the interrupt: an 'internal
error', exit 70, and a capture run left without its analysis note)."""
from __future__ import annotations

import numpy as np
import pytest

from inferwire.packets import reader
from badcraft import grpc_capture


def test_ctrl_c_mid_walk_stays_a_keyboard_interrupt(tmp_path, monkeypatch):
    path = grpc_capture(tmp_path / "g.pcap")

    def interrupted(buf, *args, **kwargs):
        view = np.frombuffer(buf, dtype=np.uint8)      # as the decoder holds one  # noqa: F841
        raise KeyboardInterrupt

    monkeypatch.setattr(reader, "_decode_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reader.read_packets(path)
