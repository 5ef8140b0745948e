# Zaibao — two commands: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test
PYTEST_ARGS ?=

.PHONY: run test test-sqlite test-postgres lint bench-intake bench-dispatch bench-board bench-shelters bench-drill venv

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

run: venv
	@scripts/ensure-redis.sh
	@scripts/run.sh

# The whole suite on SQLite, then on PostgreSQL when TEST_DATABASE_URL is set or a local server answers.
test: venv
	@REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/15} scripts/ensure-redis.sh
	$(VENV)/bin/ruff check .
	TEST_DATABASE_URL=sqlite $(PY) -m pytest -q $(PYTEST_ARGS)
	@if [ -n "$$TEST_DATABASE_URL" ] && [ "$$TEST_DATABASE_URL" != sqlite ]; then \
	  echo "== PostgreSQL: $$TEST_DATABASE_URL"; $(PY) -m pytest -q $(PYTEST_ARGS); \
	elif pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then \
	  echo "== PostgreSQL: $(PG_TEST_URL)"; TEST_DATABASE_URL=$(PG_TEST_URL) $(PY) -m pytest -q $(PYTEST_ARGS); \
	else echo "== PostgreSQL not available: SQLite run only"; fi

test-sqlite: venv
	TEST_DATABASE_URL=sqlite $(PY) -m pytest -q $(PYTEST_ARGS)

test-postgres: venv
	TEST_DATABASE_URL=$${TEST_DATABASE_URL:-$(PG_TEST_URL)} $(PY) -m pytest -q $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .

bench-dispatch: venv
	BENCH_DATABASE_URL=$${BENCH_DATABASE_URL:-postgresql://postgres@127.0.0.1/zb_dispatch} $(PY) bench/dispatch.py
