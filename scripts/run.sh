#!/usr/bin/env bash
# `make run`: migrate, load the demo on first run, start the worker and the web server.
set -euo pipefail
cd "$(dirname "$0")/.."
export FLASK_APP=wsgi
PORT="${PORT:-5000}"
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://127.0.0.1:$PORT}"
FLASK=".venv/bin/flask"
mkdir -p instance
$FLASK db upgrade heads >/dev/null
if [ ! -f instance/.demo-loaded ]; then
  $FLASK demo load | tee instance/demo-logins.txt
  touch instance/.demo-loaded
fi
$FLASK worker > instance/worker.log 2>&1 &
WORKER=$!
trap 'kill $WORKER 2>/dev/null || true' EXIT INT TERM
echo
echo "=================================================================="
echo " Zaibao is running:  http://127.0.0.1:$PORT/login"
echo " (board: http://127.0.0.1:$PORT/board, officers: http://127.0.0.1:$PORT/report)"
cat instance/demo-logins.txt | sed -n '2,$p' | sed 's/^/ /'
echo " send a test SMS:  .venv/bin/flask sms send +8613800000001 '初报 洪涝 转移30'"
echo " worker log: instance/worker.log     stop: Ctrl-C"
echo "=================================================================="
exec .venv/bin/gunicorn --bind "127.0.0.1:$PORT" --workers 2 --threads 4 --access-logfile - wsgi:app
