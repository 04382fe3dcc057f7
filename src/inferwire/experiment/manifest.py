"""Facts about the machine and the tools, written into each run's manifest
(:mod:`inferwire.runfolder.manifest` writes it)."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _tool_version(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else None


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def environment_facts() -> dict:
    """Versions (inferwire, TensorFlow, grpcio, tshark, Python), host and clock source."""
    return {
        "inferwire": _version("inferwire"),
        "tensorflow": _version("tensorflow"),
        "tensorflow_serving_api": _version("tensorflow-serving-api"),
        "grpcio": _version("grpcio"),
        "python": sys.version.split()[0],
        "tshark": _tool_version(["tshark", "--version"]),
        "dumpcap": _tool_version(["dumpcap", "--version"]),
        "host": platform.node(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "clock": {"capture_and_client": "CLOCK_REALTIME (time.time_ns(), pcap timestamps)",
                  "clocksource": _read(
                      "/sys/devices/system/clocksource/clocksource0/current_clocksource")},
    }


def run_process_facts() -> dict:
    """This process's pid, start time (s since the epoch, as psutil gives it) and host: a run
    left at "running" whose process is gone (or is another process with that pid) was
    abandoned."""
    import psutil  # deferred: psutil is optional (load/serve)
    return {"pid": os.getpid(), "create_time": psutil.Process().create_time(),
            "host": platform.node()}
