"""Loading what reports draw from: a capture run's results folder, or any capture file.

:func:`load_run` returns a :class:`Run`: the per-request and per-connection tables (columns in
:mod:`inferwire.columns`), the joined table when the run has client logs, the manifest, the
resource samples (``resources.csv``) and locust's stats history when the run folder holds one.
A capture file is analysed on the spot (``inferwire.analyze``) and gives a Run without manifest.
"""
from __future__ import annotations

import json
import os
import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..columns import (CONNECTION_COLUMNS, JOINED_COLUMNS, LATER_COLUMNS, REQUEST_COLUMNS,
                       UTC_DTYPE, Column)
from ..errors import InferwireError, InferwireWarning

#: Encodings the clients use when a run does not name one (see inferwire.serving.make_client).
DEFAULT_ENCODING = {"rest": "json_row", "grpc": "grpc_tensor_content"}
V2_DEFAULT_ENCODING = {"rest": "v2_json", "grpc": "v2_raw"}     # with --api v2
RESOURCE_COLUMNS = ("time_ns", "role", "cpu_percent", "rss_bytes")


@dataclass(repr=False)
class Run:
    """One run (or one capture) ready to report on.

    ``requests``/``connections``: the tables of :mod:`inferwire.columns`; ``joined``: requests ⨝
    client log ⨝ server log (or None); ``manifest``: the run's manifest.json ({} for a bare
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
        from ..analysis import describe_tables
        status = self.manifest.get("status")
        return (f"<Run {self.name!r}{f' ({status})' if status else ''}: "
                f"{describe_tables(self)}>")

    @property
    def name(self) -> str:
        return self.path.name

    def summary(self) -> pd.DataFrame:
        """Per protocol: request count and p50/p90/p99 of each phase (ms)."""
        from ..analysis import phase_summary
        return phase_summary(self.requests)

    @property
    def plot(self):
        """Plots of this run (:class:`inferwire.report.plots.AnalysisPlots`)."""
        from .plots import AnalysisPlots
        return AnalysisPlots(self)

    def table(self, warmup: bool = False) -> pd.DataFrame:
        """One row per request: the joined table when there is one (else the requests table),
        plus ``workload``, ``batch_size`` and ``encoding`` from the manifest and ``run`` (the
        folder name).  Warm-up requests are left out unless ``warmup``."""
        from ..join import label_workloads, workload_ports
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
    from ..experiment.config import encodings_for
    api = config.get("api") or "tfserving"
    own = encodings_for(api, "rest" if workload == "rest" else "grpc")
    named = [e for e in config.get("encoding") or () if e in own]
    if named:
        return named[0]
    return V2_DEFAULT_ENCODING.get(workload) if api == "v2" else DEFAULT_ENCODING.get(workload)


# -- loading -----------------------------------------------------------------------------------
def load_run(path: str | os.PathLike, *, tls_keylog=None, decode_as=None, ignore_ports=(),
             progress: bool = False) -> Run:
    """A run folder (its saved tables; the capture is analysed only if they are missing) or a
    capture file (analysed now).  Raises InferwireError when ``path`` is neither."""
    p = Path(path)
    if p.is_dir():
        return _load_folder(p, tls_keylog, decode_as, ignore_ports, progress)
    if p.is_file():
        from ..analysis import analyze
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore", InferwireWarning)  # kept in run.warnings
            a = analyze(p, tls_keylog=tls_keylog, decode_as=decode_as, ignore_ports=ignore_ports,
                        progress=progress)
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


def load_runs(parent: str | os.PathLike) -> list[Run]:
    """Every run folder (a folder holding manifest.json) under ``parent``, oldest name first."""
    root = Path(parent)
    if not root.is_dir():
        raise InferwireError(f"{root}: not a folder")
    return [load_run(m.parent) for m in sorted(root.rglob("manifest.json"))]


def combined_table(runs: list[Run], warmup: bool = False) -> pd.DataFrame:
    """The :meth:`Run.table` of several runs (a sweep) stacked into one DataFrame."""
    tables = [r.table(warmup) for r in runs]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def _load_folder(d: Path, tls_keylog, decode_as, ignore_ports, progress) -> Run:
    manifest = _read_manifest(d / "manifest.json")
    capture = d / "capture.pcapng"
    requests = read_table(d, "requests", REQUEST_COLUMNS)
    connections = read_table(d, "connections", CONNECTION_COLUMNS)
    run_warnings = list((manifest.get("analysis") or {}).get("warnings") or [])
    stats = None
    if requests is None or connections is None:
        if not capture.is_file():
            raise InferwireError(f"{d}: not a run folder (no requests.csv/.parquet and no "
                                 "capture.pcapng)")
        probe = (manifest.get("capture") or {}).get("probe_port")
        ports = tuple(ignore_ports) + ((probe,) if probe else ())
        analysed = load_run(capture, tls_keylog=tls_keylog, decode_as=decode_as,
                            ignore_ports=ports, progress=progress)
        requests, connections = analysed.requests, analysed.connections
        run_warnings, stats = analysed.warnings, analysed.capture
    return Run(path=d, requests=requests, connections=connections,
               joined=_joined(d, requests, manifest), manifest=manifest, resources=read_resources(d / "resources.csv"),
               stats_history=_stats_history(d), warnings=run_warnings, capture=stats,
               capture_path=capture if capture.is_file() else None)


def _joined(d: Path, requests: pd.DataFrame, manifest: dict) -> pd.DataFrame | None:
    """The folder's joined table; a folder written before ``server_join`` existed is joined
    again from its logs (so that its requests without an id get the server's times too)."""
    older = tuple(c for c in JOINED_COLUMNS if c.name != "server_join")
    joined = read_table(d, "joined", REQUEST_COLUMNS + older)
    if joined is None or "server_join" in joined:
        return None if joined is None else cast_columns(joined, JOINED_COLUMNS)
    from ..experiment.logs import read_client_logs, read_server_log
    from ..join import join_requests, workload_ports
    again = join_requests(requests, read_client_logs(d), read_server_log(d / "server_log.jsonl"),
                          workloads=workload_ports(manifest))
    return cast_columns(again, REQUEST_COLUMNS + JOINED_COLUMNS)


def _read_manifest(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InferwireError(f"{path}: cannot read the run's manifest: {exc}") from exc
    if not isinstance(data, dict):
        raise InferwireError(f"{path}: the manifest is not a JSON object")
    return data


def read_table(d: Path, name: str, columns: tuple[Column, ...]) -> pd.DataFrame | None:
    """``d/name.parquet`` (else ``d/name.csv``) with the contract's dtypes; None if neither.

    Columns of :data:`~inferwire.columns.LATER_COLUMNS` that a table written by an earlier
    version lacks are read empty (not known); any other missing column raises InferwireError
    naming the file and the first missing column.
    """
    pq, csv = d / f"{name}.parquet", d / f"{name}.csv"
    path = pq if pq.is_file() else csv if csv.is_file() else None
    if path is None:
        return None
    try:
        df = pd.read_parquet(path) if path is pq else pd.read_csv(path, low_memory=False)
    except Exception as exc:  # pyarrow and the CSV parser raise many types for a bad file
        raise InferwireError(f"{path}: cannot read the table: {exc}") from exc
    df = _older_utc(df, columns)
    missing = [c.name for c in columns if c.name not in df.columns]
    if missing and set(missing) <= LATER_COLUMNS:    # written before those columns existed
        df = df.assign(**{name: pd.NA for name in missing})
        missing = []
    if missing:
        raise InferwireError(f"{path}: column {missing[0]!r} missing ({len(missing)} missing); "
                             "was it written by this version of inferwire?")
    return cast_columns(df, columns, path)


def _older_utc(df: pd.DataFrame, columns: tuple[Column, ...]) -> pd.DataFrame:
    """A table written before the ``*_utc`` columns existed: each made from its float seconds,
    rounded to the µs (the float holds about 0.24 µs at today's epoch: exact for µs captures)."""
    from ..columns import utc_source
    todo = [c.name for c in columns if c.dtype == UTC_DTYPE and c.name not in df
            and utc_source(c) in df]
    if not todo:
        return df
    df = df.copy()
    for name in todo:
        seconds = pd.to_numeric(df[utc_source(name)], errors="coerce")
        us = (seconds * 1e6).round().astype("Int64")
        df[name] = pd.to_datetime(us, unit="us", utc=True).astype(UTC_DTYPE)
    return df


def cast_columns(df: pd.DataFrame, columns: tuple[Column, ...], path=None) -> pd.DataFrame:
    """``df`` with each contract column in its dtype (CSV gives strings and floats)."""
    out = df.copy()
    for col in columns:
        try:
            out[col.name] = _cast(out[col.name], col.dtype)
        except (TypeError, ValueError) as exc:
            raise InferwireError(f"{path or 'table'}: column {col.name!r} does not hold "
                                 f"{col.dtype} values: {exc}") from exc
    return out


def _cast(s: pd.Series, dtype: str) -> pd.Series:
    if dtype == "boolean":
        mapped = s.map({True: True, False: False, "True": True, "False": False,
                        "true": True, "false": False})
        return mapped.astype("boolean")
    if dtype in ("Int64", "int64"):   # joined rows without a capture have no connection
        num = pd.to_numeric(s, errors="raise")
        return num.astype("Int64") if num.isna().any() or dtype == "Int64" else num.astype(dtype)
    if dtype == "float64":
        return pd.to_numeric(s, errors="raise").astype("float64")
    if dtype == UTC_DTYPE:      # ISO 8601 text in the CSV, exact to the ns
        return pd.to_datetime(s, utc=True, format="ISO8601").astype(dtype)
    return s.astype(dtype)


def read_resources(path: Path) -> pd.DataFrame | None:
    """resources.csv (see :mod:`inferwire.resources`) plus ``time`` (s since epoch); None if
    absent."""
    if not path.is_file():
        return None
    try:
        df = pd.read_csv(path)
    except Exception as exc:
        raise InferwireError(f"{path}: cannot read the resource samples: {exc}") from exc
    missing = [c for c in RESOURCE_COLUMNS if c not in df.columns]
    if missing:
        raise InferwireError(f"{path}: column {missing[0]!r} missing: not inferwire's "
                             "resources.csv")
    df["time"] = pd.to_numeric(df["time_ns"], errors="coerce") / 1e9
    return df


def _stats_history(d: Path) -> pd.DataFrame | None:
    """Every ``*stats_history.csv`` locust left in the folder, with a ``source`` column."""
    from .locust import read_stats_history
    frames = []
    for path in sorted(d.glob("*stats_history.csv")):
        df = read_stats_history(path)
        df["source"] = path.name
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else None
