"""What :func:`~inferwire.analysis.analyze` is asked (:class:`AnalyzeOptions`) and what it
answers (:class:`Analysis`: the tables, the capture's statistics and the warnings)."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..arrays import Table
from ..errors import InferwireError
from ..tablefiles import write_csv, write_parquet
from .summary import describe_tables, format_summary, phase_summary
from .tables import message_columns


@dataclass
class AnalyzeOptions:
    """How to read a capture.

    ``tls_keylog``: an SSLKEYLOGFILE-format file to decrypt TLS with.  ``decode_as``: server port ->
    protocol ("http/1.1", "h2", "tls"), overriding detection from the bytes (like Wireshark's Decode
    As).  ``ignore_ports``: connections to or from these ports are left out (e.g. capture probes).
    ``vantage``: where the capture was taken, "client", "server" or "auto" (from each
    connection's handshake): decides which copy of a retransmitted byte the receiver got.
    """

    tls_keylog: str | os.PathLike | None = None
    decode_as: dict = field(default_factory=dict)
    ignore_ports: tuple = ()
    progress: bool = False
    workers: int | str | None = "auto"
    spill: bool | str = "auto"
    spill_dir: str | os.PathLike | None = None
    vantage: str = "auto"


class _Table:
    """An :class:`Analysis` table: kept as the analysis made it (an
    :class:`~inferwire.arrays.Table`) until read, then the DataFrame made of it once; a
    DataFrame given (or set) is kept as it is."""

    def __set_name__(self, owner, name: str) -> None:
        self.name, self.slot = name, f"_{name}"

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        table = obj.__dict__[self.slot]
        if isinstance(table, Table):
            table = obj.__dict__[self.slot] = table.frame()
        return table

    def __set__(self, obj, value) -> None:
        obj.__dict__[self.slot] = value


class Analysis:
    """The result of :func:`analyze`: ``requests`` and ``connections`` DataFrames (columns in
    :mod:`inferwire.columns`), the capture's statistics and every warning raised while reading.

    The tables become DataFrames when first read (:mod:`inferwire.arrays`: ``inferwire analyze``
    writes and summarises them without pandas); :meth:`table` gives one as it is held."""

    requests = _Table()
    connections = _Table()
    #: one row per message of each streamed request (:data:`~inferwire.columns.MESSAGE_COLUMNS`)
    messages = _Table()

    def __init__(self, path: str, requests, connections, capture: object, warnings: list,
                 messages=None):
        self.path, self.capture, self.warnings = path, capture, warnings
        self.requests, self.connections = requests, connections
        self.messages = messages if messages is not None else Table(message_columns([]))

    #: The names :meth:`table` knows.
    TABLES = ("requests", "connections", "messages")

    def table(self, name: str):
        """The table ``name`` ("requests", "connections", "messages") as held: an
        :class:`~inferwire.arrays.Table` until its DataFrame is read, then that DataFrame
        (either has ``len``).  Another name is an :class:`~inferwire.errors.InferwireError`
        naming these."""
        if name not in self.TABLES:
            raise InferwireError(f"no table {name!r} in an Analysis: use one of "
                                 f"{', '.join(self.TABLES)}")
        return self.__dict__[f"_{name}"]

    def __repr__(self) -> str:
        return f"<Analysis {Path(self.path).name!r}: {describe_tables(self)}>"

    def summary(self):
        """Per protocol: request count and p50/p90/p99 of each phase (ms)."""
        return phase_summary(self.requests)

    def __getattr__(self, name: str):
        # Plots live in the report layer, which the core does not import (no import cycles).
        if name == "plot":
            raise AttributeError("Analysis.plot moved to the report layer: use "
                                 "inferwire.report.plot(analysis), e.g. "
                                 "inferwire.report.plot(a).cdf()")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def summary_text(self) -> str:
        """A short plain-text report of where the time went."""
        return format_summary(self)

    def output_paths(self, out_dir: str | os.PathLike) -> dict:
        """The files :meth:`save` writes into ``out_dir``: name -> path (``requests.csv``,
        ``requests.parquet``, ``connections.*``, and ``messages.*`` when a request was
        streamed)."""
        out = Path(out_dir)
        names = ["requests", "connections"] + (["messages"] if len(self.table("messages"))
                                               else [])
        return {f"{name}.{kind}": out / f"{name}.{kind}" for name in names
                for kind in ("csv", "parquet")}

    def save(self, out_dir: str | os.PathLike) -> dict:
        """Write requests/connections (and messages, when a request was streamed) as CSV and
        Parquet into ``out_dir``; return the paths.  The Parquet files are written by one
        thread while this one writes the CSV files (both mostly in Arrow, which releases the
        GIL: the CLI's writing took 0.7 s one after the other on a 1 M-message capture)."""
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        paths = self.output_paths(out_dir)
        tables = [(name, self.table(name)) for name in ("requests", "connections", "messages")]
        tables = [(name, t) for name, t in tables if name != "messages" or len(t)]
        with ThreadPoolExecutor(max_workers=1) as pool:
            parquet = [pool.submit(write_parquet, df, paths[f"{name}.parquet"])
                       for name, df in tables]
            for name, df in tables:
                write_csv(df, paths[f"{name}.csv"])
            for done in parquet:
                done.result()
        return paths
