"""Why Triton's Python backend needs its own venv of /usr/bin/python3, shown on the real stub.

The stub links Debian's libpython3.11.so (3.11.2) and takes its standard library from the
``python3`` first on PATH.  With a venv of another 3.11 release first (pyenv's 3.11.7 here), the
3.11.7 stdlib meets 3.11.2's C ``_thread`` and the model fails to load with
``'_thread.RLock' object has no attribute '_recursion_count'``; inferwire puts .venv-triton first.
"""
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from inferwire.errors import ServerError

# A model that uses multiprocessing's shared memory (as pytriton's own models do): it starts
# multiprocessing's resource tracker, whose 3.11.7 code calls RLock._recursion_count().
MODEL = ("from multiprocessing import shared_memory\n"
         "class TritonPythonModel:\n    def initialize(self, args):\n"
         "        shm = shared_memory.SharedMemory(create=True, size=64)\n"
         "        shm.close()\n        shm.unlink()\n"
         "    def execute(self, requests):\n        return []\n")


def _repo(root):
    d = root / "mnist"
    (d / "1").mkdir(parents=True)
    (d / "config.pbtxt").write_text(
        'name: "mnist"\nbackend: "python"\nmax_batch_size: 8\n'
        'input [ { name: "images" data_type: TYPE_FP32 dims: [ 784 ] } ]\n'
        'output [ { name: "scores" data_type: TYPE_FP32 dims: [ 10 ] } ]\n')
    (d / "1" / "model.py").write_text(MODEL)
    return root


def _release(python) -> str:
    return subprocess.run([str(python), "-c", "import sys; print(sys.version.split()[0])"],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_environment_puts_the_triton_venv_first(triton_install):
    env = triton_install.environment({"PATH": "/root/.pyenv/shims:/usr/bin", "PYTHONHOME": "/x",
                                      "LD_LIBRARY_PATH": "/opt/lib"})
    assert env["PATH"].split(":")[0] == str(triton_install.venv / "bin")
    assert "PYTHONHOME" not in env
    assert env["LD_LIBRARY_PATH"].split(":") == [str(triton_install.libs), "/opt/lib"]
    assert _release(triton_install.venv / "bin" / "python3") == _release("/usr/bin/python3")


def test_the_stub_loads_with_its_venv_and_fails_with_another_release(tmp_path, triton_install,
                                                                     start_triton):
    server = start_triton(_repo(tmp_path / "good"))
    assert server.alive()
    server.stop()
    other = sys.executable   # this venv's Python: pyenv's here
    if _release(other) == _release("/usr/bin/python3"):
        return   # this machine has one Python 3.11 release: no mismatch to show
    mixed = replace(triton_install, venv=Path(sys.prefix))   # this venv (it has numpy)
    from inferwire.serving.ports import free_ports
    from inferwire.serving.triton.install import backend_directory
    from inferwire.serving.triton.process import TritonOptions, TritonProcess
    ports = free_ports(3)
    proc = TritonProcess(mixed, _repo(tmp_path / "bad"), backend_directory(mixed, tmp_path / "b"),
                         TritonOptions(*ports, ready_timeout_s=60), tmp_path / "mixed.log")
    made = set(Path("/dev/shm").glob("psm_*"))
    try:
        with pytest.raises(ServerError, match="_recursion_count"):
            proc.start()
        assert not proc.alive()
    finally:        # the model's own segment: made before its resource tracker failed
        for left in set(Path("/dev/shm").glob("psm_*")) - made:
            left.unlink(missing_ok=True)
