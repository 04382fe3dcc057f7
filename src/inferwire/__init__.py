"""inferwire: where each ML inference request's time goes, read from the packets.

The public API (``dir(inferwire)``): :func:`analyze` a capture into an :class:`Analysis`;
:func:`load_run` a run folder (or capture) into a :class:`Run`, :func:`load_runs` many;
:func:`build_report` the HTML report, HAR and annotated pcapng; :func:`join_requests` a
capture's requests with client and server logs; :func:`analyze_many` many captures on Dask;
the errors below.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

from .errors import (CaptureError, CaptureFormatError, InferwireError, InferwireWarning, LoadError,
                     ProtocolError, ServerError)

#: Public names loaded on first use: importing inferwire must not import pandas eagerly.
_LAZY = {"analyze": "analysis", "Analysis": "analysis", "load_run": "report.run",
         "load_runs": "report.run", "Run": "report.run", "build_report": "report.build",
         "join_requests": "analysis.join", "analyze_many": "analysis.many"}

__all__ = ["__version__", "InferwireError", "CaptureFormatError", "ProtocolError", "CaptureError",
           "ServerError", "LoadError", "InferwireWarning", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'inferwire' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
