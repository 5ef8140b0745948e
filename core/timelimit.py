"""A wall-clock limit on a block of work, for the requests that must answer in time.

A database server that hangs (stopped, swapping, a network that drops packets without a reset)
does not close its sockets: the driver waits forever, and neither a connect timeout nor a
server-side statement timeout can end that wait. A SIGALRM timer can: psycopg returns to
Python on the signal, and the exception raised there ends the call. Signals reach the main
thread only, so the limit applies where a request runs there (gunicorn's sync workers, the test
client) and is a no-op elsewhere (threaded servers), where only the connect timeout applies.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TooSlow(Exception):
    """The block did not finish within its limit; what it was doing is in an unknown state."""


_expired = False


def expired() -> bool:
    """The running block's limit has passed: an error raised now is the interruption's (a driver
    failing on its way out), not a fault to handle and carry on from."""
    return _expired


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TooSlow in this block once `seconds` have passed (0 or less: no limit).

    Code interrupted this way may fail on its way out (a driver's clean-up finding its connection
    mid-query): whatever the block raises after the timer fired is reported as TooSlow.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    global _expired
    _expired = False

    def on_alarm(_signum, _frame):
        global _expired
        _expired = True
        raise TooSlow(f"not done within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except TooSlow:
        raise
    except Exception as exc:
        if _expired:
            raise TooSlow(f"not done within {seconds:g} s ({type(exc).__name__} on the way out)") from exc
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _expired = False
