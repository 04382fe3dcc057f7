"""The energy-meter interface, the meter for hosts without one, and the choice of meter.

A meter reads cumulative energy counters: ``read()`` returns ``{zone: microjoules}`` (raw counter
values, which may wrap at ``max_ranges()[zone]``).  The numbers only mean something as differences
between two readings; :mod:`inferwire.energy.session` polls a meter during a run and
:mod:`inferwire.energy.report` turns the readings into joules per request.
"""
from __future__ import annotations

from typing import Protocol

from ..errors import InferwireError

NO_METER = "no energy meter on this host"


class MeterError(InferwireError):
    """A meter that exists but cannot be read, or reads nonsense; ``path`` and ``field`` say where."""

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None):
        self.path, self.field = path, field
        where = ", ".join(str(w) for w in (path, field and f"field {field}") if w)
        super().__init__(f"{where}: {message}" if where else message)


class Meter(Protocol):
    """What every meter offers.  ``name``: "rapl", "nvml", "rapl+nvml" or "none"."""

    name: str

    def read(self) -> dict[str, int]:
        """Raw cumulative counters, microjoules, by zone."""

    def max_ranges(self) -> dict[str, int | None]:
        """Per zone, the value at which the counter wraps to 0 (None: it does not wrap)."""

    def close(self) -> None:
        ...


class NullMeter:
    """The meter of a host without one: reads nothing and says why (``reason``)."""

    name = "none"

    def __init__(self, reason: str = NO_METER):
        self.reason = reason if reason.startswith(NO_METER) else f"{NO_METER}: {reason}"

    def read(self) -> dict[str, int]:
        return {}

    def max_ranges(self) -> dict[str, int | None]:
        return {}

    def close(self) -> None:
        pass


class MultiMeter:
    """Several meters read as one (e.g. RAPL for the CPUs and NVML for the GPUs)."""

    def __init__(self, meters: list):
        self.meters = list(meters)
        self.name = "+".join(m.name for m in self.meters)

    def read(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for m in self.meters:
            out.update(m.read())
        return out

    def max_ranges(self) -> dict[str, int | None]:
        out: dict[str, int | None] = {}
        for m in self.meters:
            out.update(m.max_ranges())
        return out

    def total_zones(self) -> list[str]:
        return [z for m in self.meters for z in m.total_zones()]

    def close(self) -> None:
        for m in self.meters:
            m.close()
