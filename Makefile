# Each target is exactly what CI or an operator runs.
.PHONY: test unit lint types ci bench up schema constraints

test:           ## the README's test command (brings PostgreSQL/Redis up if needed)
	./scripts/test

unit:           ## the tests that need neither PostgreSQL nor Redis
	./scripts/test -m unit

lint:
	.venv/bin/ruff check .

types:
	.venv/bin/mypy worker

ci:             ## what CI runs, on a clean clone: system packages, fresh venv, ruff, mypy, tests
	bash .ci/run

schema:         ## rewrite worker/store/schema.sql from the migrations (after adding one)
	.venv/bin/python scripts/schema.py

constraints:    ## rewrite constraints.txt from pyproject.toml's dependencies (after changing them)
	./scripts/constraints

bench:          ## the benchmark; writes bench/RESULTS.md
	.venv/bin/python -m bench

up:             ## the whole system
	docker compose up
