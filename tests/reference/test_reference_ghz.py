"""ghz: detection, argv, the protoset it needs, and its JSON report.

ghz is not installable here, so its parser is tested on a report written from ghz's documented
JSON format (www/docs/output.md and runner/reporter.go of bojand/ghz: times in ns, details with
RFC 3339 end timestamps)."""
import json
import os
import stat

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool

from inferwire.errors import LoadError
from inferwire.reference import ghz

REPORT = {
    "date": "2026-11-25T16:52:55Z", "endReason": "normal",
    "options": {"call": ghz.GHZ_CALL, "host": "127.0.0.1:8500", "total": 3, "concurrency": 1},
    "count": 3, "total": 4_500_000, "average": 1_400_000, "fastest": 1_000_000,
    "slowest": 2_000_000, "rps": 666.67,
    "errorDistribution": {"rpc error: code = Internal desc = boom": 1},
    "statusCodeDistribution": {"OK": 2, "Internal": 1},
    "latencyDistribution": [{"percentage": 50, "latency": 1_200_000},
                            {"percentage": 99, "latency": 2_000_000}],
    "histogram": [{"mark": 0.001, "count": 1, "frequency": 0.5}],
    "details": [
        {"timestamp": "2026-11-25T16:52:55.001000123Z", "latency": 1_000_000, "error": "",
         "status": "OK"},
        {"timestamp": "2026-11-25T12:52:55.003-04:00", "latency": 2_000_000, "error": "",
         "status": "OK"},
        {"timestamp": "2026-11-25T16:52:55.0045Z", "latency": 1_200_000,
         "error": "rpc error: code = Internal desc = boom", "status": "Internal"}]}


def test_report_parses_with_ns_times():
    r = ghz.parse_ghz_json(json.dumps(REPORT))
    assert (r.count, r.total_ns, r.fastest_ns, r.rps) == (3, 4_500_000, 1_000_000, 666.67)
    assert r.latency_ns == {50: 1_200_000, 99: 2_000_000}
    assert r.status_codes == {"OK": 2, "Internal": 1} and r.end_reason == "normal"
    d = r.details
    base = ghz.rfc3339_ns("2026-11-25T16:52:55Z")
    assert d["finished_ns"].tolist() == [base + 1_000_123, base + 3_000_000, base + 4_500_000]
    assert (d["started_ns"] == d["finished_ns"] - d["latency_ns"]).all()
    assert d["ok"].tolist() == [True, True, False]


@pytest.mark.parametrize("text, match", [
    ("nope", "not JSON"), ("[]", "JSON object"), ('{"total": 1}', "field count missing"),
    ('{"count": 1, "total": "x"}', "not a number"),
    ('{"count": 1, "total": 1, "latencyDistribution": [{"percentage": 50}]}',
     r"latencyDistribution\[0\]"),
    ('{"count": 1, "total": 1, "details": [{"timestamp": "yesterday", "latency": 1}]}',
     r"details\[0\]")])
def test_bad_reports_name_the_field(text, match):
    with pytest.raises(LoadError, match=match):
        ghz.parse_ghz_json(text, source="r.json")


def test_protoset_describes_predict():
    fds = descriptor_pb2.FileDescriptorSet.FromString(ghz.predict_protoset())
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:          # dependencies come first, or Add would fail
        pool.Add(f)
    method = pool.FindMethodByName(ghz.GHZ_CALL)
    assert method.input_type.full_name == "tensorflow.serving.PredictRequest"


def test_command_puts_a_numbered_id_on_every_call():
    argv = ghz.ghz_command("127.0.0.1:8500", protoset_path="p", data_path="d.bin", requests=9,
                           concurrency=3, id_prefix="ghz-7-")
    assert json.loads(argv[argv.index("--metadata") + 1]) == {
        "x-request-id": "ghz-7-{{.RequestNumber}}"}
    joined = " ".join(argv)
    for part in ("--insecure", "--protoset p", "--binary-file d.bin", "-n 9", "-c 3",
                 "-O json", f"--call {ghz.GHZ_CALL}"):
        assert part in joined
    with pytest.raises(LoadError):
        ghz.ghz_command("h:1", protoset_path="p", data_path="d")


def test_detection_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert ghz.ghz_path() is None
    with pytest.raises(LoadError, match="not in this machine's package registries"):
        ghz.require_ghz()
    exe = tmp_path / "ghz"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    assert ghz.require_ghz() == os.fspath(exe)
