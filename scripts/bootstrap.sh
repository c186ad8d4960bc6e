#!/usr/bin/env bash
# Make this Debian/Ubuntu host ready for rtlab, idempotently, as root:
#   Python venv at .venv with rtlab installed, then `rtlab setup` (Debian
#   packages, cgroups, the offline image, daemons).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "make setup: run as root (it installs Debian packages and starts daemons)" >&2
  exit 1
fi

apt_ready=
need_apt() {
  if [ -z "$apt_ready" ]; then apt-get update -qq; apt_ready=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null || need_apt python3
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || need_apt python3-venv
command -v git >/dev/null || need_apt git

stamp=.venv/.rtlab-installed
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -x .venv/bin/rtlab ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e .
  .venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
  echo "$want" > "$stamp"
fi

.venv/bin/rtlab setup
