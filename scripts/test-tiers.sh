#!/usr/bin/env bash
# The service tier of `make test`: the suite on SQLite and on PostgreSQL, side by side.
#
# The two runs share nothing: SQLite uses a temporary file, PostgreSQL TEST_DATABASE_URL (default
# the local server's `test` database), and each has its own Redis database (TEST_REDIS_URL's
# number, and the one below it for PostgreSQL). Most of a run is spent waiting on worker
# processes and sockets, so two runs on two cores take little longer than one.
# Each run's output is kept in instance/test-*.log and printed whole when it ends.
set -uo pipefail
PY="${PY:-.venv/bin/python}"
PG_URL="${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}"
REDIS_BASE="${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"
redis_db="${REDIS_BASE##*/}"; redis_host="${REDIS_BASE%/*}"
mkdir -p instance
args=(-q --ignore=tests/pure ${PYTEST_ARGS:-})

TEST_DATABASE_URL=sqlite TEST_REDIS_URL="$REDIS_BASE" "$PY" -m pytest "${args[@]}" \
  > instance/test-sqlite.log 2>&1 &
sqlite_pid=$!

pg_pid=""
if [ "$PG_URL" != sqlite ] && { [ -n "${TEST_DATABASE_URL:-}" ] || pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }; then
  TEST_DATABASE_URL="$PG_URL" TEST_REDIS_URL="$redis_host/$((redis_db - 1))" "$PY" -m pytest "${args[@]}" \
    > instance/test-postgres.log 2>&1 &
  pg_pid=$!
fi

wait "$sqlite_pid"; sqlite_rc=$?
echo "== SQLite"
cat instance/test-sqlite.log
pg_rc=0
if [ -n "$pg_pid" ]; then
  wait "$pg_pid"; pg_rc=$?
  echo "== PostgreSQL: $PG_URL"
  cat instance/test-postgres.log
else
  echo "== PostgreSQL not available: SQLite run only"
fi
[ "$sqlite_rc" = 0 ] && [ "$pg_rc" = 0 ]
