"""Every engine's run folder gives the same answer (issue 17, items 1 and 4): a real capture run
of each engine (inferwire's own load, locust with the shipped locustfiles, a user's own
locustfile that sends no id, ab, h2load) against the embedded server, then its report and the
phases notebook, without error; requests in no client log labelled by workload and joined to
the server log (by id, else by peer and order) so that model and server time appear for them;
every file the run and the report write is 0600 (folders 0700).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from inferwire.experiment import RunConfig, run_experiment
from inferwire.serving.ports import free_ports
from inferwire.runfolder import read_server_log
from inferwire.analysis.join import join_requests, workload_ports
from inferwire.report import build_report, load_run
from needs import need_capture, need_tool
from report.data import NOTEBOOKS

pytestmark = [pytest.mark.capture, pytest.mark.slow]

OWN_LOCUSTFILE = '''
from locust import HttpUser, task
from inferwire.reference.bodies import rest_body
BODY = rest_body(1, "json_row")

class Mine(HttpUser):
    @task
    def predict(self):
        self.client.post("/v1/models/mnist:predict", data=BODY,
                         headers={"Content-Type": "application/json"})
'''

#: engine case -> (engine, protocols, extra config)
CASES = {
    "inferwire": ("inferwire", ("rest", "grpc"), {}),
    "locust": ("locust", ("rest", "grpc"), {}),
    "own-locustfile": ("locust", ("rest",), {"locustfile": None}),
    "ab": ("ab", ("rest",), {}),
    "h2load": ("h2load", ("rest", "grpc"), {}),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One capture run per case on the embedded server (a server log: model and server time),
    made on first use."""
    made = {}

    def get(case: str):
        if case not in made:
            need_capture()
            engine, protocols, extra = CASES[case]
            if engine in ("ab", "h2load"):
                need_tool(engine, "apache2-utils" if engine == "ab" else "nghttp2-client")
            out = tmp_path_factory.mktemp(case)
            if "locustfile" in extra:
                mine = out / "mine.py"
                mine.write_text(OWN_LOCUSTFILE)
                extra = {"locustfile": str(mine)}
            grpc_port, rest_port = free_ports(2)
            result = run_experiment(RunConfig(
                out=str(out / "runs"), protocols=protocols, engine=engine, users=2,
                duration_s=2, warmup_requests=3, progress=False, extra=extra,
                grpc_port=grpc_port, rest_port=rest_port))
            assert result.status == "ok", result.problems
            made[case] = result
        return made[case]
    return get


def _modes(folder: Path) -> dict:
    """{path relative to folder: mode} of every file and folder below ``folder``."""
    return {str(p.relative_to(folder)): stat.S_IMODE(os.lstat(p).st_mode)
            for p in [folder, *folder.rglob("*")]}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("case", sorted(CASES))
def test_report_notebook_and_joins_of_every_engine(case, runs, tmp_path, monkeypatch):
    result = runs(case)
    d = result.run_dir
    engine, protocols, _ = CASES[case]
    written = build_report(d)                               # the crash of issue 17 item 1
    for what in ("html", "summary.md", "har", "annotated pcapng", "figures/phases.png",
                 "figures/waterfall.png", "figures/cpu.png"):
        assert written[what].is_file(), what
    # a short locust run on a busy host may make only a few requests (locust's gevent timer can
    # end a 2 s run early): then these say "too little data" instead of drawing
    plots = load_run(d).plot.available()
    for name in ("cdf", "timeline"):
        assert f"figures/{name}.png" in written or plots[name].startswith("too little data")
    # every file of the run and of its report: owner only
    modes = _modes(d)
    assert {p: oct(m) for p, m in modes.items()
            if m != (0o700 if (d / p).is_dir() else 0o600)} == {}
    assert "report/annotated.pcapng" in modes and "report/report.html" in modes

    run = load_run(d)
    t = run.table()
    wire = t[t["in_capture"].astype(bool)]
    ports = {v: k for k, v in workload_ports(run.manifest).items()}
    assert set(wire["workload"]) == set(protocols)         # labelled, never "(not in client log)"
    assert ((wire["status"] == 200) | (wire["grpc_status"] == 0)).all()
    for name, g in wire.groupby("workload"):
        assert g["server"].str.endswith(f":{ports[name]}").all()
    # a request still arriving while the run stops the server may be refused by its gRPC
    # layer (grpc-status 14, no handler, no log line): only ever the last on its connection
    refused = (wire["grpc_status"] == 14).fillna(False).astype(bool)
    last = wire["request_start"] == wire.groupby("client")["request_start"].transform("max")
    assert (last[refused]).all() and refused.sum() <= wire["client"].nunique()
    wire = wire[~refused]
    # the server log reached every measured request on the wire, by id or by peer and order
    assert wire["model_ms"].notna().all(), wire["server_join"].value_counts(dropna=False)
    assert (wire["model_ms"] <= wire["server_ms"]).all()
    # the server's own handling lies inside the wait seen on the wire (same host clock)
    assert (wire["server_ms"] <= wire["wait_ms"] + 0.01).all()
    joins = set(wire["server_join"])
    assert joins == ({"id"} if case in ("inferwire", "locust") else {"peer order"})
    if case == "ab":                          # counted with ab's own window: all of its requests
        assert len(wire) >= run.manifest["loads"]["rest"]["requests"]
    summary = (d / "summary.md").read_text()
    assert "(not in client log)" not in summary

    # resources by role: the load tool's processes in the load generator, never the server's
    # or the capture's
    res = run.manifest["resources"]
    assert {"load generator", "server", "capture", "rest of host", "system"} <= set(res)
    names = {role: {p.rsplit(":", 1)[0] for p in r["processes"]} for role, r in res.items()}
    pids = {role: {p.rsplit(":", 1)[1] for p in r["processes"]} for role, r in res.items()}
    assert "dumpcap" in names["capture"] and "inferwire serve" in names["server"]
    assert not pids["load generator"] & (pids["server"] | pids["capture"])
    tool = {"ab": "ab", "h2load": "h2load"}.get(engine, "locust" if engine == "locust" else None)
    assert tool is None or any(n.startswith(tool) for n in names["load generator"]), names
    assert "load generator" in (d / "summary.md").read_text()
    # the tool's own figures beside the wire's, in the summary and the page
    tool_name = {"inferwire": "inferwire", "ab": "ab", "h2load": "h2load"}.get(engine, "locust")
    assert "## The load tool against the wire" in summary
    for protocol in protocols:
        assert f"| {tool_name} | {protocol} |" in summary
    page = written["html"].read_text()
    assert "The load tool against the wire" in page and "not compared" not in page

    monkeypatch.setenv("INFERWIRE_SOURCE", str(d))
    nb = nbformat.read(NOTEBOOKS / "phases.ipynb", as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]


def test_peer_order_join_gives_the_id_join_on_real_traffic(runs):
    """On a run whose requests carry ids, forgetting the ids and joining by peer and order
    gives the same server and model time as the id join to every request of a connection that
    sends one request at a time (REST), and none to multiplexed gRPC streams (whose order at
    the server differs from the wire's: on this run's shared channel ~4 % of them swap)."""
    d = runs("inferwire").run_dir
    run = load_run(d)
    server = read_server_log(d / "server_log.jsonl")
    by_id = join_requests(run.requests, None, server, workload_ports(run.manifest))
    anonymous = join_requests(run.requests.assign(request_id=pd.NA), None,
                              server.assign(request_id=None), workload_ports(run.manifest))
    a = by_id.set_index(["connection", "request_start"]).sort_index()
    b = anonymous.set_index(["connection", "request_start"]).sort_index()
    assert (a["server_join"] == "id").all()
    rest = (b["protocol"] == "http/1.1").to_numpy()
    assert rest.sum() > 100 and (b["server_join"][rest] == "peer order").all()
    assert b["server_join"][~rest].isna().all() and b["model_ms"][~rest].isna().all()
    pd.testing.assert_series_equal(a["model_ms"][rest], b["model_ms"][rest])
    pd.testing.assert_series_equal(a["server_ms"][rest], b["server_ms"][rest])
