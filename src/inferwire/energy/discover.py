"""Finding the energy meters this host has (RAPL and/or NVML) and opening the best."""
from __future__ import annotations

from .meter import MeterError, MultiMeter, NullMeter
from .nvml import NvmlMeter
from .rapl import RaplMeter


def open_meter(powercap_root: str = "/sys/class/powercap", nvml=None):
    """The best meter this host has: RAPL and/or NVML, else a :class:`NullMeter` whose ``reason``
    says what was looked for and why each was not usable."""
    found, why_not = [], []
    for make in (lambda: RaplMeter(powercap_root), lambda: NvmlMeter(nvml)):
        try:
            found.append(make())
        except MeterError as exc:
            why_not.append(str(exc))
    if not found:
        return NullMeter("; ".join(why_not))
    return found[0] if len(found) == 1 else MultiMeter(found)
