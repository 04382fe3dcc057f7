"""gRPC over HTTP/2 over TLS (1.2 and 1.3) decrypted with a key log: exact rows per stream.

The TLS bytes come from real TLS stacks (Python's ssl / OpenSSL, client and server over MemoryBIO,
ALPN "h2", the client writing an SSLKEYLOGFILE key log), the HTTP/2 bytes from python-hyper's
``h2``; every TLS flight is one TCP segment at an exact crafted time (scapy). Two gRPC streams are
multiplexed and answered out of order, so a row can only be right if the decrypted plaintext went
through the HTTP/2 parser stream by stream. tshark, given the same key log, decrypts the capture
independently: the frames it assigns to each stream must be the ones inferwire reports.
"""
import ssl
import struct
import subprocess
from decimal import Decimal

import h2.config
import h2.connection
import pandas as pd
import pytest

import inferwire
from craft import Conversation, write_pcap
from inferwire.serving.tls import generate_self_signed
from needs import need_tool

US = 1_000  # ns
PORT = 8443
PATH = "/tensorflow.serving.PredictionService/Predict"


def grpc_msg(payload: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", len(payload)) + payload


class TlsH2Conversation:
    """A TCP conversation carrying a real TLS session (ALPN h2) and an h2 connection inside it.

    ``client(at_us)`` / ``server(at_us)`` encrypt what that side's h2 connection has to send and
    put the resulting TLS records in ONE TCP segment at T0 + at_us; the peer decrypts and feeds
    its h2 connection. ``frames`` maps a label to the 1-based frame number of that segment.
    """

    def __init__(self, tmp_path, version, ciphers=None):
        certs = generate_self_signed(tmp_path / "certs")
        self.keylog = tmp_path / "keys.log"
        self.keylog.write_text("")
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(certs.cert_file, certs.key_file)
        cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cctx.load_verify_locations(certs.cert_file)
        cctx.keylog_filename = str(self.keylog)
        for ctx in (sctx, cctx):
            ctx.minimum_version = ctx.maximum_version = version
            ctx.set_alpn_protocols(["h2"])
            if ciphers:
                ctx.set_ciphers(ciphers)
        self.c_in, self.c_out, self.s_in, self.s_out = (ssl.MemoryBIO() for _ in range(4))
        self.tls_c = cctx.wrap_bio(self.c_in, self.c_out, server_hostname="localhost")
        self.tls_s = sctx.wrap_bio(self.s_in, self.s_out, server_side=True)
        self.tcp = Conversation(client=("10.0.0.1", 41000), server=("10.0.0.2", PORT))
        self.h2c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.h2s = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        self.frames = {}

    # -- TLS handshake: each flight one segment, 50 µs apart from T0 + 100 µs ------------------
    def handshake(self):
        self.tcp.handshake(0, 10 * US, 20 * US)
        at, done = 100, set()
        while done != {"c", "s"}:
            for obj, side in ((self.tls_c, "c"), (self.tls_s, "s")):
                try:
                    obj.do_handshake()
                    done.add(side)
                except ssl.SSLWantReadError:
                    pass
            for src, dst, send in ((self.c_out, self.s_in, self.tcp.client),
                                   (self.s_out, self.c_in, self.tcp.server)):
                data = src.read()
                if data:
                    send(at * US, data)
                    dst.write(data)
                    at += 50
        assert self.tls_c.selected_alpn_protocol() == "h2"
        assert self.tls_c.version() == self.tls_s.version()
        return at

    @staticmethod
    def _read_plain(obj) -> bytes:
        out = b""
        while True:
            try:
                out += obj.read(65536)
            except ssl.SSLWantReadError:
                return out

    def client(self, at_us: int, label: str):
        plain = self.h2c.data_to_send()
        assert plain
        self.tls_c.write(plain)
        wire = self.c_out.read()
        self.tcp.client(at_us * US, wire)
        self.frames[label] = len(self.tcp.packets)
        self.s_in.write(wire)
        self.h2s.receive_data(self._read_plain(self.tls_s))

    def server(self, at_us: int, label: str):
        plain = self.h2s.data_to_send()
        assert plain
        self.tls_s.write(plain)
        wire = self.s_out.read()        # with TLS 1.3 the session tickets ride along at first
        self.tcp.server(at_us * US, wire)
        self.frames[label] = len(self.tcp.packets)
        self.c_in.write(wire)
        self.h2c.receive_data(self._read_plain(self.tls_c))


def request_headers(rid):
    return [(":method", "POST"), (":scheme", "https"), (":path", PATH),
            (":authority", "localhost:8443"), ("content-type", "application/grpc"),
            ("te", "trailers"), ("x-request-id", rid)]


def build(tmp_path, version, ciphers=None):
    """Stream 1 and stream 3 interleaved; the server answers 3 first. Times in µs after T0:

    1000 preface+SETTINGS, 1050 server SETTINGS(+ACK), 1100 client SETTINGS ACK
    2000 HEADERS s1, 2010 HEADERS s3, 2020 DATA s1 (END_STREAM), 2030 DATA s3 (END_STREAM)
    5000 HEADERS s3, 5010 HEADERS s1, 5020 DATA s3, 5030 trailers s3, 5040 DATA s1, 5050 trailers s1
    """
    t = TlsH2Conversation(tmp_path, version, ciphers)
    assert t.handshake() < 1000
    t.h2c.initiate_connection()
    t.client(1000, "preface")
    t.h2s.initiate_connection()
    t.server(1050, "server_settings")
    t.client(1100, "settings_ack")
    t.h2c.send_headers(1, request_headers("grpc-1"))
    t.client(2000, "s1_headers")
    t.h2c.send_headers(3, request_headers("grpc-3"))
    t.client(2010, "s3_headers")
    t.h2c.send_data(1, grpc_msg(b"a" * 100), end_stream=True)
    t.client(2020, "s1_data")
    t.h2c.send_data(3, grpc_msg(b"b" * 30), end_stream=True)
    t.client(2030, "s3_data")
    t.h2s.send_headers(3, [(":status", "200"), ("content-type", "application/grpc")])
    t.server(5000, "s3_resp_headers")
    t.h2s.send_headers(1, [(":status", "200"), ("content-type", "application/grpc")])
    t.server(5010, "s1_resp_headers")
    t.h2s.send_data(3, grpc_msg(b"r" * 40))
    t.server(5020, "s3_resp_data")
    t.h2s.send_headers(3, [("grpc-status", "5"), ("grpc-message", "no such model")],
                       end_stream=True)
    t.server(5030, "s3_trailers")
    t.h2s.send_data(1, grpc_msg(b"q" * 20))
    t.server(5040, "s1_resp_data")
    t.h2s.send_headers(1, [("grpc-status", "0")], end_stream=True)
    t.server(5050, "s1_trailers")
    t.tcp.ack_from_client(5100 * US)
    t.tcp.fin_from_client(6000 * US)
    t.tcp.fin_from_server(6100 * US)
    path = write_pcap(tmp_path / "tls_h2.pcap", t.tcp.packets)
    return path, t


VERSIONS = [
    pytest.param((ssl.TLSVersion.TLSv1_3, None, "TLS 1.3"), id="tls13"),
    pytest.param((ssl.TLSVersion.TLSv1_2, None, "TLS 1.2"), id="tls12-aesgcm"),
    pytest.param((ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-CHACHA20-POLY1305", "TLS 1.2"),
                 id="tls12-chacha20"),
]


@pytest.fixture(params=VERSIONS)
def tls_h2(request, tmp_path):
    version, ciphers, name = request.param
    path, conv = build(tmp_path, version, ciphers)
    return path, conv, name


def t_s(us):
    """Epoch seconds of T0 + ``us`` µs, as the tables give them."""
    return (Conversation().t0 + us * US) / 1e9


def test_grpc_over_tls_with_keylog_exact_rows_per_stream(tls_h2):
    path, conv, version_name = tls_h2
    a = inferwire.analyze(path, tls_keylog=conv.keylog)
    r = a.requests
    assert len(r) == 2, a.warnings
    assert set(r["protocol"]) == {"grpc"}
    assert r["tls"].all() and not r["inferred"].any() and r["complete"].all()
    r = r.set_index("stream")
    assert sorted(r.index) == [1, 3]
    s1, s3 = r.loc[1], r.loc[3]
    assert (s1["request_id"], s3["request_id"]) == ("grpc-1", "grpc-3")
    assert s1["method"] == "POST" and s1["path"] == PATH and s3["path"] == PATH
    assert (s1["status"], s3["status"]) == (200, 200)
    assert (s1["grpc_status"], s3["grpc_status"]) == (0, 5)
    assert (s1["request_bytes"], s1["response_bytes"]) == (105, 25)
    assert (s3["request_bytes"], s3["response_bytes"]) == (35, 45)
    # boundaries: the capture times of the crafted segments, per stream
    for row, (rs, re_, ps, pe) in ((s1, (2000, 2020, 5010, 5050)), (s3, (2010, 2030, 5000, 5030))):
        assert row["request_start"] == pytest.approx(t_s(rs), abs=1e-7)
        assert row["request_end"] == pytest.approx(t_s(re_), abs=1e-7)
        assert row["response_start"] == pytest.approx(t_s(ps), abs=1e-7)
        assert row["response_end"] == pytest.approx(t_s(pe), abs=1e-7)
    assert (s1["request_ms"], s1["wait_ms"], s1["response_ms"], s1["total_ms"]) == pytest.approx(
        (0.02, 2.99, 0.04, 3.05))
    assert (s3["request_ms"], s3["wait_ms"], s3["response_ms"], s3["total_ms"]) == pytest.approx(
        (0.02, 2.97, 0.03, 3.02))
    f = conv.frames
    assert (s1["request_frame"], s1["response_frame"]) == (f["s1_headers"], f["s1_trailers"])
    assert (s3["request_frame"], s3["response_frame"]) == (f["s3_headers"], f["s3_trailers"])
    # set-up phases on the connection's first request only (stream 1 starts first)
    assert s1["tcp_handshake_ms"] == pytest.approx(0.02)
    assert s1["h2_setup_ms"] == pytest.approx(0.1)          # preface 1000 µs -> last ACK 1100 µs
    assert s1["tls_handshake_ms"] > 0
    assert s3[["tcp_handshake_ms", "tls_handshake_ms", "h2_setup_ms"]].isna().all()
    conn = a.connections.iloc[0]
    assert conn["protocol"] == "grpc" and bool(conn["tls"]) and conn["requests"] == 2
    assert not pd.isna(conn["alpn"]) and conn["alpn"] == "h2"
    assert conn["sni"] == "localhost"
    assert conn["tls_version"] == version_name
    assert conn["h2_setup_ms"] == pytest.approx(0.1)
    assert not [w for w in a.warnings if "not decrypted" in w or "not HTTP" in w]


def test_same_capture_without_keylog_is_inferred_tls(tls_h2):
    path, _, _ = tls_h2
    a = inferwire.analyze(path)
    r = a.requests
    assert len(r) >= 1
    assert set(r["protocol"]) == {"tls"} and r["inferred"].all()
    assert r["grpc_status"].isna().all() and r["request_id"].isna().all()
    assert a.connections.iloc[0]["protocol"] == "tls"
    alpn = a.connections.iloc[0]["alpn"]
    assert not pd.isna(alpn) and alpn == "h2"          # visible in the clear handshake


def _tshark_h2_frames(path, keylog):
    """tshark's own decryption: (frame number, time ns, from client, stream ids) of every frame
    that carries HTTP/2 frames."""
    argv = [need_tool("tshark", "tshark"), "-r", str(path), "-o", f"tls.keylog_file:{keylog}",
            "-d", f"tcp.port=={PORT},tls", "-Y", "http2", "-T", "fields",
            "-e", "frame.number", "-e", "frame.time_epoch", "-e", "tcp.srcport",
            "-e", "http2.streamid"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120).stdout
    rows = []
    for line in out.splitlines():
        number, epoch, sport, streams = line.split("\t")
        ns = int(Decimal(epoch) * 1_000_000_000)
        rows.append((int(number), ns, int(sport) != PORT, {int(s) for s in streams.split(",")}))
    return rows


@pytest.mark.tshark
def test_per_stream_boundaries_match_tshark_decryption(tls_h2):
    path, conv, _ = tls_h2
    frames = _tshark_h2_frames(path, conv.keylog)
    assert frames, "tshark decrypted no HTTP/2"
    r = inferwire.analyze(path, tls_keylog=conv.keylog).requests.set_index("stream")
    assert sorted(r.index) == [1, 3]
    for sid in (1, 3):
        up = [(n, t) for n, t, from_client, ids in frames if from_client and sid in ids]
        down = [(n, t) for n, t, from_client, ids in frames if not from_client and sid in ids]
        assert len(up) == 2 and len(down) == 3        # HEADERS, DATA / HEADERS, DATA, trailers
        row = r.loc[sid]
        assert row["request_frame"] == up[0][0]
        assert row["response_frame"] == down[-1][0]
        assert row["request_start"] == pytest.approx(up[0][1] / 1e9, abs=1e-7)
        assert row["request_end"] == pytest.approx(up[-1][1] / 1e9, abs=1e-7)
        assert row["response_start"] == pytest.approx(down[0][1] / 1e9, abs=1e-7)
        assert row["response_end"] == pytest.approx(down[-1][1] / 1e9, abs=1e-7)
        # durations from tshark's integer-ns frame times
        assert row["request_ms"] == pytest.approx((up[-1][1] - up[0][1]) / 1e6)
        assert row["wait_ms"] == pytest.approx((down[0][1] - up[-1][1]) / 1e6)
        assert row["total_ms"] == pytest.approx((down[-1][1] - up[0][1]) / 1e6)
    assert not pd.isna(r.loc[1, "h2_setup_ms"])
