"""Running a sweep, resumably: a sweep folder with plan.json and one run folder per point.

    SWEEP/plan.json                     the plan (points and shared settings)
    SWEEP/runs/<UTC time>-<point id>/   a capture run (inferwire.experiment) + energy.json
    SWEEP/runs/<UTC time>-cache-probe/  the caching probe (inferwire.sweep.cacheprobe)
    SWEEP/points.csv, requests.parquet  the combined tables (inferwire.sweep.combine)

A point is done when one of its run folders has a manifest with status "ok"; a sweep started again
with ``resume=True`` skips those and runs the rest (a run folder left by a stopped or failed
attempt stays, for the record, and a new one is made).  Ctrl-C stops the sweep after the current
run has been stopped, analyzed and kept.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InferwireError
from ..experiment.folder import new_run_dir
from ..runfolder import POINT, write_json
from ..serving.ports import free_ports
from .cacheprobe import run_cache_probe
from .plan import Plan
from .runs import CACHE_PROBE_ID, finished_runs

@dataclass
class SweepResult:
    """What one invocation did: run folders made, points skipped as done, points that failed."""
    sweep_dir: Path
    ran: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)     # (point id, run folder, status, problems)
    interrupted: bool = False
    remaining: int = 0

    @property
    def exit_code(self) -> int:
        return 130 if self.interrupted else (1 if self.failed else 0)


def open_sweep(sweep_dir: Path, plan: Plan | None, resume: bool) -> Plan:
    """Create the sweep folder with ``plan``, or, resuming, read its plan (which ``plan``, when
    given, must equal)."""
    path = sweep_dir / "plan.json"
    if path.exists():
        if not resume:
            raise InferwireError(f"{sweep_dir} already holds a sweep: add --resume to continue "
                                 "it, or choose a new --out folder")
        saved = Plan.load(path)
        if plan is not None and plan != saved:
            raise InferwireError(f"{path}: the sweep there has another plan; resume it without "
                                 "grid options, or choose a new --out folder")
        return saved
    if plan is None:
        raise InferwireError(f"{path} not found: nothing to resume; start the sweep with a plan")
    sweep_dir.mkdir(parents=True, exist_ok=True)
    plan.save(path)
    return plan


def _say(enabled: bool):
    def say(text: str) -> None:
        if enabled:
            print(f"[inferwire sweep] {text}", file=sys.stderr, flush=True)
    return say


def _run_point(plan: Plan, point, runs: Path, meter, progress: bool):
    """One capture run under the energy meter; returns (run folder, status, problems)."""
    from ..energy import EnergySession  # deferred: energy imports numpy
    from ..experiment import run_experiment  # deferred: experiment.run imports psutil (optional)
    config = plan.run_config(point, runs, progress)
    if config.server in ("embedded", "kserve"):    # Triton picks free ones itself
        config.grpc_port, config.rest_port = free_ports(2)
    with EnergySession(meter) as session:
        result = run_experiment(config)
    write_json(result.run_dir / POINT, {"point": point.id, **point.to_dict()})
    session.write(result.run_dir)
    return result.run_dir, result.status, result.problems


def _run_probe(plan: Plan, runs: Path):
    run_dir = new_run_dir(runs, CACHE_PROBE_ID)
    manifest = run_cache_probe(run_dir, plan)
    return run_dir, manifest["status"], manifest["problems"]


def run_sweep(sweep_dir, plan: Plan | None = None, *, resume: bool = False, meter=None,
              progress: bool = True, max_points: int | None = None) -> SweepResult:
    """Run the points of the sweep in ``sweep_dir`` that are not done yet (at most ``max_points``
    of them in this call), then write the combined tables.  ``meter``: an energy meter (default:
    the host's, see :func:`inferwire.energy.open_meter`)."""
    from ..energy import open_meter  # deferred: energy imports numpy
    sweep_dir = Path(sweep_dir)
    plan = open_sweep(sweep_dir, plan, resume)
    say, meter = _say(progress), meter if meter is not None else open_meter()
    result, runs = SweepResult(sweep_dir), sweep_dir / "runs"
    done = finished_runs(sweep_dir)
    todo = [(p.id, p) for p in plan.points] + ([(CACHE_PROBE_ID, None)] if plan.cache_probe else [])
    say(f"{len(todo)} points, {sum(1 for i, _ in todo if i in done)} already done; energy meter: "
        f"{meter.name}" + (f" ({meter.reason})" if getattr(meter, "reason", None) else ""))
    for n, (pid, point) in enumerate(todo, 1):
        if pid in done:
            result.skipped.append(done[pid])
            continue
        if max_points is not None and len(result.ran) >= max_points:
            result.remaining += 1
            continue
        say(f"point {n}/{len(todo)}: {pid}")
        try:
            run_dir, status, problems = (_run_probe(plan, runs) if point is None else
                                         _run_point(plan, point, runs, meter, False))
        except KeyboardInterrupt:
            result.interrupted = True
            break
        result.ran.append(run_dir)
        say(f"  {status}: {run_dir.name}" + (f" ({'; '.join(problems)})" if problems else ""))
        if status == "interrupted":
            result.interrupted = True
            break
        if status != "ok":
            result.failed.append((pid, run_dir, status, problems))
    if result.interrupted:
        say(f"stopped; continue with: inferwire sweep --out {sweep_dir} --resume")
    _combine(sweep_dir, say)
    return result


def _combine(sweep_dir: Path, say) -> None:
    from .combine import combine  # deferred: sweep.combine imports numpy, pandas
    try:
        tables = combine(sweep_dir)
    except InferwireError as exc:
        say(f"combined tables not written: {exc}")
        return
    say(f"combined: {len(tables.points)} point rows -> {sweep_dir / 'points.csv'}")
