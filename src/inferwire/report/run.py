"""Loading what reports draw from: a capture run's results folder, or any capture file.

:func:`load_run` returns a :class:`Run`: the per-request and per-connection tables (columns in
:mod:`inferwire.columns`), the joined table when the run has client logs, the manifest, the
resource samples (``resources.csv``) and locust's stats history when the run folder holds one.
A capture file is analysed on the spot (``inferwire.analyze``) and gives a Run without manifest.
"""
from __future__ import annotations

import os
import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..columns import CONNECTION_COLUMNS, JOINED_COLUMNS, REQUEST_COLUMNS
from ..errors import InferwireError, InferwireWarning
from ..runfolder import (CAPTURE, MANIFEST, RESOURCES, cast_columns, load_manifest, probe_port,
                         read_client_logs, read_resources, read_server_log, read_stats_histories,
                         read_table, with_run_probe)
from ..analysis import describe_tables, phase_summary
from ..analysis.join import join_requests, label_workloads, workload_ports
from ..runfolder.tables import RESOURCE_COLUMNS
from ..serving.encoding_names import DEFAULT_ENCODING, V2_DEFAULT_ENCODING, encodings_for

__all__ = ["Run", "load_run", "load_runs", "from_analysis", "as_run", "combined_table", "plot",
           "read_table", "cast_columns", "read_resources", "RESOURCE_COLUMNS"]

#: Encodings the clients use when a run does not name one (see inferwire.serving.make_client).


@dataclass(repr=False)
class Run:
    """One run (or one capture) ready to report on.

    ``requests``/``connections``: the tables of :mod:`inferwire.columns`; ``joined``: requests ⨝
    client log ⨝ server log (or None); ``manifest``: the run's manifest ({} for a bare
    capture); ``resources``: resources.csv with a ``time`` column (s since epoch) added, or None;
    ``stats_history``: locust's stats history (:mod:`inferwire.report.locust`) or None;
    ``capture_path``: the capture file, when there is one.
    """

    path: Path
    requests: pd.DataFrame
    connections: pd.DataFrame
    joined: pd.DataFrame | None = None
    manifest: dict = field(default_factory=dict)
    resources: pd.DataFrame | None = None
    stats_history: pd.DataFrame | None = None
    warnings: list = field(default_factory=list)
    capture: object = None
    capture_path: Path | None = None

    def __repr__(self) -> str:
        status = self.manifest.get("status")
        return (f"<Run {self.name!r}{f' ({status})' if status else ''}: "
                f"{describe_tables(self)}>")

    @property
    def name(self) -> str:
        return self.path.name

    def summary(self) -> pd.DataFrame:
        """Per protocol: request count and p50/p90/p99 of each phase (ms)."""
        return phase_summary(self.requests)

    @property
    def plot(self):
        """Plots of this run (:class:`inferwire.report.plots.AnalysisPlots`)."""
        return plot(self)

    def table(self, warmup: bool = False) -> pd.DataFrame:
        """One row per request: the joined table when there is one (else the requests table),
        plus ``workload``, ``batch_size`` and ``encoding`` from the manifest and ``run`` (the
        folder name).  Warm-up requests are left out unless ``warmup``."""
        df = label_workloads(self.joined if self.joined is not None else self.requests,
                             workload_ports(self.manifest))
        if not warmup and "client_phase" in df:
            df = df[df["client_phase"].fillna("measure") != "warmup"]
        config = self.manifest.get("config") or {}
        batch = config.get("batch_size")
        df["batch_size"] = pd.Series(batch, index=df.index, dtype="Int64")
        df["encoding"] = df["workload"].map(lambda w: _encoding(config, w)).astype("string")
        df["run"] = self.name
        return df.reset_index(drop=True)


def _encoding(config: dict, workload) -> str | None:
    if not config or workload is pd.NA or workload is None:
        return None
    api = config.get("api") or "tfserving"
    own = encodings_for(api, "rest" if workload == "rest" else "grpc")
    named = [e for e in config.get("encoding") or () if e in own]
    if named:
        return named[0]
    return (V2_DEFAULT_ENCODING if api == "v2" else DEFAULT_ENCODING).get(workload)


# -- loading -----------------------------------------------------------------------------------
def load_run(path: str | os.PathLike, *, tls_keylog=None, decode_as=None, ignore_ports=(),
             progress: bool = False) -> Run:
    """A run folder (its saved tables; the capture is analysed only if they are missing) or a
    capture file (analysed now).  Raises InferwireError when ``path`` is neither."""
    p = Path(path)
    if p.is_dir():
        return _load_folder(p, tls_keylog, decode_as, ignore_ports, progress)
    if p.is_file():
        from ..analysis import analyze  # deferred: analysis.pipeline imports hpack, pyarrow
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore", InferwireWarning)  # kept in run.warnings
            a = analyze(p, **with_run_probe(p, dict(tls_keylog=tls_keylog, decode_as=decode_as,
                                                    ignore_ports=ignore_ports, progress=progress)))
        return from_analysis(a)
    raise InferwireError(f"{p}: no such run folder or capture file")


def from_analysis(analysis) -> Run:
    """A Run holding an :class:`inferwire.analysis.Analysis` (no manifest, no client log)."""
    path = Path(analysis.path)
    return Run(path=path, requests=analysis.requests, connections=analysis.connections,
               warnings=list(analysis.warnings), capture=analysis.capture, capture_path=path)


def as_run(source) -> Run:
    """``source`` as a Run: a Run, an Analysis (anything with ``requests`` and ``connections``)
    or a DataFrame of per-request rows."""
    if isinstance(source, Run):
        return source
    if isinstance(source, pd.DataFrame):
        return Run(path=Path("table"), requests=source, connections=pd.DataFrame())
    if hasattr(source, "requests") and hasattr(source, "connections"):
        return from_analysis(source)
    raise InferwireError(f"cannot report on a {type(source).__name__}: give an Analysis, a Run, "
                         "a list of Runs or a DataFrame of requests")


def plot(source, *, warmup: bool = False):
    """The plots (:class:`inferwire.report.plots.AnalysisPlots`) of an Analysis, a Run, a list
    of them (a sweep) or a DataFrame of per-request rows: ``inferwire.report.plot(a).cdf()``.
    Warm-up requests are left out unless ``warmup``."""
    from .plots import AnalysisPlots    # deferred: report.plots imports matplotlib; matplotlib is heavy: only when something is drawn
    items = source if isinstance(source, (list, tuple)) else [source]
    return AnalysisPlots([as_run(s) for s in items], warmup=warmup)


def load_runs(parent: str | os.PathLike) -> list[Run]:
    """Every run folder (a folder holding a manifest) under ``parent``, oldest name first."""
    root = Path(parent)
    if not root.is_dir():
        raise InferwireError(f"{root}: not a folder")
    return [load_run(m.parent) for m in sorted(root.rglob(MANIFEST))]


def combined_table(runs: list[Run], warmup: bool = False) -> pd.DataFrame:
    """The :meth:`Run.table` of several runs (a sweep) stacked into one DataFrame."""
    tables = [r.table(warmup) for r in runs]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def _load_folder(d: Path, tls_keylog, decode_as, ignore_ports, progress) -> Run:
    manifest = load_manifest(d)
    capture = d / CAPTURE
    requests = read_table(d, "requests", REQUEST_COLUMNS)
    connections = read_table(d, "connections", CONNECTION_COLUMNS)
    run_warnings = list((manifest.get("analysis") or {}).get("warnings") or [])
    stats = None
    if requests is None or connections is None:
        if not capture.is_file():
            raise InferwireError(f"{d}: not a run folder (no requests.csv/.parquet and no "
                                 "capture.pcapng)")
        probe = probe_port(manifest)
        ports = tuple(ignore_ports) + ((probe,) if probe else ())
        analysed = load_run(capture, tls_keylog=tls_keylog, decode_as=decode_as,
                            ignore_ports=ports, progress=progress)
        requests, connections = analysed.requests, analysed.connections
        run_warnings, stats = analysed.warnings, analysed.capture
    return Run(path=d, requests=requests, connections=connections,
               joined=_joined(d, requests, manifest), manifest=manifest,
               resources=read_resources(d / RESOURCES), stats_history=read_stats_histories(d),
               warnings=run_warnings, capture=stats,
               capture_path=capture if capture.is_file() else None)


def _joined(d: Path, requests: pd.DataFrame, manifest: dict) -> pd.DataFrame | None:
    """The folder's joined table; a folder written before ``server_join`` existed is joined
    again from its logs (so that its requests without an id get the server's times too)."""
    older = tuple(c for c in JOINED_COLUMNS if c.name != "server_join")
    joined = read_table(d, "joined", REQUEST_COLUMNS + older)
    if joined is None or "server_join" in joined:
        return None if joined is None else cast_columns(joined, JOINED_COLUMNS)
    again = join_requests(requests, read_client_logs(d), read_server_log(d),
                          workloads=workload_ports(manifest))
    return cast_columns(again, REQUEST_COLUMNS + JOINED_COLUMNS)
