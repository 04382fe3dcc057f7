#!/bin/sh
# Regenerate src/inferwire/serving/v2/inference_pb2.py from inference.proto.  Not part of set-up:
# the generated file is committed.  grpcio-tools pins protobuf, so it runs in a throw-away venv
# (never the project's .venv); pick the grpcio-tools whose protobuf matches the project's runtime.
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q "grpcio-tools==${GRPCIO_TOOLS_VERSION:-1.85.1}"
"$tmp/venv/bin/python" -m grpc_tools.protoc -I src/inferwire/serving/v2 \
    --python_out=src/inferwire/serving/v2 src/inferwire/serving/v2/inference.proto
