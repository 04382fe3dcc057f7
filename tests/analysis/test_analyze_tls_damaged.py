"""TLS framing checked against the stream, and keyless rows that must not claim more than was seen.

Crafted TLS 1.3 connections (record layer only: without keys nothing else is read) and the real
capture in captures/ cut short: a record whose length runs past the FIN or above the TLS 1.3
maximum is a warning naming the direction and stream offset, a damaged ClientHello is named as the
reason nothing was decrypted, and the last inferred exchange of a connection still open when the
capture ended is not complete.
"""
import struct
import warnings
from pathlib import Path

import pandas as pd
import pytest

import inferwire
from craft import Conversation, write_pcap

US = 1_000
CAPTURES = Path(__file__).resolve().parents[2] / "captures"
TLS_REST = CAPTURES / "tls-rest.pcapng"
TLS_REST_KEYS = CAPTURES / "tls-rest.keylog"
PROBE_PORT = 56605          # the capture's probe connections (see captures/README.md)
OVERHEAD = 17               # TLS_AES_128_GCM_SHA256: 16-byte tag + 1 inner content type


def rec(ctype: int, payload: bytes, length: int | None = None) -> bytes:
    """A TLS record; ``length`` overrides the header's length field (to damage it)."""
    return struct.pack(">BHH", ctype, 0x0303, len(payload) if length is None else length) + payload


def _ext(ext_type: int, data: bytes) -> bytes:
    return struct.pack(">HH", ext_type, len(data)) + data


def client_hello() -> bytes:
    exts = _ext(43, b"\x04\x03\x04\x03\x03")                       # supported_versions
    body = (b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
            + struct.pack(">H", len(exts)) + exts)
    return bytes([1]) + len(body).to_bytes(3, "big") + body


def server_hello() -> bytes:
    exts = _ext(43, b"\x03\x04") + _ext(51, b"\x00\x1d" + struct.pack(">H", 32) + b"\x08" * 32)
    body = (b"\x03\x03" + b"\x22" * 32 + b"\x00" + b"\x13\x01" + b"\x00"
            + struct.pack(">H", len(exts)) + exts)
    return bytes([2]) + len(body).to_bytes(3, "big") + body


CH = rec(22, client_hello())
SERVER_FLIGHT = (rec(22, server_hello()) + rec(20, b"\x01") + rec(23, b"e" * 40)
                 + rec(23, b"c" * 800) + rec(23, b"v" * 90) + rec(23, b"f" * 53))
CLIENT_FINISHED = rec(20, b"\x01") + rec(23, b"F" * 53)


def _tls13(tmp_path, exchanges, *, tickets=(), fin=True, name="tls.pcap"):
    """A TLS 1.3 connection: handshake, ``tickets`` (server records sent before any request),
    then each (t_request_us, request, t_response_us, response) in turn; FIN from both sides
    unless ``fin`` is False (the capture cut while the connection was open)."""
    c = Conversation(server=("10.0.0.2", 8443))
    c.handshake(0, 10 * US, 20 * US)
    c.client(100 * US, CH)
    c.server(300 * US, SERVER_FLIGHT)
    c.client(500 * US, CLIENT_FINISHED)
    for t_us, data in tickets:
        c.server(t_us * US, data)
    for t_req, request, t_resp, response in exchanges:
        c.client(t_req * US, request)
        c.server(t_resp * US, response)
    if fin:
        c.fin_from_client(9_000 * US)
        c.fin_from_server(9_100 * US)
    return write_pcap(tmp_path / name, c.packets)


def _analyze(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return inferwire.analyze(path, **kw)


def test_record_running_past_the_fin_is_named_and_earlier_rows_kept(tmp_path):
    good = rec(23, b"r" * 317)
    bad = rec(23, b"r" * 317, length=0x4001)          # 16385: legal size, but past the FIN
    path = _tls13(tmp_path, [(1_000, rec(23, b"q" * 217), 1_400, good),
                             (2_000, rec(23, b"q" * 117), 2_500, bad)])
    a = _analyze(path)
    r = a.requests
    assert len(r) == 2 and r["inferred"].all()
    assert list(r["complete"]) == [True, False]
    assert r.loc[0, "response_bytes"] == 317 - OVERHEAD
    assert r.loc[0, "total_ms"] == pytest.approx(1.4 - 1.0)
    assert pd.isna(r.loc[1, "response_bytes"]) and pd.isna(r.loc[1, "total_ms"])
    bad_at = len(SERVER_FLIGHT) + len(good)
    end = bad_at + len(bad)
    expected = (f"TLS server: application_data record at stream offset {bad_at} declares 16385 "
                f"bytes, {bad_at + 5 + 16385 - end} more than were captured (the direction "
                f"ended (FIN) at stream offset {end}: the length field is wrong); it is not "
                "reported")
    assert any(w.endswith(expected) for w in a.warnings), a.warnings


def test_record_longer_than_tls13_allows_is_a_warning_with_its_offset(tmp_path):
    good = rec(23, b"r" * 317)
    huge = rec(23, b"r" * (2 ** 14 + 257))             # fits in the stream, over 2^14+256
    path = _tls13(tmp_path, [(1_000, rec(23, b"q" * 217), 1_400, good),
                             (2_000, rec(23, b"q" * 117), 2_500, huge)])
    a = _analyze(path)
    r = a.requests
    assert list(r["complete"]) == [True, False]       # the server direction stopped at it
    assert r.loc[0, "response_bytes"] == 300
    offset = len(SERVER_FLIGHT) + len(good)
    expected = (f"TLS server: stream offset {offset}, field length: record length 16641 exceeds "
                "the maximum 2^14+256 (TLS 1.3, RFC 8446 5.2)")
    assert any(expected in w for w in a.warnings), a.warnings


def test_damaged_client_hello_is_named_instead_of_missing_secrets(tmp_path):
    c = Conversation(server=("10.0.0.2", 8443))
    c.handshake(0, 10 * US, 20 * US)
    damaged = rec(22, client_hello(), length=0x4100)  # runs over everything the client sent
    c.client(100 * US, damaged)
    c.server(300 * US, SERVER_FLIGHT)
    c.client(500 * US, CLIENT_FINISHED + rec(23, b"q" * 217))
    c.server(900 * US, rec(23, b"r" * 317))
    c.fin_from_client(2_000 * US)
    c.fin_from_server(2_100 * US)
    path = write_pcap(tmp_path / "hello.pcap", c.packets)
    keys = tmp_path / "keys.log"
    keys.write_text(f"CLIENT_RANDOM {'ab' * 32} {'cd' * 48}\n")
    a = _analyze(path, tls_keylog=keys)
    notes = [w for w in a.warnings if "TLS not decrypted" in w]
    assert len(notes) == 1 and "no matching secrets" not in notes[0]
    assert notes[0].endswith("TLS not decrypted (the handshake could not be parsed: at client "
                             "stream offset 0, its record declares 16640 bytes, past the end of "
                             "the captured stream): requests inferred from record sizes")


def test_garbage_key_log_is_named_in_the_not_decrypted_warning(tmp_path):
    path = _tls13(tmp_path, [(1_000, rec(23, b"q" * 217), 1_400, rec(23, b"r" * 317))])
    keys = tmp_path / "garbage.log"
    keys.write_bytes(b"\x8f\x00 random bytes\nCLIENT_RANDOM zz yy\n")
    with pytest.warns(inferwire.InferwireWarning, match="2 of 2 lines not understood"):
        a = inferwire.analyze(path, tls_keylog=keys)
    assert any(f"the key log {keys} has lines that were not understood" in w
               for w in a.warnings), a.warnings


def test_tickets_before_the_first_request_are_not_a_response(tmp_path):
    tickets = [(600, rec(23, b"t" * 250)), (610, rec(23, b"t" * 250))]
    path = _tls13(tmp_path, [(1_000, rec(23, b"q" * 217), 1_400, rec(23, b"r" * 317))],
                  tickets=tickets)
    r = _analyze(path).requests
    assert len(r) == 1 and bool(r.loc[0, "complete"])
    assert r.loc[0, "request_bytes"] == 200 and r.loc[0, "response_bytes"] == 300
    assert r.loc[0, "total_ms"] == pytest.approx(0.4)


def test_capture_cut_while_open_leaves_the_last_inferred_response_incomplete(tmp_path):
    path = _tls13(tmp_path, [(1_000, rec(23, b"q" * 217), 1_400, rec(23, b"r" * 317)),
                             (2_000, rec(23, b"q" * 117), 2_300, rec(23, b"r" * 233))],
                  fin=False)
    r = _analyze(path).requests
    assert list(r["complete"]) == [True, False]
    assert r.loc[0, "response_bytes"] == 300 and r.loc[0, "total_ms"] == pytest.approx(0.4)
    assert pd.isna(r.loc[1, "response_bytes"]) and pd.isna(r.loc[1, "total_ms"])
    assert pd.isna(r.loc[1, "response_frame"])
    # a server close_notify (a 2-byte alert: 19-byte record) says the server was done
    path = _tls13(tmp_path, [(1_000, rec(23, b"q" * 217), 1_400,
                              rec(23, b"r" * 317) + rec(23, b"a" * 19))], fin=False,
                  name="closed.pcap")
    r = _analyze(path).requests
    assert list(r["complete"]) == [True] and r.loc[0, "response_bytes"] == 300


@pytest.fixture(scope="module")
def tls_rest_cut(tmp_path_factory):
    path = tmp_path_factory.mktemp("cut") / "tls-cut97848.pcapng"
    path.write_bytes(TLS_REST.read_bytes()[:97848])   # cut inside connection 22's response
    return path


def test_cut_real_capture_does_not_mark_tickets_as_a_complete_response(tls_rest_cut):
    keyless = _analyze(tls_rest_cut, ignore_ports=(PROBE_PORT,)).requests.set_index("connection")
    keyed = _analyze(tls_rest_cut, ignore_ports=(PROBE_PORT,),
                     tls_keylog=TLS_REST_KEYS).requests.set_index("connection")
    assert list(keyless.index) == list(range(15, 23)) == list(keyed.index)
    # connection 22: the request went out, the server sent only its two session tickets
    # (2 x 233 plaintext bytes) before the cut; the response was never captured
    row = keyless.loc[22]
    assert not row["complete"] and pd.isna(row["response_bytes"]) and pd.isna(row["total_ms"])
    assert row["request_frame"] == 190 and pd.isna(row["response_frame"])
    assert not keyed.loc[22, "complete"] and pd.isna(keyed.loc[22, "total_ms"])
    # the connections that ended are unchanged and agree with the decrypted rows
    assert keyless.loc[15:21, "complete"].all()
    assert list(keyless.loc[16:21, "total_ms"].round(6)) == \
        list(keyed.loc[16:21, "total_ms"].round(6)) == \
        [3.545699, 3.543996, 3.537433, 3.155597, 4.018415, 3.875317]
