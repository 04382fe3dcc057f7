"""Capture runs: server + proven-live capture + load + analysis, into a results folder per run."""
from .config import RunConfig
from .run import RunResult, run_experiment

__all__ = ["RunConfig", "RunResult", "run_experiment"]
