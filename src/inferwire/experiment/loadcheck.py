"""Whether a protocol's load really ran: a load tool that exited non-zero, measured no
request, or saw none of its requests succeed, makes the run's status ``load_failed``
(:func:`load_failure` says why)."""
from __future__ import annotations

from pathlib import Path

TAIL_LINES = 5          # lines of the tool's output quoted
TAIL_BYTES = 4096       # read at most this much from the end of the output file
LINE_CHARS = 200        # each quoted line cut to this length


def load_failure(protocol: str, load: dict, run_dir: Path) -> str | None:
    """Why the load of ``protocol`` failed, or None.  ``load``: the engine's summary as saved
    in the manifest (``to_dict()``).  A load Ctrl-C/SIGTERM cut or the run stopped (the server
    died, the time limit) is said elsewhere.  locust exits 1 when some requests failed: with
    requests measured that is counted in ``errors``, not a failed tool."""
    if load.get("interrupted") or load.get("stopped_early"):
        return None
    tool = load.get("tool") or "inferwire"      # a LoadSummary: inferwire's own load
    code = load.get("exit_code")
    requests = load.get("requests") or 0
    locust_errors = tool == "locust" and code == 1 and requests > 0
    if code not in (0, None) and not locust_errors:
        what = f"exited with code {code}" + (f" after {requests} measured requests"
                                             if requests else ", no request measured")
    elif requests == 0:
        what = "measured 0 requests"
    elif load.get("ok", requests) == 0:     # a summary without "ok" counts none as failed
        what = f"measured {requests} requests, none succeeded"
    else:
        return None
    output = (load.get("outputs") or {}).get("output")
    return f"load failed: {protocol} {tool} {what}" + (_tail(run_dir / output) if output else "")


def _tail(path: Path) -> str:
    """The last lines of a tool's output file (stdout and stderr), for the notes."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - TAIL_BYTES))
            text = f.read().decode(errors="replace")
    except OSError as exc:
        return f"; its output {path.name} cannot be read: {exc.strerror or exc}"
    lines = [line.rstrip()[:LINE_CHARS] for line in text.splitlines() if line.strip()]
    if not lines:
        return f"; its output {path.name} is empty"
    return f"; last lines of {path.name}: " + " | ".join(lines[-TAIL_LINES:])
