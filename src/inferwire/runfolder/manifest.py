"""manifest.json: a run's facts and status, a JSON object written atomically."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import InferwireError
from .names import manifest_path


def read_manifest(run_dir) -> dict | None:
    """The run's manifest, or None when it is missing or unreadable (a run killed before its
    first manifest write, a folder that is not a run)."""
    try:
        data = json.loads(manifest_path(run_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def load_manifest(run_dir, *, required: bool = False) -> dict:
    """The run's manifest; {} when there is none (a bare capture's folder) unless ``required``.
    An unreadable or malformed manifest raises InferwireError naming the file."""
    path = manifest_path(run_dir)
    if not path.is_file():
        if required:
            raise InferwireError(f"{run_dir}: no readable {path.name} (not a run folder?)")
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InferwireError(f"{path}: cannot read the run's manifest: {exc}") from exc
    if not isinstance(data, dict):
        raise InferwireError(f"{path}: the manifest is not a JSON object")
    return data


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` atomically (a crash never leaves half a manifest)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str, sort_keys=False))
    os.replace(tmp, path)


def write_manifest(run_dir, manifest: dict) -> None:
    """``run_dir``'s manifest.json, atomically."""
    write_json(manifest_path(run_dir), manifest)
