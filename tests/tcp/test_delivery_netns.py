"""The delivery rule on real lossy traffic: two network namespaces joined by a veth pair (MTU
1500), 3 % of the TCP packets each namespace receives dropped by iptables (`statistic` match,
INPUT chain, so dumpcap on each veth still captures the packets its host then loses: the
client's capture holds request segments lost at the server and response segments lost after
the capture point), HTTP/1.1 and gRPC with 20 kB each way, captured on both veths.

Checked on both captures: every request found and complete; the retransmissions counted as
tshark's tcp.analysis counts them; each HTTP/1.1 request and response ended no later than its
receiver's first ACK of its last byte (found with tshark's HTTP dissector) and no more than a
delayed ACK before it; the server's handler (HTTP/1.1 and gRPC) had the whole request no
earlier than request_end and began answering no later than response_start; on the client's
capture, the client's own latency is at least total_ms.  (With the old rule, "first captured copy", a
message whose last copy was lost after the capture point ended up to a retransmission timeout
before its receiver's ACK.)  The handlers' own instants are not held to be *close* to the
boundaries: on a loaded machine a server thread can wait hundreds of ms to be scheduled.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import inferwire
from needs import skip_or_fail
from analysis.vantage.test_vantage_netns import SERVER_IP, Processes, barrier, run
from analysis.vantage.test_vantage_netns import two_hosts  # noqa: F401 -- the fixture

HOSTS = str(Path(__file__).with_name("lossy_hosts.py"))
PORT, START_PROBE, STOP_PROBE = 8080, 9, 10
N, BODY = 60, 20_000
LOSS = "0.03"
ACK_DELAY_S = 0.045    # Linux delays an ACK by 40 ms at most (TCP_DELACK_MAX... min 40 ms)


def lossy(ns: str) -> None:
    run("ip", "netns", "exec", ns, "iptables", "-A", "INPUT", "-p", "tcp", "-m", "statistic",
        "--mode", "random", "--probability", LOSS, "-j", "DROP")


def tshark_retransmissions(path: str) -> int:
    # (all the capture's TCP: both the HTTP/1.1 and the gRPC connection)
    """Frames tshark calls a retransmission (plain, fast or spurious) or out of order, in the
    capture sorted by time stamp (tshark follows file order, inferwire time order; dumpcap
    does not always write in time order: docs/network.md).  The two are summed on both sides:
    tshark calls a segment repeating captured bytes "out of order" when it comes within its
    threshold; inferwire calls any repeat a retransmission."""
    in_time = str(Path(path).with_suffix(".sorted.pcapng"))
    run("reordercap", path, in_time)
    done = run("tshark", "-r", in_time, "-Y", "tcp.analysis.retransmission || "
               "tcp.analysis.fast_retransmission || tcp.analysis.spurious_retransmission || "
               "tcp.analysis.out_of_order",
               "-T", "fields", "-e", "frame.number", "-o", "tcp.analyze_sequence_numbers:TRUE")
    return len([x for x in done.stdout.split() if x.strip()])


@pytest.fixture
def lossy_run(two_hosts, tmp_path):
    cns, sns, cif, sif = two_hosts
    for tool in ("iptables", "tshark", "reordercap"):
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} is not installed")
    caps = {"client": str(tmp_path / "client.pcapng"), "server": str(tmp_path / "server.pcapng")}
    procs = Processes()
    try:
        server = procs.start("ip", "netns", "exec", sns, sys.executable, HOSTS, "serve",
                             SERVER_IP, str(PORT), str(BODY))
        assert server.stdout.readline().strip() == "ready", server.stderr.read()
        for ns, dev, side in ((cns, cif, "client"), (sns, sif, "server")):
            procs.start("ip", "netns", "exec", ns, "dumpcap", "-q", "-i", dev, "-f", "tcp",
                        "-w", caps[side])
        barrier(cns, list(caps.values()), START_PROBE)
        for ns in (cns, sns):
            lossy(ns)
        client = {}
        for kind in ("client", "grpc"):
            out = subprocess.run(["ip", "netns", "exec", cns, sys.executable, HOSTS, kind,
                                  SERVER_IP, str(PORT), str(N), str(BODY)], check=True,
                                 capture_output=True, text=True, timeout=300)
            client.update({r["request_id"]: r for r in json.loads(out.stdout)})
        for ns in (cns, sns):
            run("ip", "netns", "exec", ns, "iptables", "-F", "INPUT")
        barrier(cns, list(caps.values()), STOP_PROBE)
        server.terminate()
        handled = json.loads(server.communicate(timeout=10)[0].strip().splitlines()[-1])
    finally:
        procs.stop_all()
    (tmp_path / "hosts.json").write_text(json.dumps({"client": client, "server": handled}))
    return caps, client, handled


def analyzed(path: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", inferwire.InferwireWarning)
        a = inferwire.analyze(path, ignore_ports=(START_PROBE, STOP_PROBE), workers=1)
    return a.requests.set_index("request_id"), a.connections


def acked(path: str) -> dict:
    """tshark's view of when each message got through: request id -> (time the server's ACK
    first covered the request's last byte, time the client's ACK first covered the response's
    last byte), s since the epoch.  tshark's HTTP dissector finds the messages' last bytes
    (tcp.nxtseq of the frame completing each), the receivers' ACKs say when they had them."""
    # (out-of-order reassembly on: by default tshark does not pass a segment it took for a
    # retransmission up to HTTP, and once in a run it missed a response that way)
    fields = run("tshark", "-r", path, "-o", "tcp.relative_sequence_numbers:FALSE",
                 "-o", "tcp.reassemble_out_of_order:TRUE", "-T",
                 "fields", "-e", "frame.time_epoch", "-e", "tcp.srcport", "-e", "tcp.ack",
                 "-e", "tcp.nxtseq", "-e", "http.request.line", "-e", "http.response.code",
                 "-Y", f"tcp.port == {PORT} && tcp.flags.ack == 1").stdout
    acks = {True: [], False: []}              # from the client? -> [(time, ack)]
    requests, responses = [], []
    for line in fields.splitlines():
        t, sport, ack, nxt, req_line, code = (line.split("\t") + [""] * 6)[:6]
        from_client = int(sport) != PORT
        acks[from_client].append((float(t), int(ack)))
        if req_line:
            rid = [h for h in req_line.split(",") if h.startswith("X-Request-Id")][0]
            requests.append((rid.split(": ")[1].split("\\r")[0].strip(), int(nxt)))
        elif code:
            responses.append(int(nxt))
    assert len(requests) == len(responses) == N, (len(requests), len(responses))

    def first(from_client: bool, seq: int) -> float:
        return min(t for t, a in acks[from_client] if (a - seq) % (1 << 32) < (1 << 31))
    return {rid: (first(False, end), first(True, resp_end))
            for (rid, end), resp_end in zip(requests, sorted(responses, key=lambda x: x))}


@pytest.mark.capture
def test_lossy_veth_both_vantage_points(lossy_run):
    caps, client, handled = lossy_run
    assert sorted(client) == sorted(handled)
    totals = {}
    for side, path in caps.items():
        r, conns = analyzed(path)
        assert sorted(r.index) == sorted(client) and r["complete"].all(), side
        # (no vantage check: without delay on the veth the handshake's two round trips are the
        # hosts' own microseconds, and the guard they give is about zero either way)
        ours = int(conns["retransmissions"].sum() + conns["out_of_order"].sum())
        theirs = tshark_retransmissions(path)
        print(side, "retransmissions: inferwire", ours, "tshark", theirs,
              "retrans_ms to server", r["retrans_ms_to_server"].sum(),
              "to client", r["retrans_ms_to_client"].sum())
        assert ours > 0, f"{side}: no loss happened; the test proves nothing"
        assert ours == theirs, (side, ours, theirs)
        totals[side] = r
        grpc = r[r["protocol"] == "grpc"]
        assert len(grpc) == N and grpc["complete"].all(), side
        for rid, (req_acked, resp_acked) in acked(path).items():
            row = r.loc[rid]
            # each message ended no later than its receiver's ACK of its last byte, and not
            # long before it (a delayed ACK at most): a copy lost after the capture point
            # does not end a message
            for end, ack in ((row["request_end"], req_acked), (row["response_end"], resp_acked)):
                assert end <= ack + 2e-6 and ack - end <= ACK_DELAY_S, (side, rid, ack - end)
        for rid, h in handled.items():   # the handler ran between the phases' boundaries
            row = r.loc[rid]
            assert round(row["request_end"] * 1e9) <= h["got_ns"] + 2_000, (side, rid)
            assert round(row["response_start"] * 1e9) >= h["done_ns"] - 2_000, (side, rid)
    r = totals["client"]
    for rid, c in client.items():
        assert (c["end_ns"] - c["start_ns"]) / 1e6 >= r.loc[rid, "total_ms"] - 0.002, rid
