"""Streamed completions over TLS on real loopback traffic (issue 20): the embedded server's
``/v1/completions`` served over HTTPS with a key log (its REST side writes one, docs/tls.md) and
over plain HTTP, the same requests sent to each on one keep-alive connection, both captured with
dumpcap.  Decrypted with the key log, the TLS capture's per-message rows have the plaintext run's
structure (per request: the same messages, kinds and sizes), each message's times are frame times
of the capture, the chunk sizes are the ones tshark reports when it decrypts with the same key log,
and without the key log no request is split (nothing readable)."""
from __future__ import annotations

import http.client
import json
import ssl
import time

import pytest

import inferwire
from inferwire.load.streaming import _read_stream

from . import wireshark
from .conftest import run_captured

pytestmark = [pytest.mark.tshark, pytest.mark.capture]

TOKENS = 12
TOKEN_MS = 1.0
REQUESTS = 4
BODY = json.dumps({"prompt": "the server reads the request", "max_tokens": TOKENS,
                   "stream": True}).encode()


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    from inferwire.serving import ModelConfig, ModelServer, ServerConfig, cached_models
    from inferwire.serving.tls import TLSConfig, generate_self_signed
    certs = tmp_path_factory.mktemp("tls")
    made = generate_self_signed(certs)
    tls = TLSConfig(made.cert_file, made.key_file, str(certs / "keys.log"))
    models = (ModelConfig("mnist", str(cached_models() / "mnist")),)
    with ModelServer(ServerConfig(models=models, grpc_port=None, rest_port=0,
                                  token_time_ms=TOKEN_MS)) as plain, \
            ModelServer(ServerConfig(models=models, grpc_port=None, rest_port=0,
                                     token_time_ms=TOKEN_MS, tls=tls)) as secure:
        yield plain, secure, tls


def _streams(port: int, context: ssl.SSLContext | None) -> list:
    """REQUESTS streamed completions on one connection: (wall ns before sending, the client's
    record) of each."""
    conn = (http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
            if context else http.client.HTTPConnection("127.0.0.1", port, timeout=30))
    out = []
    try:
        for k in range(REQUESTS):
            rid = f"t{k}"
            sent = time.time_ns()
            conn.request("POST", "/v1/completions", body=BODY,
                         headers={"Content-Type": "application/json", "x-request-id": rid})
            out.append((sent, _read_stream(conn.getresponse(), rid, len(BODY))))
    finally:
        conn.close()
    return out


def _shape(messages) -> dict:
    """request_id -> [(direction, index, kind, bytes)] of the messages table."""
    return {rid: list(zip(g["direction"], g["index"], g["kind"], g["bytes"]))
            for rid, g in messages.sort_values(["request_id", "direction", "index"])
            .groupby("request_id")}


def test_tls_streamed_completions_match_the_plaintext_run(servers, out_dir):
    plain, secure, tls = servers
    context = ssl.create_default_context(cafile=tls.cert_file)
    clear = run_captured(out_dir, "stream_plain", (plain.rest_port,),
                         lambda: _streams(plain.rest_port, None))
    enc = run_captured(out_dir, "stream_tls", (secure.rest_port,),
                       lambda: _streams(secure.rest_port, context))
    assert all(r.ok and r.tokens == TOKENS for _, r in clear.records + enc.records)

    opaque = enc.analysis                          # no key log: nothing inside to split
    assert len(opaque.messages) == 0

    a = inferwire.analyze(enc.path, tls_keylog=tls.keylog_file, ignore_ports=(enc.probe_port,))
    req = a.requests.set_index("request_id")
    assert set(req.index) == {f"t{k}" for k in range(REQUESTS)}
    assert req["tls"].all() and (req["response_messages"] == TOKENS).all()
    assert req["stream_done"].all()
    for sent, rec in enc.records:      # the client's clock runs before and after the wire's
        assert req.loc[rec.request_id, "ttft_ms"] <= (rec.first_token_ns - sent) / 1e6
    ours, theirs = _shape(a.messages), _shape(clear.analysis.messages)
    assert ours.keys() == theirs.keys()
    for rid in ours:           # same events; sizes equal up to the digits of "created"
        assert [m[:3] for m in ours[rid]] == [m[:3] for m in theirs[rid]], rid
        assert all(abs(x[3] - y[3]) <= 2 for x, y in zip(ours[rid], theirs[rid])), rid
    frames = {round(t / 1e9, 9) for t in enc.times.values()}
    assert all(round(t, 9) in frames for t in a.messages["start"])
    assert all(round(t, 9) in frames for t in a.messages["end"])
    # tshark decrypts with the same key log: every response's chunk sizes, in order
    packets = wireshark.tshark_fields(
        enc.path, ["http.chunk_size"], f"http.response && {wireshark.exclude(enc.probe_port)}",
        ["-o", f"tls.keylog_file:{tls.keylog_file}",
         *wireshark.decode_args((secure.rest_port,), "tls"),
         "-d", f"tls.port=={secure.rest_port},http", *wireshark.REASSEMBLE_OUT_OF_ORDER])
    sizes = [[int(s) for s in p.get("http.chunk_size", []) if int(s)] for p in packets]
    assert len(sizes) == REQUESTS and all(len(s) == TOKENS + 1 for s in sizes)  # and [DONE]
    assert sizes == [g.sort_values("index")["bytes"].tolist()
                     for _, g in a.messages.sort_values("start").groupby("request_id", sort=False)]
