"""NVIDIA Triton's decoupled streaming model behind a lossy network: a real
``scripts/capture_run.py --server triton --stream-tokens N --network veth --loss 3
--network-capture both`` run starts ``tritonserver`` in the server's namespace on the server's
address, and the project's load generator in the client's namespace streams from it over gRPC
``ModelStreamInfer`` (HTTP/2, one length-prefixed message per token) and REST
``generate_stream`` (Server-Sent Events in HTTP/1.1 chunks), MTU 1500, 3 % random loss each way.

Every token of both protocols is held, at both vantage points and to the microsecond, against
the reference of :mod:`.streamref` (tshark's TCP fields and the test's own HTTP/2 and SSE
readers, not inferwire's); every request is found with every token; the client's time to first
token is never below the wire's; nothing of the run (namespaces, tritonserver) is left.
One run (about 20 s with Triton's start) serves the module.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import psutil
import pytest

from . import streamref
from .live import namespaces_of, repaired_frames, run_lossy

pytestmark = [pytest.mark.capture, pytest.mark.tshark, pytest.mark.slow]
REQUESTS, TOKENS, TOKEN_MS, LOSS_PCT, WARMUP = 40, 20, 2, 3, 5
TOLERANCE_US = 1.0
VANTAGE = {"client": "capture.pcapng", "server": "capture_server.pcapng"}
#: per protocol: the manifest's port, the reader of its messages, keyed by HTTP/2 stream
PROTOCOLS = {"grpc": ("grpc_port", streamref.grpc_spans, True),
             "rest": ("rest_port", streamref.sse_spans, False)}


@pytest.fixture(scope="module")
def triton_run(tmp_path_factory, triton_install):
    """(run folder, manifest, CLI process id); INFERWIRE_LOSSY_TRITON_RUN=FOLDER: a kept one."""
    return run_lossy(tmp_path_factory, "lossy-triton", [
        "--server", "triton", "--api", "v2", "--network", "veth", "--loss", str(LOSS_PCT),
        "--network-capture", "both", "--stream-tokens", str(TOKENS), "--token-time-ms",
        str(TOKEN_MS), "--requests", str(REQUESTS), "--warmup", str(WARMUP), "--users", "2"],
        "INFERWIRE_LOSSY_TRITON_RUN")


def _analysis(run_dir: Path, vantage: str):
    return streamref.analysis(run_dir / VANTAGE[vantage], vantage)


def test_triton_ran_in_the_servers_namespace_and_nothing_is_left(triton_run):
    """Triton served on 10.233.0.6, an address only the server's namespace has (it could not
    have bound it anywhere else), and the run left no namespace or process behind."""
    run_dir, manifest, pid = triton_run
    assert manifest["status"] == "ok", manifest["problems"]
    assert manifest["server"]["kind"] == "triton"
    assert manifest["server"]["host"] == manifest["network"]["server_addr"] == "10.233.0.6"
    assert manifest["network"]["profile"]["loss_to_client_pct"] == LOSS_PCT
    assert namespaces_of(pid) == []
    left = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
            if str(run_dir) in " ".join(p.info["cmdline"] or [])]
    assert left == []
    assert (run_dir / "triton_trace.csv").exists()


@pytest.mark.parametrize("vantage", sorted(VANTAGE))
def test_tokens_were_lost_and_every_one_is_found(triton_run, vantage):
    run_dir, manifest, _ = triton_run
    for name, (port_key, _, _) in PROTOCOLS.items():
        port = manifest["server"][port_key]
        assert repaired_frames(run_dir / VANTAGE[vantage], f"tcp.srcport == {port}"), name
    r = _analysis(run_dir, vantage).requests
    for protocol in ("grpc", "http/1.1"):
        mine = r[r["protocol"] == protocol]
        assert len(mine) == REQUESTS + WARMUP, protocol
        assert (mine["response_messages"] == TOKENS).all(), protocol
    assert r.loc[r["protocol"] == "grpc", "stream_done"].astype(bool).all()   # the trailers
    assert _analysis(run_dir, vantage).messages["complete"].astype(bool).all()


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
@pytest.mark.parametrize("vantage", sorted(VANTAGE))
def test_every_token_starts_and_ends_where_the_reference_says(triton_run, vantage, protocol):
    run_dir, manifest, _ = triton_run
    port_key, reader, by_stream = PROTOCOLS[protocol]
    port = manifest["server"][port_key]
    theirs = streamref.reference(run_dir, VANTAGE, vantage, port, reader)
    ours = streamref.inferwire_messages(_analysis(run_dir, vantage), port, by_stream)
    count, off = streamref.differences(ours, theirs, TOLERANCE_US)
    assert count == (REQUESTS + WARMUP) * TOKENS
    if vantage == "server":       # the ACKs of two copies lost: see test_lossy_streaming
        off = streamref.beyond_the_senders_limit(run_dir, VANTAGE, port, reader, off, ours,
                                                 TOLERANCE_US)
    assert off == [], f"{len(off)} of {count} tokens (key, index, start us, end us): {off[:8]}"


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_client_ttft_is_never_below_the_wire(triton_run, protocol):
    run_dir = triton_run[0]
    r = _analysis(run_dir, "client").requests.set_index("request_id")
    log = pd.read_csv(run_dir / f"client_log_{protocol}.csv").set_index("request_id")
    j = r.merge(log, left_index=True, right_index=True, suffixes=("", "_client"))
    assert len(j) == REQUESTS + WARMUP
    assert (j["ttft_ms_client"] >= j["ttft_ms"] - TOLERANCE_US / 1e3).all()
    assert (j["tokens"] == TOKENS).all()
