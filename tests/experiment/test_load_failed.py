"""A load tool that fails makes the run say so (issue 16): status ``load_failed``, exit code 1,
the tool's exit code and last output lines in the problems and summary.md, the capture and its
analysis kept.  And ``--rest-port 0`` (REST off) never hands a load tool a port "None"."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from inferwire.experiment.loadcheck import load_failure
from inferwire.reference.locust import free_port
from needs import need_capture, need_tool
from runprocs import processes_naming, run_dir_of, start_capture_run

pytestmark = [pytest.mark.capture, pytest.mark.slow]

RUN_S = 300


def _capture_run(out, *args):
    """``capture_run.py`` on free ports (never the defaults 8500/8501): (exit code, output)."""
    ports = [] if "--rest-port" in args else ["--rest-port", str(free_port())]
    proc = start_capture_run(out, "--duration", "1", "--users", "1",
                             "--grpc-port", str(free_port()), *ports, *args)
    output, _ = proc.communicate(timeout=RUN_S)
    return proc.returncode, output


def test_locust_with_rest_off_loads_grpc(tmp_path):
    need_capture()
    code, output = _capture_run(tmp_path, "--engine", "locust", "--protocol", "grpc",
                                "--rest-port", "0")
    d = run_dir_of(tmp_path)
    manifest = json.loads((d / "manifest.json").read_text())
    assert code == 0 and manifest["status"] == "ok", output
    assert manifest["server"]["rest_port"] is None
    load = manifest["loads"]["grpc"]
    assert load["exit_code"] == 0 and load["requests"] > 0 and load["ok"] == load["requests"]
    # every locust request is in the capture, joined by id
    assert manifest["analysis"]["requests"] >= load["requests"]
    assert not processes_naming(d)


def test_locustfile_failing_at_import_gives_load_failed_and_keeps_capture(tmp_path):
    need_capture()
    bad = tmp_path / "broken_locustfile.py"
    bad.write_text('raise RuntimeError("this locustfile breaks at import")\n')
    out = tmp_path / "runs"
    code, output = _capture_run(out, "--engine", "locust", "--protocol", "grpc",
                                "--locustfile", str(bad))
    assert code == 1, output
    d = run_dir_of(out)
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["status"] == "load_failed"
    assert manifest["loads"]["grpc"]["exit_code"] == 1
    problem = next(p for p in manifest["problems"] if p.startswith("load failed: grpc locust"))
    assert "exited with code 1" in problem
    assert "RuntimeError: this locustfile breaks at import" in problem     # the tool's output
    summary = (d / "summary.md").read_text()
    assert "status: **load_failed**" in summary and problem in summary
    # nothing measured is lost: the capture holds the warm-up, analyzed and joined
    assert (d / "capture.pcapng").stat().st_size > 0
    assert manifest["analysis"]["requests"] > 0
    assert (d / "joined.csv").exists() and (d / "broken_locustfile_grpc_output.txt").exists()
    assert not processes_naming(d)


def test_rest_port_0_with_rest_load_is_refused_naming_the_option(tmp_path):
    code, output = _capture_run(tmp_path, "--protocol", "both", "--rest-port", "0")
    assert code != 0
    assert "--rest-port 0" in output and "--protocol grpc" in output, output


def test_load_failure_rules(tmp_path):
    (tmp_path / "ab_rest_output.txt").write_text(
        "This is ApacheBench\n\nBenchmarking 127.0.0.1 (be patient)...\n"
        "apr_socket_recv: Connection reset by peer (104)\n")
    ab = {"tool": "ab", "exit_code": 1, "requests": 0,
          "outputs": {"output": "ab_rest_output.txt"}}
    failure = load_failure("rest", ab, tmp_path)
    assert failure.startswith("load failed: rest ab exited with code 1, no request measured")
    assert failure.endswith("be patient)... | apr_socket_recv: Connection reset by peer (104)")
    builtin = {"requests": 0, "ok": 0, "interrupted": False, "stopped_early": False}
    assert load_failure("grpc", builtin, tmp_path) == ("load failed: grpc inferwire measured 0 "
                                                       "requests")
    assert load_failure("grpc", {**builtin, "requests": 5, "ok": 5}, tmp_path) is None
    # locust exits 1 when some requests failed: counted as errors, not a failed tool
    locust = {"tool": "locust", "exit_code": 1, "requests": 9}
    assert load_failure("rest", locust, tmp_path) is None
    assert "exited with code 2 after 9 measured" in load_failure(
        "rest", {**locust, "exit_code": 2}, tmp_path)
    # a load cut by Ctrl-C or a dying server is reported as such, elsewhere
    assert load_failure("rest", {**ab, "interrupted": True}, tmp_path) is None
    assert load_failure("rest", {**ab, "stopped_early": True}, tmp_path) is None
    assert "its output gone.txt cannot be read" in load_failure(
        "rest", {**ab, "outputs": {"output": "gone.txt"}}, tmp_path)


def test_ab_with_nothing_listening_is_a_load_failure_with_its_error(tmp_path):
    """The real ab against a port where nothing listens: the engine keeps its exit code (no
    report to parse is not an error of its own) and the run's check quotes ab's error."""
    from inferwire.engines import EngineContext, get_engine
    from inferwire.experiment import RunConfig
    need_tool("ab", "apache2-utils")
    config = RunConfig(out=str(tmp_path), protocols=("rest",), engine="ab", requests=5,
                       duration_s=None, users=1, warmup_requests=0, progress=False)
    targets = {"host": "127.0.0.1", "rest_port": free_port(), "grpc_port": None,
               "model_name": "mnist"}
    summary = get_engine("ab").run(EngineContext(config, "rest", targets, tmp_path,
                                                 say=lambda text: None))
    assert summary.exit_code not in (0, None) and summary.requests == 0
    failure = load_failure("rest", summary.to_dict(), tmp_path)
    assert failure.startswith(f"load failed: rest ab exited with code {summary.exit_code}")
    assert "Connection refused" in failure, failure


class _Refusing(BaseHTTPRequestHandler):
    """Answers every POST 503 (with keep-alive), as an overloaded or draining server does."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def _h2load_rest(tmp_path, port: int):
    """The real h2load engine (REST, 6 requests, no warm-up) against 127.0.0.1:``port``."""
    from inferwire.engines import EngineContext, get_engine
    from inferwire.experiment import RunConfig
    need_tool("h2load", "nghttp2-client")
    config = RunConfig(out=str(tmp_path), protocols=("rest",), engine="h2load", requests=6,
                       duration_s=None, users=2, warmup_requests=0, progress=False)
    targets = {"host": "127.0.0.1", "rest_port": port, "grpc_port": None, "model_name": "mnist"}
    return get_engine("h2load").run(EngineContext(config, "rest", targets, tmp_path,
                                                  say=lambda text: None))


def test_h2load_with_nothing_listening_is_a_load_failure_like_the_other_engines(tmp_path):
    """h2load exits 0 when it cannot connect: its summary measures 0 requests and the run's
    check makes it ``load_failed`` quoting its report (it was ``failed``, an error raised from
    the engine that lost the tool's figures)."""
    summary = _h2load_rest(tmp_path, free_port())
    assert summary.exit_code == 0 and summary.requests == 0 and summary.ok == 0
    failure = load_failure("rest", summary.to_dict(), tmp_path)
    assert failure.startswith("load failed: rest h2load measured 0 requests; last lines of "
                              "h2load_rest_output.txt:"), failure
    assert "h2load: none of 6 requests succeeded (6 errored, 6 failed)" in summary.notes


def test_h2load_whose_requests_all_get_503_is_a_load_failure(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        summary = _h2load_rest(tmp_path, server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
    assert (summary.requests, summary.ok, summary.errors) == (6, 0, 6)
    assert "h2load: none of 6 requests succeeded (0 errored, 6 failed)" in summary.notes
    failure = load_failure("rest", summary.to_dict(), tmp_path)
    assert failure.startswith("load failed: rest h2load measured 6 requests, none succeeded; "
                              "last lines of h2load_rest_output.txt:"), failure
    # the same rule for every engine: ab's 503s, inferwire's own load
    assert "measured 5 requests, none succeeded" in load_failure(
        "rest", {"tool": "ab", "exit_code": 0, "requests": 5, "ok": 0}, tmp_path)
    assert load_failure("rest", {"requests": 5, "ok": 0}, tmp_path) == (
        "load failed: rest inferwire measured 5 requests, none succeeded")
