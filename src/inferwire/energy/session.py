"""Measuring a run: poll a meter in the background while the run goes, then write energy.json.

    with EnergySession(open_meter()) as session:
        result = run_experiment(config)
    session.write(result.run_dir)        # energy.json (+ energy_samples.csv with a meter)

or in one call: ``result, report = measure(lambda: run_experiment(config))``.
"""
from __future__ import annotations

import csv
import threading
import time
from pathlib import Path

from ..runfolder import ENERGY, write_json
from .discover import open_meter
from .meter import MeterError, NullMeter


class EnergySession:
    """Polls ``meter.read()`` every ``interval_s`` seconds (default 0.5) from enter to exit.

    Frequent reads keep RAPL wrap-arounds single between readings and let the report cut out the
    load windows (server start-up and analysis are not charged to the requests).  A read that fails
    mid-run stops sampling; the report then says so instead of inventing the missing energy.
    """

    def __init__(self, meter=None, interval_s: float = 0.5):
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self.meter = meter if meter is not None else open_meter()
        self.interval_s = interval_s
        self.samples: list[tuple[int, dict[str, int]]] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def has_meter(self) -> bool:
        return not isinstance(self.meter, NullMeter)

    def _sample(self) -> bool:
        try:
            values = self.meter.read()
        except MeterError as exc:
            self.error = str(exc)
            return False
        self.samples.append((time.time_ns(), values))
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            if not self._sample():
                return

    def __enter__(self) -> "EnergySession":
        if self.has_meter and self._sample():
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name="inferwire-energy")
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._sample()                  # a last reading at the very end

    def report(self, run_dir) -> dict:
        """The energy.json content for the run in ``run_dir`` (see :func:`.report.energy_report`)."""
        from .report import energy_report  # deferred: energy.report imports numpy, pandas
        return energy_report(Path(run_dir), self.meter, self.samples, self.error,
                             self.interval_s)

    def write(self, run_dir) -> dict:
        """Write ``energy.json`` (and ``energy_samples.csv`` when there were readings) into
        ``run_dir``; returns the report."""
        run_dir = Path(run_dir)
        report = self.report(run_dir)
        if self.samples:
            with open(run_dir / "energy_samples.csv", "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(("time_ns", "zone", "energy_uj"))
                for t, values in self.samples:
                    w.writerows((t, zone, v) for zone, v in values.items())
        write_json(run_dir / ENERGY, report)
        return report


def measure(fn, *, meter=None, interval_s: float = 0.5):
    """Call ``fn()`` (a capture run returning something with ``run_dir``) under an energy meter;
    writes ``energy.json`` into its run folder.  Returns ``(fn's result, report dict)``."""
    with EnergySession(meter, interval_s) as session:
        result = fn()
    return result, session.write(result.run_dir)
