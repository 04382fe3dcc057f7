"""A Triton model repository holding the decoupled streaming text model (issue 20):
``<root>/<name>/config.pbtxt`` and ``<root>/<name>/1/{model.py, charlm.py}`` (Python backend).

:func:`stream_config_pbtxt` is pure (options in, text out); :func:`write_stream_repository`
writes the files.  What the model does: :mod:`.stream_model`.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from ...errors import InferwireError

HERE = Path(__file__).resolve().parent
#: The streaming model's name in Triton (``/v2/models/charlm/generate_stream``).
STREAM_MODEL = "charlm"


@dataclass(frozen=True)
class StreamModelOptions:
    """The served streaming model: ``token_time_ms`` milliseconds per decode step (every running
    request gets one token per step), ``instances`` model instances (each its own stub process
    and decode loop), ``max_tokens_limit`` the most tokens a request may ask for."""

    name: str = STREAM_MODEL
    token_time_ms: float = 10.0
    instances: int = 1
    max_tokens_limit: int = 4096

    def __post_init__(self):
        if not self.token_time_ms > 0 or self.instances < 1 or self.max_tokens_limit < 1:
            raise InferwireError(f"Triton streaming model options out of range: {self}")

    def to_dict(self) -> dict:
        return asdict(self)


def stream_config_pbtxt(opts: StreamModelOptions) -> str:
    """The streaming model's config.pbtxt (protobuf text format)."""
    return "\n".join([
        f'name: "{opts.name}"', 'backend: "python"', "max_batch_size: 0",
        "model_transaction_policy { decoupled: true }",
        'input [ { name: "text_input" data_type: TYPE_STRING dims: [ 1 ] } ]',
        'output [ { name: "text_output" data_type: TYPE_STRING dims: [ 1 ] } ]',
        f"instance_group [ {{ count: {opts.instances} kind: KIND_CPU }} ]",
        f'parameters: {{ key: "token_time_ms" value: {{ string_value: '
        f'"{opts.token_time_ms:g}" }} }}',
        f'parameters: {{ key: "max_tokens_limit" value: {{ string_value: '
        f'"{opts.max_tokens_limit}" }} }}']) + "\n"


_INSTANCE_LINE = re.compile(r"inferwire charlm instance (\S+): (\d+) streams, (\d+) decode steps")


def instance_streams(log_text: str) -> dict:
    """{instance name: {"streams": S, "decode_steps": K}} from the lines the streaming model's
    instances print to Triton's log at unload (``stream_model.INSTANCE_LINE``); empty when none
    did (e.g. Triton was killed)."""
    return {m.group(1): {"streams": int(m.group(2)), "decode_steps": int(m.group(3))}
            for m in _INSTANCE_LINE.finditer(log_text)}


def write_stream_repository(root: Path, opts: StreamModelOptions) -> Path:
    """Write the repository for ``opts`` under ``root`` (created); returns the model's folder."""
    model_dir = Path(root) / opts.name
    version = model_dir / "1"
    version.mkdir(parents=True, exist_ok=True)
    (model_dir / "config.pbtxt").write_text(stream_config_pbtxt(opts))
    shutil.copyfile(HERE / "stream_model.py", version / "model.py")
    shutil.copyfile(HERE.parent / "charlm.py", version / "charlm.py")
    return model_dir
