"""Load engines: what generates the load inside a capture run.

Each engine is a module with ``run(ctx: EngineContext)`` returning a summary object that has
``to_dict()`` and ``interrupted`` (like :class:`inferwire.load.LoadSummary`).  An engine writes
``ctx.run_dir / f"client_log_{ctx.protocol}.csv"`` in the client-log format of
:mod:`inferwire.load.clientlog` where its tool logs per request, so that the capture joins to it by
request id; it keeps the tool's own outputs in the run folder too.  It must return soon after
``ctx.stop`` is set (the server died) and raise KeyboardInterrupt (or return an interrupted
summary) on Ctrl-C.
"""
from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InferwireError

#: engine name -> module implementing it
ENGINES = {
    "inferwire": "inferwire.engines.builtin",
    "locust": "inferwire.engines.locust",
    "ab": "inferwire.engines.ab",
    "h2load": "inferwire.engines.h2load",
    "aiperf": "inferwire.engines.aiperf",
}


@dataclass
class EngineContext:
    """What an engine needs: the run's configuration, the protocol to load, where the server is
    (``targets``: host, grpc_port, rest_port, model_name), the run folder, a stop event and a
    progress printer (``say(text)``)."""

    config: object
    protocol: str
    targets: dict
    run_dir: Path
    stop: threading.Event = field(default_factory=threading.Event)
    say: object = print


def get_engine(name: str):
    """The engine module called ``name``; a clear error if unknown or not installed here."""
    if name not in ENGINES:
        raise InferwireError(f"unknown load engine {name!r}; use one of {sorted(ENGINES)}")
    try:
        return importlib.import_module(ENGINES[name])
    except ModuleNotFoundError as exc:
        if exc.name == ENGINES[name]:
            raise InferwireError(f"load engine {name!r} is not available in this build") from exc
        raise
