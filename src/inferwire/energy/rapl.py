"""Intel/AMD RAPL energy counters through the Linux powercap sysfs tree.

    /sys/class/powercap/intel-rapl:0/name                  "package-0"
    /sys/class/powercap/intel-rapl:0/energy_uj             cumulative microjoules (wraps)
    /sys/class/powercap/intel-rapl:0/max_energy_range_uj   the value at which energy_uj wraps
    /sys/class/powercap/intel-rapl:0:1/...                 sub-zones: "core", "uncore", "dram"

Each file holds one decimal number or name and a newline.  AMD processors appear under the same
``intel-rapl`` control type.  ``intel-rapl-mmio:*`` zones repeat the package counters through
another interface and are skipped (they would count the package twice).  Since Linux 5.10
``energy_uj`` is readable by root only.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .meter import MeterError

ZONE_DIR = re.compile(r"^intel-rapl(:\d+)+$")


@dataclass(frozen=True)
class RaplZone:
    """One powercap zone: ``key`` "intel-rapl:0:1 dram", its folder, depth (1 = top level)."""
    key: str
    path: Path
    name: str
    depth: int
    max_range_uj: int


def _read_text(path: Path, field: str) -> str:
    try:
        return path.read_text().strip()
    except PermissionError:
        raise MeterError("permission denied (energy counters are readable by root only since "
                         "Linux 5.10: run as root or make energy_uj readable)",
                         path=str(path), field=field) from None
    except OSError as exc:
        raise MeterError(f"cannot read: {exc.strerror or exc}", path=str(path),
                         field=field) from None


def _read_int(path: Path, field: str) -> int:
    text = _read_text(path, field)
    try:
        value = int(text)
    except ValueError:
        raise MeterError(f"not a whole number: {text[:40]!r}", path=str(path),
                         field=field) from None
    if value < 0:
        raise MeterError(f"negative value {value}", path=str(path), field=field)
    return value


def find_zones(root: str | os.PathLike = "/sys/class/powercap") -> list[RaplZone]:
    """The RAPL zones under ``root`` (sorted by key); MeterError if there are none."""
    base = Path(root)
    if not base.is_dir():
        raise MeterError("no RAPL powercap tree (not Linux, or no RAPL driver, or a VM without "
                         "RAPL)", path=str(base))
    zones = []
    for entry in sorted(base.iterdir()):
        if not ZONE_DIR.match(entry.name) or not (entry / "energy_uj").exists():
            continue
        name = _read_text(entry / "name", "name") if (entry / "name").exists() else entry.name
        zones.append(RaplZone(key=f"{entry.name} {name}", path=entry, name=name,
                              depth=entry.name.count(":"),
                              max_range_uj=_read_int(entry / "max_energy_range_uj",
                                                     "max_energy_range_uj")))
    if not zones:
        raise MeterError("no intel-rapl:* zones with an energy_uj counter", path=str(base))
    return zones


def total_zone_keys(zones: list[RaplZone]) -> list[str]:
    """The zones whose sum is the host's energy without double counting: the packages plus DRAM
    (packages exclude DRAM; core/uncore are parts of a package).  With no package zone, "psys"
    (the whole SoC, which already includes the package) alone; failing that every top-level zone."""
    packages = [z for z in zones if z.depth == 1 and z.name.startswith("package")]
    dram = [z for z in zones if z.name == "dram"]
    psys = [z for z in zones if z.depth == 1 and z.name == "psys"]
    chosen = packages + dram if packages else psys or [z for z in zones if z.depth == 1]
    return [z.key for z in chosen]


class RaplMeter:
    """Reads every RAPL zone's ``energy_uj`` (microjoules, wrapping at ``max_energy_range_uj``)."""

    name = "rapl"

    def __init__(self, root: str | os.PathLike = "/sys/class/powercap"):
        self.zones = find_zones(root)
        self.read()                         # unreadable counters fail here, not mid-run

    def read(self) -> dict[str, int]:
        return {z.key: _read_int(z.path / "energy_uj", "energy_uj") for z in self.zones}

    def max_ranges(self) -> dict[str, int | None]:
        return {z.key: z.max_range_uj for z in self.zones}

    def total_zones(self) -> list[str]:
        return total_zone_keys(self.zones)

    def close(self) -> None:
        pass
