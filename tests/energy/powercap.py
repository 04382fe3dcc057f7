"""A powercap sysfs tree in the kernel's file format, written into a temporary folder."""
from __future__ import annotations

import os
from pathlib import Path

MAX_RANGE = 262143328850          # a real max_energy_range_uj (Intel client parts)


def write_zone(root: Path, dirname: str, name: str, energy_uj: int,
               max_range: int = MAX_RANGE) -> Path:
    """One zone folder like /sys/class/powercap/intel-rapl:0 (one value and a newline per file)."""
    zone = root / dirname
    zone.mkdir(parents=True, exist_ok=True)
    (zone / "name").write_text(f"{name}\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_range}\n")
    (zone / "enabled").write_text("1\n")
    (zone / "constraint_0_name").write_text("long_term\n")
    (zone / "constraint_0_power_limit_uw").write_text("15000000\n")
    return zone


def set_energy(root: Path, dirname: str, energy_uj: int) -> None:
    """A new value, as sysfs gives it: a read sees the old one or the new one, never an empty
    file (write_text truncates first: a meter polling meanwhile read "" and stopped sampling,
    4 samples instead of 17 in a loaded run; 95 % of reads failed beside a writing loop)."""
    path = root / dirname / "energy_uj"
    tmp = path.with_name(".energy_uj.new")
    tmp.write_text(f"{energy_uj}\n")
    os.replace(tmp, path)


def laptop_tree(root: Path, package_uj: int = 1_000_000) -> Path:
    """A typical laptop: control type folder, package-0 with core/uncore sub-zones, psys, and the
    mmio duplicate of the package."""
    (root / "intel-rapl").mkdir(parents=True)
    (root / "intel-rapl" / "enabled").write_text("1\n")
    write_zone(root, "intel-rapl:0", "package-0", package_uj)
    write_zone(root, "intel-rapl:0:0", "core", 400_000)
    write_zone(root, "intel-rapl:0:1", "uncore", 100_000)
    write_zone(root, "intel-rapl:1", "psys", 9_000_000)
    write_zone(root, "intel-rapl-mmio:0", "package-0", package_uj)
    return root
