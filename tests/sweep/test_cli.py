import pytest

from inferwire.cli import build_parser
from inferwire.sweep.cli import plan_from_args


def parse(*argv):
    return build_parser().parse_args(["sweep", *argv])


def test_no_grid_option_means_the_findings_sweep():
    plan = plan_from_args(parse("--out", "x", "--duration", "1"))
    assert len(plan.points) >= 8 and plan.duration_s == 1.0 and plan.cache_probe == 40


def test_grid_options_make_a_product():
    plan = plan_from_args(parse("--out", "x", "--batch-size", "1,32", "--protocol", "rest,grpc",
                                "--encoding", "json_row+grpc_float_val,json_b64",
                                "--requests", "50"))
    assert plan.duration_s is None and plan.requests == 50 and plan.cache_probe == 0
    assert len(plan.points) == 2 * (2 + 2)
    assert {p.protocols for p in plan.points} == {("rest",), ("grpc",)}


def test_both_means_one_run_with_both_protocols():
    plan = plan_from_args(parse("--out", "x", "--protocol", "both", "--users", "1,4"))
    assert [p.protocols for p in plan.points] == [("rest", "grpc")] * 2


def test_resume_without_options_reads_the_saved_plan():
    assert plan_from_args(parse("--out", "x", "--resume")) is None


def test_bad_list_value_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        parse("--out", "x", "--batch-size", "one")
    assert "one" in capsys.readouterr().err


def test_findings_command_is_registered():
    args = build_parser().parse_args(["findings", "somewhere"])
    assert args.sweep_dir == ["somewhere"] and args.doc is None and not args.servers
    args = build_parser().parse_args(["findings", "--servers", "a", "b", "c"])
    assert args.sweep_dir == ["a", "b", "c"] and args.servers


def test_response_cache_and_inputs_axes_need_triton():
    from inferwire.errors import InferwireError
    plan = plan_from_args(parse("--out", "x", "--server", "triton", "--api", "v2",
                                "--inputs", "repeated,unique", "--response-cache", "0,16M"))
    assert {(p.inputs, p.response_cache) for p in plan.points} == {
        (i, c) for i in ("repeated", "unique") for c in (0, 16 << 20)}
    assert plan.cache_bytes == 16 << 20 and plan.probe_api == "v2"
    cached = next(p for p in plan.points if p.response_cache)
    config = plan.run_config(cached, "out")
    assert config.extra == {"triton_response_cache": True, "triton_cache_bytes": 16 << 20}
    assert cached.id.endswith("-cache16777216")
    with pytest.raises(InferwireError, match="Triton"):
        plan_from_args(parse("--out", "x", "--response-cache", "1M"))


def test_server_findings_grid_per_server():
    triton = plan_from_args(parse("--out", "x", "--server-findings", "--server", "triton"))
    kserve = plan_from_args(parse("--out", "x", "--server-findings", "--server", "kserve"))
    assert triton.server == "triton" and kserve.server == "kserve"
    assert {p.api for p in triton.points} == {"v2"} and triton.cache_bytes == 16 << 20
    assert any(p.response_cache for p in triton.points)
    assert not any(p.response_cache for p in kserve.points) and kserve.cache_bytes == 0
    assert {p.inputs for p in kserve.points} == {"repeated", "unique"}


def test_run_response_cache_option():
    from inferwire.errors import InferwireError
    from inferwire.experiment.cli import byte_size, config_from_args
    assert [byte_size(t) for t in ("1048576", "64K", "16M", "1G", "2MiB")] == [
        1 << 20, 64 << 10, 16 << 20, 1 << 30, 2 << 20]
    args = build_parser().parse_args(["run", "--server", "triton", "--api", "v2",
                                      "--response-cache", "16M", "--inputs", "unique"])
    config = config_from_args(args)
    assert config.extra["triton_cache_bytes"] == 16 << 20 and config.inputs == "unique"
    with pytest.raises(InferwireError, match="--server triton"):
        config_from_args(build_parser().parse_args(["run", "--response-cache", "16M"]))
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--response-cache", "lots"])


def test_a_triton_sweep_speaks_v2_unless_told():
    from inferwire.errors import InferwireError
    plan = plan_from_args(parse("--out", "x", "--server", "triton", "--batch-size", "1,32"))
    assert {p.api for p in plan.points} == {"v2"}
    with pytest.raises(InferwireError, match="--server-findings"):
        plan_from_args(parse("--out", "x", "--server", "triton"))
