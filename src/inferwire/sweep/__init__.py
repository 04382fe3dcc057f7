"""Sweeps: many capture runs over a grid (protocol x batch size x encoding x concurrency or rate x
connection policy x model), resumable, combined into one table.

    from inferwire.sweep import findings_plan, run_sweep, combine
    run_sweep("results/sweep", findings_plan())       # or resume=True to continue a stopped one
    tables = combine("results/sweep")                 # .points, .requests
"""
from .combine import Combined, combine
from .plan import FINDINGS_GRIDS, Grid, Plan, Point, findings_plan, grid_plan
from .runner import SweepResult, finished_runs, run_sweep

__all__ = ["Plan", "Point", "Grid", "findings_plan", "grid_plan", "FINDINGS_GRIDS", "run_sweep",
           "SweepResult", "finished_runs", "combine", "Combined"]
