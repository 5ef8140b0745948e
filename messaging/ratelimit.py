"""A token bucket in Redis shared by every worker: outbound SMS stay within SMS_RATE_PER_SECOND.

The bucket is a reservation: each caller takes a token even when none is left (the count goes
negative) and is told how long to wait before its slot. Callers are therefore served in the
order they asked, workers never busy-poll, and the long-run rate is exactly the configured one
whatever the number of workers. Redis's own clock (TIME) is used, so workers on machines with
skewed clocks still share one timeline.
"""

from __future__ import annotations

import time

from flask import current_app

from core.queue import key, redis_conn

_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + (now - ts) * rate)
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], 3600)
if tokens >= 0 then
  return '0'
end
return tostring(-tokens / rate)
"""


def reserve() -> float:
    """Take one sending slot; returns the seconds to wait before using it."""
    conn = redis_conn()
    script = current_app.extensions.get("zaibao_sms_bucket")
    if script is None:
        script = conn.register_script(_SCRIPT)
        current_app.extensions["zaibao_sms_bucket"] = script
    rate = float(current_app.config["SMS_RATE_PER_SECOND"])
    # Capacity: SMS_RATE_BURST, or by default a tenth of a second's worth (at least one), so a
    # moment when every worker is between jobs does not waste the slot it would have used.
    burst = float(current_app.config["SMS_RATE_BURST"]) or rate / 10
    burst = max(1.0, burst)
    return float(script(keys=[key("sms", "bucket")], args=[rate, burst]))


def acquire() -> float:
    """Wait for a slot (sleeping in this worker only); returns the time waited."""
    wait = reserve()
    if wait > 0:
        time.sleep(wait)
    return wait
