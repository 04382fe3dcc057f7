"""Sweeps: many capture runs over a grid (protocol x batch size x encoding x concurrency or rate x
connection policy x model), resumable, combined into one table.

    from inferwire.sweep import findings_plan, run_sweep, combine
    run_sweep("results/sweep", findings_plan())       # or resume=True to continue a stopped one
    tables = combine("results/sweep")                 # .points, .requests
"""
import importlib

_WHERE = {"Combined": "combine", "combine": "combine", "FINDINGS_GRIDS": "plan", "Grid": "plan",
          "Plan": "plan", "Point": "plan", "findings_plan": "plan", "grid_plan": "plan",
          "SweepResult": "runner", "finished_runs": "runs", "run_sweep": "runner"}


def __getattr__(name):  # lazy: `inferwire --help` must not import pandas through here
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(name)


__all__ = ["Plan", "Point", "Grid", "findings_plan", "grid_plan", "FINDINGS_GRIDS", "run_sweep",
           "SweepResult", "finished_runs", "combine", "Combined"]
