"""notebooks/findings.ipynb: the findings' tables recomputed from the sweep folder, cell by cell.

Written as nbformat 4 JSON by hand (no nbformat dependency); outputs are left empty: running the
notebook recomputes them from the sweep folder.
"""
from __future__ import annotations

import json
from pathlib import Path


def _source(text: str) -> list[str]:
    lines = text.strip("\n").split("\n")
    return [line + "\n" for line in lines[:-1]] + [lines[-1]]


def _md(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": _source(text)}


def _code(text: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": _source(text)}


def cells(sweep_dir: Path) -> list[dict]:
    return [
        _md(f"""# Findings, recomputed from the sweep

Every table below comes from the sweep folder `{sweep_dir}` (one run folder per point under
`runs/`; the `run` column names it).  `docs/findings.md` is the same, written out:
regenerate both with `inferwire findings {sweep_dir}`.  Numbers come from a shared 2-core
machine."""),
        _code(f"""import pandas as pd
from inferwire.findings import answers
from inferwire.findings.data import load_sweep

SWEEP = {str(sweep_dir)!r}
data = load_sweep(SWEEP)
points = data.points          # one row per run and workload (the sweep's points.csv)
points.shape"""),
        _md("## 1. Inference vs transport\nShares (%) of the client's mean latency; the model's "
            "median time against the median wait on the wire."),
        _code("""transport = answers.transport_table(points) if len(points) else pd.DataFrame()
transport"""),
        _code("""if len(transport):
    shares = [c for c in transport.columns if c.endswith("_pct") and c != "transport_pct"
              and c != "model_of_wait_pct"]
    labels = transport["workload"] + " " + transport["model"] + " b" + \\
        transport["batch_size"].astype(str) + " " + transport["connection"]
    transport.set_index(labels)[shares].plot.barh(stacked=True, figsize=(9, 5))"""),
        _md("## 2. CPU- or IO-bound\nThroughput, CPU (cores busy) and bytes/s as users grow; "
            "the knee is the last step before throughput grew by less than 10 %."),
        _code("""concurrency = answers.concurrency_table(points) if len(points) else pd.DataFrame()
knees = answers.knee(concurrency) if len(concurrency) else {}
knees"""),
        _code("concurrency"),
        _md("## 3. Caching\nRepeated identical inputs vs unique inputs (the caching probe), "
            "and cold first requests vs warm ones."),
        _code("""if data.probe is not None:
    cache = answers.cache_table(data.probe)
    print(answers.cache_verdict(cache))
    display(cache)
    display(answers.probe_cold(data.probe))"""),
        _code("answers.cold_warm_table(points) if len(points) else None"),
        _md("## 4. Schema and data type\nBytes on the wire, serialization, server wait and total "
            "per encoding."),
        _code("answers.encoding_table(points) if len(points) else None"),
        _md("## Energy and CPU per request"),
        _code("""cols = ["workload", "model", "batch_size", "encoding", "users", "connection",
        "server_cpu_s_per_request", "client_cpu_s_per_request", "cpu_s_per_request",
        "joules_per_request", "energy_meter", "run"]
points[cols] if len(points) else None"""),
    ]


def notebook(sweep_dir: Path) -> dict:
    return {"cells": cells(sweep_dir),
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                        "name": "python3"},
                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 4}


def write_notebook(sweep_dir: Path, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook(sweep_dir), indent=1) + "\n")
    return path
