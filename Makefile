# The two commands of the README. Each does all set-up first (scripts/setup.sh, idempotent).
.PHONY: run test setup bench

setup:
	@scripts/setup.sh

run: setup
	.venv/bin/python scripts/capture_run.py $(ARGS)

test: setup
	.venv/bin/python -m pytest $(PYTEST_ARGS)

bench: setup
	.venv/bin/python benchmarks/run_all.py
