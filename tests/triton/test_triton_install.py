"""Finding Triton: clear errors when the venv, the wheel or the stub is missing; pure parts."""
import pytest

from inferwire.errors import ServerError
from inferwire.serving.triton.install import find_install
from inferwire.serving.triton.process import TritonOptions, server_argv
from inferwire.serving.triton.repository import TritonModelOptions, config_pbtxt


def test_no_venv_says_how_to_make_one(tmp_path):
    with pytest.raises(ServerError, match=r"no Triton venv .* scripts/setup.sh"):
        find_install(tmp_path / "nothing")


def test_a_venv_without_the_wheel_is_named(tmp_path):
    (tmp_path / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.11.2\n")
    with pytest.raises(ServerError, match=r"tritonserver is missing: nvidia-pytriton is not "
                                          r"installed"):
        find_install(tmp_path)


def test_a_venv_without_a_version_line_is_named(tmp_path):
    (tmp_path / "pyvenv.cfg").write_text("home = /usr/bin\n")
    with pytest.raises(ServerError, match="no 'version = X.Y.Z' line"):
        find_install(tmp_path)


def test_config_pbtxt_says_what_was_asked():
    text = config_pbtxt(TritonModelOptions(kind="cnn", instances=3, max_batch_size=64,
                                           dynamic_batching=True, max_queue_delay_us=500,
                                           response_cache=True))
    assert 'backend: "python"' in text and "max_batch_size: 64" in text
    assert "count: 3 kind: KIND_CPU" in text and 'string_value: "cnn"' in text
    assert "dynamic_batching { max_queue_delay_microseconds: 500 }" in text
    assert "response_cache { enable: true }" in text
    plain = config_pbtxt(TritonModelOptions())
    assert "dynamic_batching" not in plain and "response_cache" not in plain


def test_bad_model_options_are_refused():
    with pytest.raises(Exception, match="softmax or cnn"):
        TritonModelOptions(kind="resnet")
    with pytest.raises(Exception, match="out of range"):
        TritonModelOptions(instances=0)


def test_argv_binds_loopback_and_traces_every_request(triton_install, tmp_path):
    argv = server_argv(triton_install, tmp_path / "repo", tmp_path / "backends",
                       TritonOptions(1, 2, 3, trace_file="/x/trace.json"))
    pairs = dict(zip(argv[1::2], argv[2::2]))
    assert pairs["--http-address"] == pairs["--grpc-address"] == "127.0.0.1"
    assert pairs["--metrics-address"] == "127.0.0.1"
    traces = [argv[i + 1] for i, a in enumerate(argv) if a == "--trace-config"]
    assert {"level=TIMESTAMPS", "rate=1", "count=-1", "triton,file=/x/trace.json",
            "triton,log-frequency=1"} <= set(traces)


def test_triton_runs_speak_v2():
    import argparse

    from inferwire.errors import InferwireError
    from inferwire.experiment import RunConfig
    from inferwire.experiment.cli import add_run_arguments, config_from_args
    with pytest.raises(InferwireError, match="Open Inference Protocol"):
        RunConfig(server="triton", api="tfserving")
    p = argparse.ArgumentParser()
    add_run_arguments(p)
    assert config_from_args(p.parse_args(["--server", "triton"])).api == "v2"
    assert config_from_args(p.parse_args([])).api == "tfserving"
