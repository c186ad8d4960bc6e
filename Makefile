# rtlab: the two commands a newcomer needs are `make report` and `make test`.
.PHONY: setup report test test-unit clean purge lock

TRIALS ?= 20

setup:
	bash scripts/bootstrap.sh

report: setup
	.venv/bin/rtlab report --study all --trials $(TRIALS)

test:
	bash scripts/bootstrap.sh --test
	.venv/bin/python -m pytest

test-unit:
	.venv/bin/python -m pytest tests/unit

clean:
	.venv/bin/rtlab clean

# Undo everything rtlab did to this host (the uninstall): needs no venv and no
# finished set-up, so it runs on a fresh clone; idempotent.
purge:
	@if [ "$$(id -u)" != 0 ]; then echo "make purge: run as root" >&2; exit 1; fi
	@if command -v python3 >/dev/null; then python3 -m rtlab.purge; \
	 else echo "make purge: no python3 on this host, so rtlab never ran here: nothing to undo"; fi

# Refresh requirements.lock and requirements-dev.lock from pyproject.toml's ranges.
lock:
	bash scripts/lock.sh
