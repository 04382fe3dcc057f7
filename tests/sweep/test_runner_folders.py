"""The sweep folder's rules: create, refuse to overwrite, resume only the same plan, which runs
count as done."""
import json

import pytest

from inferwire.errors import InferwireError
from inferwire.sweep.plan import Grid, Point, grid_plan
from inferwire.sweep.runner import CACHE_PROBE_ID, finished_runs, open_sweep


def _run(sweep, name, manifest):
    d = sweep / "runs" / name
    d.mkdir(parents=True)
    if manifest is not None:
        (d / "manifest.json").write_text(json.dumps(manifest))
    return d


def test_new_sweep_writes_plan_and_refuses_a_second_start(tmp_path):
    plan = grid_plan(Grid(batch_sizes=(1, 2)))
    assert open_sweep(tmp_path / "s", plan, resume=False) == plan
    assert (tmp_path / "s" / "plan.json").exists()
    with pytest.raises(InferwireError, match="--resume"):
        open_sweep(tmp_path / "s", plan, resume=False)
    assert open_sweep(tmp_path / "s", None, resume=True) == plan
    assert open_sweep(tmp_path / "s", plan, resume=True) == plan
    with pytest.raises(InferwireError, match="another plan"):
        open_sweep(tmp_path / "s", grid_plan(Grid(batch_sizes=(4,))), resume=True)


def test_resume_of_nothing_is_an_error(tmp_path):
    with pytest.raises(InferwireError, match="nothing to resume"):
        open_sweep(tmp_path / "empty", None, resume=True)


def test_only_ok_runs_count_as_done_and_the_newest_wins(tmp_path):
    a, b = Point(batch_size=1), Point(batch_size=2)
    _run(tmp_path, "20240101-000000-a", {"status": "interrupted", "config": {"name": a.id}})
    _run(tmp_path, "20240101-000001-a", {"status": "ok", "config": {"name": a.id}})
    newest = _run(tmp_path, "20240101-000002-a", {"status": "ok", "config": {"name": a.id}})
    _run(tmp_path, "20240101-000003-b", {"status": "server_died", "config": {"name": b.id}})
    _run(tmp_path, "20240101-000004-b", None)                     # killed before its manifest
    (tmp_path / "runs" / "20240101-000005-b").mkdir()
    (tmp_path / "runs" / "20240101-000005-b" / "manifest.json").write_text('{"status": "o')
    probe = _run(tmp_path, "20240101-000006-cache-probe", {"kind": "cache_probe", "status": "ok"})
    assert finished_runs(tmp_path) == {a.id: newest, CACHE_PROBE_ID: probe}
