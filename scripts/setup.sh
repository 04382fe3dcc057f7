#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: Debian packages, then a .venv at the repo root with
# inferwire installed editable with every extra and the dev tools (.[all,dev]). Quick when
# everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(gcc libc6-dev python3-dev tshark tcpdump apache2-utils nghttp2-client chromium curl openssl iproute2 openssh-server openssh-client)
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
want=$(cat pyproject.toml setup.py src/inferwire/packets/_walk.c src/inferwire/protocols/_scan.c | sha256sum | cut -c1-16)
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
