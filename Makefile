# rtlab: the two commands a newcomer needs are `make report` and `make test`.
.PHONY: setup report test test-fast test-unit lint clean purge lock fresh-check image

# rtlab/core/options.py: trials, its "report" layer
TRIALS ?= 20
# test-fast runs with an existing venv (make setup once, or PYTHON=/path/to/venv/bin/python).
PYTHON ?= .venv/bin/python

setup:
	bash scripts/bootstrap.sh

report: setup
	.venv/bin/rtlab report --study all --trials $(TRIALS)

test:
	bash scripts/bootstrap.sh --test
	RTLAB_SETUP_DONE=1 .venv/bin/python -m pytest -rs --durations=15

# ruff's and mypy's caches live outside the checkout (one per checkout: mypy keys its
# cache by module name); a cold mypy run takes about a minute here, a warm one 2 s.
LINT_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/rtlab-lint$(subst /,_,$(CURDIR))

# The layers' import contracts (lint-imports), ruff (lint and format check) and mypy,
# all configured in pyproject.toml (docs/DESIGN.md "Layers"); part of test-fast.
lint:
	@test -x $(PYTHON) || { echo "make lint: cannot run $(PYTHON): run make setup once, or give PYTHON=/path/to/venv/bin/python" >&2; exit 2; }
	$(dir $(PYTHON))lint-imports --no-cache
	RUFF_CACHE_DIR=$(LINT_CACHE)/ruff $(PYTHON) -m ruff check rtlab tests benchmarks
	RUFF_CACHE_DIR=$(LINT_CACHE)/ruff $(PYTHON) -m ruff format --check rtlab tests benchmarks
	MYPY_CACHE_DIR=$(LINT_CACHE)/mypy $(PYTHON) -m mypy

# Every test that needs neither root nor a real runtime, and starts no notebook kernel
# (markers root and notebooks, see pyproject.toml), after lint; writes nothing into
# the checkout. Only tests/unit and tests/notebooks hold such tests: the other folders
# are not imported at all, nor is nbval (no notebook runs here). Three workers on two
# cores: the fake runtime's time-out and signal tests wait, and a third worker fills it.
test-fast: lint
	PYTHONDONTWRITEBYTECODE=1 $(PYTHON) -m pytest -q -n 3 -p no:nbval -m "not root and not notebooks and not browser" --durations=5 tests/unit tests/notebooks

test-unit: test-fast

clean:
	.venv/bin/rtlab clean

# Undo everything rtlab did to this host (the uninstall): needs no venv and no
# finished set-up, so it runs on a fresh clone; idempotent.
purge:
	@if [ "$$(id -u)" != 0 ]; then echo "make purge: run as root" >&2; exit 1; fi
	@if command -v python3 >/dev/null; then python3 -m rtlab.uninstall; \
	 else echo "make purge: no python3 on this host, so rtlab never ran here: nothing to undo"; fi

# Before a release: a fresh clone of HEAD, the README's two commands there, each timed.
fresh-check:
	bash scripts/fresh-check.sh

# rtlab as an OCI image, built offline (issue 34): a Debian rootfs by mmdebstrap, the locked
# wheels, rtlab on top, committed by buildah (scripts/image.sh; root; prints the image's
# reference last). make purge removes the images and the build cache.
image:
	PYTHON=$(PYTHON) bash scripts/image.sh

# Refresh requirements.lock and requirements-dev.lock from pyproject.toml's ranges.
lock:
	bash scripts/lock.sh
