"""A token bucket in Redis shared by every worker: outbound SMS stay within SMS_RATE_PER_SECOND.

The bucket is a reservation: each caller takes its tokens even when none are left (the count goes
negative) and is told how long to wait before each slot. Callers are therefore served in the
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
tokens = tokens - tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], 3600)
return tostring(tokens)
"""


def reserve(count: int = 1) -> list[float]:
    """Take `count` sending slots in one round trip (a send job's batch); returns, for each, the
    seconds to wait from now before using it."""
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
    left = float(script(keys=[key("sms", "bucket")], args=[rate, burst, count]))
    # Slot i is the (i+1)-th token taken: due once the bucket, refilling at `rate`, holds it.
    return [max(0.0, (n + 1 - count - left) / rate) for n in range(count)]


def wait_until(due: float) -> None:
    """Sleep (this worker only) until a reserved slot's moment, `time.monotonic()` based."""
    delay = due - time.monotonic()
    if delay > 0:
        time.sleep(delay)
