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
