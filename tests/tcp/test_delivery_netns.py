"""The delivery rule on real lossy traffic: two network namespaces joined by a veth pair (MTU
1500), 3 % of the TCP packets each namespace receives dropped by iptables (`statistic` match,
INPUT chain, so dumpcap on each veth still captures the packets its host then loses: the
client's capture holds request segments lost at the server and response segments lost after
the capture point), HTTP/1.1 with 20 kB each way, captured on both veths.

Checked on both captures: every request found and complete; the retransmissions counted as
tshark's tcp.analysis counts them; the server had the whole request no earlier than
request_end and soon after it, began its response no later than response_start, and no
retransmission time hides in wait_ms (the server's own 5 ms and a little scheduling at most);
the client had the whole response soon after response_end; on the client's capture, the
client's own latency is at least total_ms.  (With the old rule, "first captured copy", the
server's capture put request_end and both captures response_end up to a retransmission
timeout too early.)
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import inferwire
from needs import skip_or_fail
from vantage.test_vantage_netns import CLIENT_IP, SERVER_IP, Processes, barrier, run, two_hosts  # noqa: F401

HOSTS = str(Path(__file__).with_name("lossy_hosts.py"))
PORT, START_PROBE, STOP_PROBE = 8080, 9, 10
N, BODY = 60, 20_000
LOSS = "0.03"
SLACK_MS = 25          # the server's thread scheduling on a shared 2-core machine


def lossy(ns: str) -> None:
    run("ip", "netns", "exec", ns, "iptables", "-A", "INPUT", "-p", "tcp", "-m", "statistic",
        "--mode", "random", "--probability", LOSS, "-j", "DROP")


def tshark_retransmissions(path: str) -> int:
    """Frames tshark calls a retransmission (plain, fast or spurious) or out of order.  The
    two are summed on both sides: tshark calls a segment repeating captured bytes "out of
    order" when it comes within its threshold; inferwire calls any repeat a retransmission."""
    done = run("tshark", "-r", path, "-Y", "tcp.analysis.retransmission || "
               "tcp.analysis.fast_retransmission || tcp.analysis.spurious_retransmission || "
               "tcp.analysis.out_of_order",
               "-T", "fields", "-e", "frame.number", "-o", "tcp.analyze_sequence_numbers:TRUE")
    return len([x for x in done.stdout.split() if x.strip()])


@pytest.fixture
def lossy_run(two_hosts, tmp_path):
    cns, sns, cif, sif = two_hosts
    for tool in ("iptables", "tshark"):
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
        out = subprocess.run(["ip", "netns", "exec", cns, sys.executable, HOSTS, "client",
                              SERVER_IP, str(PORT), str(N), str(BODY)], check=True,
                             capture_output=True, text=True, timeout=300)
        client = {r["request_id"]: r for r in json.loads(out.stdout)}
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
        assert abs(ours - theirs) <= max(1, theirs // 20), (side, ours, theirs)
        totals[side] = r
        for rid, h in handled.items():
            row = r.loc[rid]
            end, start = round(row["request_end"] * 1e9), round(row["response_start"] * 1e9)
            # float seconds lose sub-microsecond digits: compare with 2 us to spare
            assert end <= h["got_ns"] + 2_000, (side, rid, (end - h["got_ns"]) / 1e6)
            assert start >= h["done_ns"] - 2_000, (side, rid, (h["done_ns"] - start) / 1e6)
            assert row["wait_ms"] <= (h["done_ns"] - h["got_ns"]) / 1e6 + SLACK_MS, (
                side, rid, row["wait_ms"], row["retrans_ms_to_server"])
            # ... and the receivers had the bytes soon after the ends (the veth adds no delay):
            # a copy lost after the capture point does not end a message
            assert (h["got_ns"] - end) / 1e6 <= SLACK_MS, (side, rid, (h["got_ns"] - end) / 1e6)
            late = (client[rid]["end_ns"] - round(row["response_end"] * 1e9)) / 1e6
            assert late <= SLACK_MS, (side, rid, late)
    r = totals["client"]
    for rid, c in client.items():
        assert (c["end_ns"] - c["start_ns"]) / 1e6 >= r.loc[rid, "total_ms"] - 0.002, rid
