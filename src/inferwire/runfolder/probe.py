"""The capture-liveness probe port a run's manifest names: probes are not traffic to analyze."""
from __future__ import annotations

from pathlib import Path

from .manifest import read_manifest


def probe_port(manifest: dict) -> int | None:
    """The probe port in ``manifest`` (``capture.probe_port``), or None."""
    capture = manifest.get("capture") if isinstance(manifest, dict) else None
    probe = capture.get("probe_port") if isinstance(capture, dict) else None
    return probe if isinstance(probe, int) else None


def run_probe_ports(path) -> tuple:
    """(probe port,) when ``path`` is a run folder or the capture inside one, else ().  A
    capture file other than the one the manifest names gets ()."""
    if isinstance(path, (list, tuple)):
        return ()
    p = Path(path)
    manifest = read_manifest(p if p.is_dir() else p.parent) or {}
    probe = probe_port(manifest)
    if probe is None:
        return ()
    if p.is_file() and Path((manifest.get("capture") or {}).get("path", "")).name not in ("", p.name):
        return ()
    return (probe,)


def with_run_probe(path, options: dict) -> dict:
    """``options`` (keyword arguments of :func:`inferwire.analyze`) plus, for a run folder or
    the capture in one (its manifest naming the capture's probe port), that port in
    ``ignore_ports``: the run's liveness probes are not traffic to analyze."""
    probe = run_probe_ports(path)     # () for anything that is not a run: options as given
    if not probe:
        return options
    return dict(options, ignore_ports=tuple(options.get("ignore_ports", ())) + probe)
