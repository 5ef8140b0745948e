# Zaibao — two commands: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test
PYTEST_ARGS ?=

.PHONY: run test test-pure test-sqlite test-postgres lint bench-intake bench-dispatch bench-board bench-shelters bench-drill venv

venv: $(VENV)/.installed

# Debian's python3 lacks the venv module until python3-venv is installed (apt-get when root).
$(VENV)/.installed: requirements.txt
	@test -x $(VENV)/bin/pip || $(PYTHON) -m venv $(VENV) >/dev/null 2>&1 || { rm -rf $(VENV); \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing python3-venv with apt-get..."; \
	    apt-get install -y -qq python3-venv >/dev/null 2>&1 || \
	      { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null; }; \
	  else echo "'$(PYTHON) -m venv' failed: install python3-venv (apt-get install python3-venv)" >&2; exit 1; fi; \
	  $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

run: venv
	@scripts/ensure-redis.sh
	@scripts/run.sh

# Lint and the layer contracts, the pure tier once (no app, no database), then the service tier
# on SQLite and on PostgreSQL (when TEST_DATABASE_URL is set or a local server answers) side by side.
test: venv
	@REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/15} scripts/ensure-redis.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q tests/pure $(PYTEST_ARGS)
	@PY=$(PY) PYTEST_ARGS="$(PYTEST_ARGS)" scripts/test-tiers.sh

test-pure: venv
	$(PY) -m pytest -q tests/pure $(PYTEST_ARGS)

test-sqlite: venv
	TEST_DATABASE_URL=sqlite $(PY) -m pytest -q $(PYTEST_ARGS)

test-postgres: venv
	TEST_DATABASE_URL=$${TEST_DATABASE_URL:-$(PG_TEST_URL)} $(PY) -m pytest -q $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

.PHONY: translations
# Extract every _()/_l() string, merge into the English catalogue, compile the .mo (both committed).
translations: venv
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l --ignore-dirs='.* _* instance node_modules' \
	  --sort-by-file -o translations/messages.pot .
	$(VENV)/bin/pybabel update --init-missing -N -i translations/messages.pot -d translations -l en
	$(VENV)/bin/pybabel compile -d translations

# Board benchmark: a county with 5,000 open incidents and 50,000 reports on PostgreSQL (bench/README.md).
bench-board: venv
	BENCH_DATABASE_URL=$${BOARD_BENCH_DATABASE_URL:-postgresql://postgres@127.0.0.1/zb_board} $(PY) bench/board.py

# A simulated drill through the real webhook (bench/README.md); its own database, never wiped.
bench-drill: venv
	BENCH_DATABASE_URL=$${DRILL_BENCH_DATABASE_URL:-postgresql://postgres@127.0.0.1/zb_drills_bench} $(PY) bench/drill.py

# SPEC §9: inbound webhook throughput with wrk: bare app, one-INSERT app and the service in one run,
# gunicorn on PostgreSQL (the database is WIPED; see bench/README.md).
BENCH_INTAKE_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/zb_reporter
bench-intake: venv
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get install -y -qq wrk >/dev/null 2>&1 || \
	  (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)); } || { echo "install wrk (apt-get install wrk)" >&2; exit 1; }
	BENCH_DATABASE_URL=$(BENCH_INTAKE_DATABASE_URL) $(PY) bench/intake.py

# The whole Hebei division list into a fresh SQLite file and into PostgreSQL (wiped!): bench/README.md.
ZAIBAO_DATA ?= ../shared/data
BENCH_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/zaibao_bench
.PHONY: bench-import
bench-import: venv
	ZAIBAO_DATA=$(ZAIBAO_DATA) BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) LOG_LEVEL=WARNING $(PY) bench/import_divisions.py

bench-dispatch: venv
	BENCH_DATABASE_URL=$${BENCH_DATABASE_URL:-postgresql://postgres@127.0.0.1/zb_dispatch} $(PY) bench/dispatch.py

# Nearest-shelter search among 20,000 shelters (SPEC §9: < 5 ms): bench/README.md. BENCH_SHELTERS_DATABASE_URL:
# a PostgreSQL database you own (its public schema is dropped); default a temporary SQLite file.
bench-shelters: venv
	BENCH_SHELTERS_DATABASE_URL=$(BENCH_SHELTERS_DATABASE_URL) LOG_LEVEL=WARNING $(PY) bench/shelters.py
