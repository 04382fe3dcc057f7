"""Capture runs: server + proven-live capture + load + analysis, into a results folder per run.

Names load on first use: the report layer reads this package's summaries
(:mod:`.summary`, :mod:`.streaming_summary`) without the run's own dependencies (psutil).
"""
from __future__ import annotations

import importlib

_EXPORTS = {"RunConfig": "config", "RunResult": "run", "run_experiment": "run"}
__all__ = ["RunConfig", "RunResult", "run_experiment"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
