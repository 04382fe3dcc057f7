"""A SYN stamped after the ACK that completes its handshake (clock steps, merged captures; found
by the fuzz target) gave tcp_handshake_ms = -999.98: the span is left empty and said."""
from __future__ import annotations

import warnings

import pandas as pd

import inferwire
from craft import Conversation, http_request, http_response, write_pcap

US = 1_000


def test_handshake_stamped_backwards_is_empty_and_said(tmp_path):
    c = Conversation()
    c.handshake(1_000_000 * US, 10 * US, 20 * US)        # the SYN 1 s after the SYN-ACK and ACK
    c.client(100 * US, http_request())
    c.server(300 * US, http_response())
    path = write_pcap(tmp_path / "backwards.pcap", c.packets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = inferwire.analyze(path)
    assert pd.isna(a.requests.loc[0, "tcp_handshake_ms"])
    assert pd.isna(a.connections.loc[0, "tcp_handshake_ms"])
    assert a.requests.loc[0, "total_ms"] == 0.2
    assert any(w.endswith("time stamps out of causal order (the end before the start): "
                          "tcp_handshake_ms left empty") for w in a.warnings), a.warnings
