"""TF Serving's ``--model_config_file``: a ModelServerConfig in protobuf text format, e.g.::

    model_config_list {
      config { name: "mnist" base_path: "/models/mnist" model_platform: "tensorflow" }
      config { name: "mnist_cnn" base_path: "/models/mnist_cnn"
               model_version_policy { all {} } }
    }
"""
from __future__ import annotations

import os

from google.protobuf import text_format

from ..errors import ServerError
from .protos import model_server_config_pb2
from .servables import ModelConfig, discover_versions


def parse_model_config(text: str, path: str = "<text>") -> tuple[ModelConfig, ...]:
    """The models a ModelServerConfig lists (relative base paths resolve against ``path``'s dir)."""
    msg = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, msg)
    except text_format.ParseError as exc:
        raise ServerError(f"{path}: not a ModelServerConfig: {exc}") from None
    if msg.WhichOneof("config") != "model_config_list":
        raise ServerError(f"{path}: needs a model_config_list")
    base_dir = os.path.dirname(os.path.abspath(path)) if path != "<text>" else os.getcwd()
    out = []
    for cfg in msg.model_config_list.config:
        if cfg.model_platform not in ("", "tensorflow"):
            raise ServerError(f"{path}: model {cfg.name}: platform {cfg.model_platform!r} is not supported")
        if not cfg.name or not cfg.base_path:
            raise ServerError(f"{path}: every config needs name and base_path")
        base = cfg.base_path if os.path.isabs(cfg.base_path) else os.path.join(base_dir, cfg.base_path)
        out.append(ModelConfig(cfg.name, base, _policy(cfg, base)))
    if not out:
        raise ServerError(f"{path}: model_config_list is empty")
    return tuple(out)


def _policy(cfg, base: str):
    policy = cfg.model_version_policy
    kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return "all"
    if kind == "specific":
        return tuple(policy.specific.versions)
    if kind == "latest" and policy.latest.num_versions > 1:
        return tuple(discover_versions(base, "all")[-policy.latest.num_versions:])
    return "latest"


def read_model_config(path: str) -> tuple[ModelConfig, ...]:
    try:
        with open(path) as f:
            return parse_model_config(f.read(), path)
    except OSError as exc:
        raise ServerError(f"cannot read model config {path}: {exc}") from exc
