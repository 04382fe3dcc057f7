"""Reports: plots, the HTML report, HAR and phase-annotated pcapng exports.

Light at import time (``inferwire --help`` stays fast): matplotlib is imported by the modules that
draw, when they are used.

- :mod:`.run`: :func:`load_run` (a run folder or a capture) -> :class:`Run`
- :mod:`.run`: :func:`plot` (an Analysis, Run, list of Runs or table) -> :class:`AnalysisPlots`
- :mod:`.plots`: :class:`AnalysisPlots` (``inferwire.report.plot(analysis)`` / ``run.plot``)
- :mod:`.html`: :func:`write_html`, one self-contained HTML file per run
- :mod:`.har`: :func:`to_har` / :func:`write_har`, HAR 1.2
- :mod:`.annotate`: :func:`annotate_capture`, pcapng with per-packet phase comments
- :mod:`.build`: :func:`build_report`, all of them into one folder (``inferwire report``)
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "Run": "run", "load_run": "run", "plot": "run", "load_runs": "run", "combined_table": "run",
    "AnalysisPlots": "plots", "write_html": "html", "render_html": "html",
    "to_har": "har", "write_har": "har", "annotate_capture": "annotate",
    "build_report": "build", "read_stats_history": "locust",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
