import json

import pytest

from inferwire.errors import InferwireError
from inferwire.experiment import RunConfig
from inferwire.sweep.plan import (FINDINGS_GRIDS, Grid, Plan, Point, findings_plan, grid_plan,
                                  normalize_encoding)


def test_encoding_normalized_per_protocol_with_defaults():
    assert normalize_encoding(("rest", "grpc"), ("grpc_float_val",)) == ("json_row",
                                                                        "grpc_float_val")
    assert normalize_encoding(("grpc",), ("json_b64", "grpc_string_val")) == ("grpc_string_val",)
    with pytest.raises(InferwireError, match="one per protocol"):
        normalize_encoding(("rest",), ("json_row", "json_b64"))


def test_point_id_names_every_axis():
    p = Point(("rest", "grpc"), 32, ("json_b64",), users=4, connection="new", model="cnn")
    assert p.id == "cnn-b32-rest+grpc-json_b64+grpc_tensor_content-u4-new"
    assert Point(("grpc",), rate=50.0).id == "softmax-b1-grpc-grpc_tensor_content-r50-reuse"


@pytest.mark.parametrize("kw, words", [
    ({"protocols": ("http",)}, "protocols"), ({"batch_size": 0}, "batch size"),
    ({"users": 0}, "users"), ({"rate": -1.0}, "rate"), ({"connection": "pool"}, "connection"),
    ({"model": "resnet"}, "model"), ({"protocols": ("rest", "rest")}, "each once")])
def test_bad_points_are_refused(kw, words):
    with pytest.raises(InferwireError, match=words):
        Point(**kw)


def test_grid_is_a_product_without_duplicates():
    grid = Grid(protocols=(("rest",), ("grpc",)), batch_sizes=(1, 256),
                encodings=(("json_row", "grpc_float_val"), ("json_b64",)))
    points = grid.points()
    # grpc gets grpc_float_val from the first set and its default from the second: 2 distinct;
    # rest gets json_row and json_b64: 2 distinct; times 2 batch sizes
    assert len(points) == 8
    assert len({p.id for p in points}) == 8
    grpc = {p.encoding for p in points if p.protocols == ("grpc",)}
    assert grpc == {("grpc_float_val",), ("grpc_tensor_content",)}


def test_rates_make_open_loop_points():
    points = Grid(rates=(50.0, 100.0), users=(1, 8)).points()
    assert [p.rate for p in points] == [50.0, 100.0]


def test_findings_plan_covers_every_question_and_stays_small():
    plan = findings_plan()
    ids = {p.id for p in plan.points}
    assert 8 <= len(plan.points) <= 13          # ~25 s each on a 2-core machine
    assert plan.cache_probe > 0
    assert {p.batch_size for p in plan.points} == {1, 32, 256}
    assert {p.model for p in plan.points} == {"softmax", "cnn"}
    assert {p.connection for p in plan.points} == {"reuse", "new"}
    assert {p.users for p in plan.points} == {1, 2, 4, 8}
    encodings = {e for p in plan.points for e in p.encoding}
    assert encodings == {"json_row", "json_columnar", "json_b64", "grpc_float_val",
                         "grpc_tensor_content", "grpc_string_val"}
    assert len(ids) == len(plan.points)
    assert {p.inputs for p in plan.points} == {"repeated", "unique"}
    assert set(FINDINGS_GRIDS) == {"transport", "connection", "concurrency", "cache", "encoding"}


def test_plan_survives_json(tmp_path):
    plan = grid_plan(Grid(batch_sizes=(1, 8), rates=(20.0,)), duration_s=None, requests=30,
                     cache_probe=3)
    plan.save(tmp_path / "plan.json")
    assert Plan.load(tmp_path / "plan.json") == plan
    data = json.loads((tmp_path / "plan.json").read_text())
    assert data["version"] == 1 and data["points"][0]["rate"] == 20.0


def test_broken_plan_file_is_a_clear_error(tmp_path):
    (tmp_path / "plan.json").write_text("{not json")
    with pytest.raises(InferwireError, match="plan.json"):
        Plan.load(tmp_path / "plan.json")
    (tmp_path / "plan.json").write_text(json.dumps({"version": 99}))
    with pytest.raises(InferwireError, match="version"):
        Plan.load(tmp_path / "plan.json")


def test_plan_refuses_duplicates_and_emptiness():
    with pytest.raises(InferwireError, match="twice"):
        Plan(points=(Point(), Point()))
    with pytest.raises(InferwireError, match="at least one point"):
        Plan(points=())


def test_run_config_carries_the_point():
    plan = Plan(points=(Point(("grpc",), 8, ("grpc_string_val",), rate=25.0, connection="new",
                              model="cnn"),), duration_s=1.5, warmup_requests=3)
    cfg = plan.run_config(plan.points[0], "/tmp/x")
    assert isinstance(cfg, RunConfig)
    assert (cfg.protocols, cfg.batch_size, cfg.encoding_for("grpc"), cfg.mode, cfg.rate,
            cfg.connection, cfg.model, cfg.duration_s, cfg.warmup_requests, cfg.name) == (
        ("grpc",), 8, "grpc_string_val", "open", 25.0, "new", "cnn", 1.5, 3, plan.points[0].id)


def test_v2_points_their_encodings_ids_and_run_configs(tmp_path):
    from inferwire.sweep.plan import Grid, Point, grid_plan
    point = Point(("rest", "grpc"), api="v2", encoding=("v2_binary",))
    assert point.encoding == ("v2_binary", "v2_raw")          # gRPC's V2 default
    assert point.id == "v2-softmax-b1-rest+grpc-v2_binary+v2_raw-u2-reuse"
    assert Point(("rest",)).id == "softmax-b1-rest-json_row-u2-reuse"      # unchanged ids
    assert Point.from_dict({k: v for k, v in Point(("rest",)).to_dict().items()
                            if k != "api"}).api == "tfserving"            # older plan.json
    with pytest.raises(InferwireError, match="not the tfserving API's"):
        Point(("rest",), encoding=("v2_json",))
    grid = Grid(protocols=(("rest",),), encodings=(("json_b64", "v2_binary"),),
                apis=("tfserving", "v2"))
    points = grid.points()
    assert [(p.api, p.encoding) for p in points] == [("tfserving", ("json_b64",)),
                                                    ("v2", ("v2_binary",))]
    config = grid_plan(grid).run_config(points[1], tmp_path)
    assert (config.api, config.encoding) == ("v2", ("v2_binary",))
    with pytest.raises(InferwireError, match="belong to no API of the grid"):
        Grid(encodings=(("v2_json",),)).points()
