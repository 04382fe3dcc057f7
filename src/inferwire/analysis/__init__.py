"""The analysis stage: a capture in, the per-request, per-connection and per-message tables out.

One module a concern, in the order the data flows:

- :mod:`.options`: what :func:`analyze` is asked (:class:`AnalyzeOptions`) and answers
  (:class:`Analysis`);
- :mod:`.pipeline`: :func:`analyze` itself: read the capture (one file, several, a directory),
  schedule it, gather the warnings;
- :mod:`.schedule`, :mod:`.buckets`, :mod:`.spill`, :mod:`.workers`: the capture cut into
  buckets of whole connections (in memory or on disk) shared out among processes;
- :mod:`.dispatch`: per connection, its protocol and its exchanges;
- :mod:`.rows`, :mod:`.tables`: exchanges -> named rows -> typed columns (:mod:`inferwire.columns`);
- :mod:`.pages`: how much of the mapped capture is held, and giving it back;
  :mod:`.smallpages`, :mod:`.arrowpool`, :mod:`.keptheap`: numpy's huge page advice off,
  Arrow's buffers on ``malloc`` and ``malloc``'s freed memory kept for reuse while
  :func:`analyze` runs (the big short-lived arrays' new pages);
- :mod:`.summary`: phase percentiles and the short texts;
- inputs beyond one capture: :mod:`.vantage` (two vantage points), :mod:`.many` (many captures
  on Dask), and joins: :mod:`.join` (capture x client log x server log);
- :mod:`.cli`: ``inferwire analyze``.

The core (all but :mod:`.cli` and :mod:`.many`, which run processes and read run folders)
imports nothing from the run folder, report or shell layers.
"""
from __future__ import annotations

import importlib

#: Public names, each loaded from its module on first use: ``inferwire analyze --help`` (which
#: imports :mod:`.cli`) must not import numpy and pandas.
_EXPORTS = {"Analysis": "options", "AnalyzeOptions": "options", "PROTOCOLS": "dispatch",
            "analyze_connection": "dispatch", "PageBudget": "pages", "analyze": "pipeline",
            "probe_ports": "pipeline", "read_capture": "pipeline",
            "describe_tables": "summary", "format_summary": "summary", "phase_summary": "summary"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
