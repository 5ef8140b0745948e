#!/usr/bin/env bash
# Make sure a Redis answers at REDIS_URL's host:port: start the local redis-server, installing it
# with apt-get when it is absent and we are root (SPEC §8.1).
set -euo pipefail
url="${REDIS_URL:-redis://127.0.0.1:6379/0}"
hostport="${url#redis://}"; hostport="${hostport%%/*}"; hostport="${hostport##*@}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=6379
ping() { (exec 3<>"/dev/tcp/$host/$port" && printf 'PING\r\n' >&3 && timeout 2 head -c 5 <&3 | grep -q PONG) 2>/dev/null; }
if ping; then exit 0; fi
case "$host" in 127.0.0.1|localhost) ;; *) echo "Redis at $host:$port is not answering" >&2; exit 1;; esac
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing redis-server with apt-get..."
    (apt-get install -y -qq redis-server >/dev/null 2>&1) || (apt-get update -qq && apt-get install -y -qq redis-server >/dev/null)
  else
    echo "Redis is not running and redis-server is not installed: install it (apt-get install redis-server)" >&2
    exit 1
  fi
fi
mkdir -p /tmp/zaibao-redis
redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
  --dir /tmp/zaibao-redis --logfile /tmp/zaibao-redis/redis.log
for _ in $(seq 1 50); do ping && exit 0; sleep 0.1; done
echo "redis-server did not start (see /tmp/zaibao-redis/redis.log)" >&2
exit 1
