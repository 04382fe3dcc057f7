#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: Debian packages, then a .venv at the repo root with
# inferwire installed editable with every extra and the dev tools (.[all,dev]). Quick when
# everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(gcc libc6-dev python3-dev python3-venv libpython3-dev tshark tcpdump apache2-utils nghttp2-client chromium curl openssl iproute2 iptables procps openssh-server openssh-client)
missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # wireshark-common asks whether non-root users may capture; answer it ahead (no setuid dumpcap).
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
stamp=.venv/.inferwire-installed
# every C extension's source (setup.py builds them): a changed or new one reinstalls
want=$(cat pyproject.toml setup.py $(find src/inferwire -name '*.c' -o -name '*.h' | LC_ALL=C sort) | sha256sum | cut -c1-16)
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing inferwire and its dependencies into .venv (TensorFlow: about a minute)"
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q -e '.[all,dev]' 2>&1 | grep -vE "^WARNING: Location|^\s*$" || true
  .venv/bin/python -c "import inferwire" 
  echo "$want" > "$stamp"
fi
# inferwire's own modules compiled to bytecode (only those changed since: about 0.1 s when
# none): the editable install leaves them as source, and where PYTHONDONTWRITEBYTECODE is set
# (containers often set it; this machine does) every command would compile them again at
# start-up, 0.16 s of the command's imports
.venv/bin/python -m compileall -q src/inferwire >/dev/null

# Triton Inference Server (the nvidia-pytriton wheel's tritonserver 2.51) in its own venv made from
# Debian's /usr/bin/python3: its Python-backend stub links Debian's libpython3.X.so, so the stdlib it
# embeds must be the same release (a pyenv python3 first on PATH breaks it: see
# src/inferwire/serving/triton/install.py).  Its own venv also keeps the wheel's protobuf/grpcio
# pins away from TensorFlow's in .venv.
TRITON_PKGS=("nvidia-pytriton>=0.5" "numpy<2")
tstamp=.venv-triton/.inferwire-installed
twant=$(printf '%s\n' "${TRITON_PKGS[@]}" | sha256sum | cut -c1-16)
if [ ! -x .venv-triton/bin/python ]; then
  echo "setup: creating .venv-triton from /usr/bin/python3 (Triton's Python backend)"
  /usr/bin/python3 -m venv .venv-triton
fi
if [ "$(cat "$tstamp" 2>/dev/null)" != "$twant" ]; then
  echo "setup: installing nvidia-pytriton (Triton Inference Server) and numpy into .venv-triton"
  .venv-triton/bin/python -m pip install -q "${TRITON_PKGS[@]}" 2>&1 | grep -vE "^WARNING: Location|^\s*$" || true
  .venv-triton/bin/python -c "import pytriton, numpy"
  echo "$twant" > "$tstamp"
fi

# KServe (`--server kserve`) in its own venv: it pins a protobuf older than TensorFlow's.
kstamp=.venv-kserve/.inferwire-installed
kwant=$(sha256sum requirements-kserve.txt | cut -c1-16)
if [ "$(cat "$kstamp" 2>/dev/null)" != "$kwant" ]; then
  echo "setup: installing KServe into .venv-kserve (about a minute)"
  [ -x .venv-kserve/bin/python ] || "$PY" -m venv .venv-kserve
  .venv-kserve/bin/python -m pip install -q -r requirements-kserve.txt 2>&1 | grep -vE "^WARNING: Location|^\s*$" || true
  .venv-kserve/bin/python -c "import kserve"
  echo "$kwant" > "$kstamp"
fi

# NVIDIA AIPerf (`--engine aiperf`, streamed completions) in its own venv: it pins pandas,
# psutil, pillow ... at versions other than .venv's.
astamp=.venv-aiperf/.inferwire-installed
awant=$(sha256sum requirements-aiperf.txt | cut -c1-16)
if [ "$(cat "$astamp" 2>/dev/null)" != "$awant" ]; then
  echo "setup: installing aiperf into .venv-aiperf (a few minutes)"
  [ -x .venv-aiperf/bin/python ] || "$PY" -m venv .venv-aiperf
  .venv-aiperf/bin/python -m pip install -q -r requirements-aiperf.txt 2>&1 | grep -vE "^WARNING: Location|^\s*$" || true
  .venv-aiperf/bin/aiperf --version >/dev/null
  echo "$awant" > "$astamp"
fi
