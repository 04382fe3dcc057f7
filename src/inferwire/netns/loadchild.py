"""The load of a capture run, run as its own process inside the client's network namespace.

    python -m inferwire.netns.loadchild SPEC.json

SPEC holds the run's config, the protocol, the targets, the run folder and where to write the
result: {"summary": LoadSummary-like dict, "interrupted": bool}.  A process of its own, born in
the namespace, so that every thread and socket of the load generator (gRPC's included) is there.
SIGTERM asks the engine to stop soon (the server died, or the run was interrupted); the process
also gets SIGTERM if the run's process dies (PR_SET_PDEATHSIG).
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from pathlib import Path
from ..engines import EngineContext, get_engine
from ..experiment.config import RunConfig

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:          # the parent died before prctl took effect
        sys.exit(1)


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    _die_with_parent(spec["parent_pid"])
    from ..experiment.run import _Say  # deferred: experiment.run imports psutil (optional)
    config = RunConfig(**spec["config"])
    ctx = EngineContext(config, spec["protocol"], spec["targets"], Path(spec["run_dir"]),
                        say=_Say(config.progress))
    signal.signal(signal.SIGTERM, lambda *_: ctx.stop.set())
    summary, interrupted = None, False
    try:
        summary = get_engine(config.engine).run(ctx)
        interrupted = bool(getattr(summary, "interrupted", False))
    except KeyboardInterrupt:
        interrupted = True
    out = {"summary": summary.to_dict() if summary is not None else None,
           "interrupted": interrupted, "stopped": ctx.stop.is_set()}
    tmp = Path(spec["out"] + ".tmp")
    tmp.write_text(json.dumps(out, default=str))
    os.replace(tmp, spec["out"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
