#!/usr/bin/env bash
# Make this Debian/Ubuntu host ready for rtlab, idempotently, as root:
#   Python venv at .venv with the locked packages and rtlab, then `rtlab setup`
#   (Debian packages, cgroups, the offline image, daemons).
#   --test also installs what the test suite needs beyond that (the browser test's
#   chromium and chromium-driver; rtlab itself never runs them).
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
# Debian's own python3 makes rtlab setup's user copy (rtlab/host/user_copy.py), which
# other users run: a python under /root (pyenv) is closed to them
/usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt python3 python3-venv
command -v git >/dev/null || need_apt git
if [ "${1:-}" = --test ]; then
  # keep in step with rtlab/host/host.py TEST_PACKAGES
  missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing the test suite's Debian packages: ${missing[*]}"
    need_apt "${missing[@]}"
  fi
fi

# The venv holds exactly the locked versions (requirements.lock: collect and
# analyse; requirements-dev.lock: tests, notebooks, JupyterLab); rtlab itself
# is installed editable on top, without resolving anything again.
stamp=.venv/.rtlab-installed
want=$(cat pyproject.toml requirements.lock requirements-dev.lock | sha256sum | cut -c1-16)
if [ ! -x .venv/bin/rtlab ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  if [ ! -x .venv/bin/python ]; then
    echo "setup: creating the Python venv at .venv"
    "$PYTHON" -m venv .venv
  fi
  echo "setup: installing the locked Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.lock -r requirements-dev.lock
  .venv/bin/python -m pip install -q --no-deps -e .
  .venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
  echo "$want" > "$stamp"
fi

.venv/bin/rtlab setup
