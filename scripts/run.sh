#!/usr/bin/env bash
# `make run`: migrate, load the demo on first run, start the worker and the web server.
set -euo pipefail
cd "$(dirname "$0")/.."
export FLASK_APP=wsgi
PORT="${PORT:-5000}"
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://127.0.0.1:$PORT}"
FLASK=".venv/bin/flask"
INSTANCE="${ZAIBAO_INSTANCE:-instance}"  # where config.py keeps the SQLite database
mkdir -p "$INSTANCE"
if ! out=$($FLASK db upgrade 2>&1); then echo "$out" >&2; exit 1; fi
if [ ! -f "$INSTANCE/.demo-loaded" ]; then
  $FLASK demo load | tee "$INSTANCE/demo-logins.txt"
  touch "$INSTANCE/.demo-loaded"
fi
# Web and worker live and die together: whichever way this script ends (Ctrl-C, kill, the web
# server failing to start), the worker is stopped too. (An `exec gunicorn` would drop the trap
# and leave the worker running on its own.)
WORKER=""
WEB=""
cleanup() { kill $WEB $WORKER 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
$FLASK worker > "$INSTANCE/worker.log" 2>&1 &
WORKER=$!
echo
echo "=================================================================="
echo " Zaibao is running:  http://127.0.0.1:$PORT/login"
echo " (board: http://127.0.0.1:$PORT/board, officers: http://127.0.0.1:$PORT/report)"
sed -n '2,$p' "$INSTANCE/demo-logins.txt" | sed 's/^/ /'
echo " send a test SMS:  .venv/bin/flask sms send +8613800000001 '初报 洪涝 转移30' --url $PUBLIC_BASE_URL"
echo " worker log: $INSTANCE/worker.log     stop: Ctrl-C"
echo "=================================================================="
# Sync workers: the webhook is CPU-bound (gthread measured ~2x slower), and its 1 s store limit
# on a hung database needs the request on the main thread (core.timelimit).
.venv/bin/gunicorn --bind "127.0.0.1:$PORT" --workers 3 --access-logfile - wsgi:app &
WEB=$!
wait $WEB
