"""Where Triton is installed: the ``tritonserver`` binary of the ``nvidia-pytriton`` wheel.

The wheel lives in its own venv, ``.venv-triton`` at the repository root (``scripts/setup.sh``
makes it from Debian's ``/usr/bin/python3``; ``$INFERWIRE_TRITON_VENV`` points elsewhere).  Why a
venv of Debian's Python: the Python backend's stub (``triton_python_backend_stub``) is linked
against ``libpython3.X.so.1.0`` and the dynamic loader finds Debian's (3.11.2, in /lib), while the
embedded interpreter takes its standard library from the ``python3`` first on PATH.  Under pyenv's
3.11.7 that mixes 3.11.2's C ``_thread`` with 3.11.7's ``multiprocessing`` (which calls
``RLock._recursion_count``, new in 3.11.5): ``AttributeError: '_thread.RLock' object has no
attribute '_recursion_count'``.  A venv of /usr/bin/python3 first on the server's PATH keeps
library and stdlib the same release.

The wheel keeps one stub per Python minor version; :func:`backend_directory` lays out a backend
folder with the matching one (as pytriton does), without touching the installed wheel.
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ...errors import ServerError

SETUP_HINT = ("run scripts/setup.sh (it makes .venv-triton from /usr/bin/python3 with "
              "nvidia-pytriton and numpy), or set INFERWIRE_TRITON_VENV to such a venv")


@dataclass(frozen=True)
class TritonInstall:
    """Paths of one Triton install (all absolute)."""

    venv: Path            # the venv whose python3 the Python backend embeds
    root: Path            # .../site-packages/pytriton/tritonserver
    libs: Path            # .../site-packages/nvidia_pytriton.libs (LD_LIBRARY_PATH)
    python_version: str   # "3.11": picks the backend stub
    python_release: str = ""   # "3.11.2": the venv's Python, as pyvenv.cfg says

    @property
    def binary(self) -> Path:
        return self.root / "bin" / "tritonserver"

    @property
    def stub(self) -> Path:
        stubs = self.root / "python_backend_stubs"
        return stubs / self.python_version / "triton_python_backend_stub"

    def environment(self, base: dict | None = None) -> dict:
        """The server's environment: the wheel's libraries found, the venv's python3 first."""
        env = dict(os.environ if base is None else base)
        env["LD_LIBRARY_PATH"] = ":".join(p for p in (str(self.libs), env.get("LD_LIBRARY_PATH"))
                                          if p)
        env["PATH"] = f"{self.venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
        for name in ("PYTHONHOME", "PYTHONPATH", "VIRTUAL_ENV"):
            env.pop(name, None)   # the stub must see only its own venv
        return env


def default_venv() -> Path:
    """``$INFERWIRE_TRITON_VENV`` or ``.venv-triton`` at the repository root."""
    if os.environ.get("INFERWIRE_TRITON_VENV"):
        return Path(os.environ["INFERWIRE_TRITON_VENV"])
    return Path(__file__).resolve().parents[4] / ".venv-triton"


def find_install(venv: str | os.PathLike | None = None) -> TritonInstall:
    """The Triton install in ``venv`` (default :func:`default_venv`); ServerError saying how to
    get one when it is missing."""
    venv = Path(venv) if venv else default_venv()
    cfg = venv / "pyvenv.cfg"
    if not cfg.is_file():
        raise ServerError(f"no Triton venv at {venv} (no pyvenv.cfg): {SETUP_HINT}")
    match = re.search(r"^version(?:_info)?\s*=\s*(\d+)\.(\d+)(\S*)", cfg.read_text(), re.M)
    if match is None:
        raise ServerError(f"{cfg}: no 'version = X.Y.Z' line; recreate the venv: {SETUP_HINT}")
    version = f"{match.group(1)}.{match.group(2)}"
    site = venv / "lib" / f"python{version}" / "site-packages"
    install = TritonInstall(venv.absolute(), site / "pytriton" / "tritonserver",
                            site / "nvidia_pytriton.libs", version, version + match.group(3))
    for path in (install.binary, install.libs):
        if not path.exists():
            raise ServerError(f"{path} is missing: nvidia-pytriton is not installed in {venv}; "
                              f"{SETUP_HINT}")
    if not install.stub.is_file():
        raise ServerError(f"{install.stub} is missing: the wheel has no Python-backend stub for "
                          f"Python {version}; make the venv from a Python 3.8-3.13")
    return install


def backend_directory(install: TritonInstall, folder: Path) -> Path:
    """A ``--backend-directory`` under ``folder``: ``python/`` holding the wheel's backend
    library and utilities (symbolic links) and a copy of the stub for the venv's Python."""
    python = folder / "python"
    python.mkdir(parents=True, exist_ok=True)
    for item in (install.root / "backends" / "python").iterdir():
        if item.is_file() and not (python / item.name).exists():
            (python / item.name).symlink_to(item)
    stub = python / "triton_python_backend_stub"
    if not stub.exists():
        shutil.copy2(install.stub, stub)
    return folder

