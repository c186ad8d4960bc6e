# rtlab: the two commands a newcomer needs are `make report` and `make test`.
.PHONY: setup report test test-unit clean

TRIALS ?= 20

setup:
	bash scripts/bootstrap.sh

report: setup
	.venv/bin/rtlab report --study all --trials $(TRIALS)

test: setup
	.venv/bin/python -m pytest

test-unit:
	.venv/bin/python -m pytest tests/unit

clean:
	.venv/bin/rtlab clean
