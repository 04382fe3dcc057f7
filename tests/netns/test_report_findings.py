"""The network's cost in summary.md, network sweeps and the network findings (pure: tables in)."""
import argparse

import numpy as np
import pandas as pd
import pytest

from inferwire.errors import InferwireError
from inferwire.findings.network import network_table, render
from inferwire.netns.profile import NetworkError, profile_from_spec
from inferwire.netns.report import cost_rows, section
from inferwire.sweep.plan import NETWORK_GRID, Grid, Point, grid_plan, network_specs


def _joined():
    return pd.DataFrame({
        "workload": ["rest", "rest", "grpc"], "client_ms": [10.0, 230.0, 4.0],
        "request_ms": [1.0, 211.0, 0.5], "response_ms": [0.5, 0.5, 0.1],
        "network_and_stack_ms": [2.0, 2.0, 1.0], "server_ms": [5.0, 5.0, 2.0],
        "client_before_ms": [1.0, 1.0, 0.2], "client_after_ms": [0.5, 0.5, 0.2]})


def _connections():
    return pd.DataFrame({"server": ["10.233.0.6:8501", "10.233.0.6:8500"],
                         "retransmissions": [7, 0], "tcp_handshake_ms": [0.06, 0.08],
                         "requests": [2, 1]})


def test_cost_rows_cut_the_client_mean_into_parts():
    rows = {r["workload"]: r for r in cost_rows(_joined(), _connections(),
                                                 {"rest": 8501, "grpc": 8500})}
    rest = rows["rest"]
    assert rest["client_ms"] == 120.0
    assert rest["transfer_ms"] == pytest.approx(106.5)       # (1 + 211) / 2 + 0.5
    assert rest["network_and_stack_ms"] == 2.0 and rest["server_ms"] == 5.0
    assert rest["client_own_ms"] == 1.5
    assert rest["retransmitted_segments"] == 7 and rest["rtt_ms"] == 0.06
    assert rest["over_rto"] == 1                               # the 230 ms request
    assert np.isnan(rest["retransmission_ms"])                 # no per-request TCP column
    assert rows["grpc"]["retransmitted_segments"] == 0


def test_per_request_tcp_columns_feed_retransmission_and_stalls():
    j = _joined().assign(retrans_ms_to_server=[0.0, 209.0, 0.0],
                         retrans_ms_to_client=[1.0, 0.0, 0.0], zero_window_ms=[0, 0, 3.0],
                         ack_rtt_client_ms=[0.1, None, 0.2], ack_rtt_server_ms=[0.3, 0.3, 0.2],
                         rtt_client_ms=[0.01, 0.01, 0.02], rtt_server_ms=[0.05, 0.05, 0.04])
    rows = {r["workload"]: r for r in cost_rows(j, None, {})}
    assert rows["rest"]["retransmission_ms"] == 105.0
    assert rows["rest"]["rtt_ms"] == pytest.approx(0.06)     # from the per-request halves
    assert rows["grpc"]["stall_ms"] == 3.0
    assert rows["rest"]["ack_rtt_ms"] == pytest.approx(0.35)  # median of 0.4 and 0 + 0.3
    assert rows["rest"]["ack_rtt_samples"] == 2 and rows["grpc"]["ack_rtt_ms"] == 0.4
    assert np.isnan(rows["rest"]["retransmitted_segments"])


def test_section_names_the_profile_and_a_failed_teardown():
    manifest = {"server": {"rest_port": 8501, "grpc_port": 8500}, "network": {
        "description": "lossy-lan: 1 Gbit/s, 1 % loss each way, MTU 1500",
        "topology": {"client_ns": "iwn1c", "server_ns": "iwn1s", "router_ns": "iwn1r",
                     "client_addr": "10.233.0.1", "server_addr": "10.233.0.6"},
        "notes": ["delay/jitter NOT applied: this kernel has no sch_netem"],
        "commands": [{}] * 20, "teardown": [{"exit_code": 0}, {"exit_code": 1}]}}
    text = "\n".join(section(manifest, _joined(), _connections()))
    assert "lossy-lan: 1 Gbit/s, 1 % loss each way" in text
    assert "NOT applied" in text and "**1 FAILED**" in text
    assert "| rest | 2 | 120.000 | 106.500 (89 %) | 2.000 (2 %) | 5.000 (4 %) |" in text
    assert "| 0.060 |  (0) | 7 | 1 |" in text
    assert section({}, _joined(), None) == []
    assert "were streamed" not in text


def test_section_says_what_the_transfer_of_streamed_requests_holds():
    manifest = {"server": {"rest_port": 8501}, "network": {"description": "veth",
                                                           "topology": {}}}
    j = _joined().assign(response_messages=[40, 40, None])
    text = "\n".join(section(manifest, j, None))
    assert "2 requests were streamed" in text and "token time" in text


def test_network_specs_become_profiles_and_sweep_points():
    assert profile_from_spec("lan").bandwidth_bps == 10**9
    p = profile_from_spec("veth,bw=100mbit,loss=1")
    assert (p.bandwidth_bps, p.loss_to_server_pct, p.preset) == (10**8, 1.0, "veth+custom")
    with pytest.raises(NetworkError, match="'speed=3'"):
        profile_from_spec("lan,speed=3")
    with pytest.raises(InferwireError):
        Point(network="veth,loss=200")
    assert network_specs(("1gbit",), (0, 3)) == ("veth,bw=1gbit,loss=0", "veth,bw=1gbit,loss=3")
    points = NETWORK_GRID.points()
    assert len(points) == 18 and {p.batch_size for p in points} == {1, 32}
    assert Point(network="veth,bw=10mbit,loss=3").id.endswith("-net-veth-bw10mbit-loss3")
    assert Point().id.endswith("-u2-reuse")                    # unchanged without a network
    plan = grid_plan(Grid(networks=("veth,loss=3",)), requests=10)
    config = plan.run_config(plan.points[0], "/tmp/x")
    assert config.network.loss_to_client_pct == 3


def test_sweep_cli_makes_the_network_grid():
    from inferwire.sweep.cli import add_sweep_arguments, plan_from_args
    p = argparse.ArgumentParser()
    add_sweep_arguments(p)
    plan = plan_from_args(p.parse_args(["--out", "x", "--bandwidth", "1gbit,10mbit",
                                        "--loss", "0,3"]))
    assert sorted(pt.network for pt in plan.points) == sorted(
        ["veth,bw=1gbit,loss=0", "veth,bw=1gbit,loss=3", "veth,bw=10mbit,loss=0",
         "veth,bw=10mbit,loss=3"])
    assert len(plan_from_args(p.parse_args(["--out", "x", "--network-findings"])).points) == 18


def _points():
    rows = []
    for workload, base in (("rest", 2.0), ("grpc", 1.5)):
        for bw, loss, extra in ((1e9, 0.0, 0.0), (1e7, 3.0, 20.0)):
            rows.append({"workload": workload, "batch_size": 1, "network": "veth+custom",
                         "bandwidth_bps": bw, "loss_pct": loss, "found_in_capture": 100,
                         "mean_client_ms": base + extra + 1.0, "mean_request_ms": extra,
                         "mean_response_ms": 0.0, "mean_network_ms": 0.5, "mean_model_ms": base,
                         "mean_server_other_ms": 0.0, "mean_serialize_ms": 0.2,
                         "mean_handshake_ms": 0.0, "mean_client_before_other_ms": 0.1,
                         "mean_client_after_ms": 0.2, "client_p99_ms": 210.0 if loss else 4.0,
                         "retransmissions_per_request": loss / 10, "throughput_per_s": 100.0,
                         "mean_retrans_ms": extra / 4, "mean_stall_ms": 0.0,
                         "run": f"run-{workload}-{loss:g}"})
    rows.append({**rows[0], "network": None, "run": "loopback"})      # not a network point
    return pd.DataFrame(rows)


def test_network_table_orders_worst_last_and_parts_add_up():
    t = network_table(_points())
    assert "loopback" not in set(t["run"])
    rest = t[t["workload"] == "rest"]
    assert list(rest["bandwidth_mbit"]) == [1000, 10]
    worst = rest.iloc[-1]
    assert worst["transfer_ms"] == 20.0 and worst["server_ms"] == 2.0
    parts = worst[["transfer_ms", "network_and_stack_ms", "server_ms", "client_ms"]].sum()
    assert parts == pytest.approx(worst["mean_client_ms"])
    assert worst["transfer_pct"] == pytest.approx(100 * 20 / 23, abs=0.05)
    assert worst["retrans_ms"] == 5.0 and worst["retrans_pct"] == pytest.approx(21.7)


def test_sweep_points_carry_the_tcp_means():
    from inferwire.sweep.combine import tcp_means
    m = pd.DataFrame({"retrans_ms_to_server": [210.0, None], "retrans_ms_to_client": [0, 2.0],
                      "zero_window_ms": [None, 1.0]})
    assert tcp_means(m) == {"mean_retrans_ms": 106.0, "mean_stall_ms": 0.5}
    assert all(np.isnan(v) for v in tcp_means(pd.DataFrame({"x": [1]})).values())


def test_network_page_says_where_the_growth_went_and_names_runs():
    text = render("SWEEP", network_table(_points()), {"cpus": 2}, None, "f/x.png")
    assert "**rest, batch 1:** from 1000 Mbit/s, 0 % to 10 Mbit/s, 3 %" in text
    assert "most of the growth was transfer (0 -> 20 ms" in text
    assert "5 ms per request (21.7 %) waiting for retransmissions" in text
    assert "`run-rest-3`" in text and "![time per part" in text
    assert "_No network points" in render("SWEEP", network_table(_points().iloc[4:]), {}, None,
                                          None)
