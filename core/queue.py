"""Redis and RQ plumbing, the background-task decorator and the periodic sweeps.

Parts register sweeps with `@periodic(seconds)`; `flask worker` runs an RQ worker with its
scheduler on every queue and calls each sweep on its interval. With several workers, a
short Redis lease per sweep (`sweep_lease`) lets one of them run each sweep per interval, so
N workers do not sweep N times over (the E5 sweep reads every village of the province). Sweeps
must still be idempotent: when Redis is unreachable, or a lease outlives a crashed worker's
sweep, two may run at once.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable

import redis
from flask import Flask, current_app, has_app_context
from rq import Queue

from core.extensions import db

log = logging.getLogger("zaibao.queue")
_PERIODIC: list[tuple[str, float, Callable[[], object]]] = []
_APP: Flask | None = None


def redis_conn() -> redis.Redis:
    """One client (and pool) per app; short timeouts so an outage fails fast instead of hanging."""
    app = current_app._get_current_object()
    conn = app.extensions.get("zaibao_redis")
    if conn is None:
        conn = redis.Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=1,
                                    socket_timeout=3, health_check_interval=10)
        app.extensions["zaibao_redis"] = conn
    return conn


def redis_ok() -> bool:
    try:
        return bool(redis_conn().ping())
    except redis.exceptions.RedisError:
        return False


def queue(name: str = "default") -> Queue:
    return Queue(name, connection=redis_conn())


def queue_names() -> list[str]:
    return list(current_app.config["RQ_QUEUES"])


def task(fn: Callable) -> Callable:
    """Run an RQ job function inside an app context with a fresh session, whoever started it.

    `flask worker` already has an app; a bare `rq worker` does not, so one is created once.
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        global _APP
        if has_app_context():
            try:
                return fn(*args, **kwargs)
            finally:
                db.session.remove()
        if _APP is None:
            from core import create_app

            _APP = create_app()
        with _APP.app_context():
            try:
                return fn(*args, **kwargs)
            finally:
                db.session.remove()
    return wrapper


def periodic(seconds: float, name: str | None = None):
    """Register a sweep that `flask worker` calls every `seconds`."""
    def register(fn: Callable[[], object]) -> Callable[[], object]:
        _PERIODIC.append((name or f"{fn.__module__}.{fn.__name__}", seconds, fn))
        return fn
    return register


def periodic_tasks() -> list[tuple[str, float, Callable[[], object]]]:
    return list(_PERIODIC)


# A running sweep's lease lasts at most this long, so a worker killed mid-sweep holds up the
# others' sweeps by seconds, not for good.
RUNNING_LEASE_SECONDS = 10.0


def sweep_lease(name: str, seconds: float, holder: str) -> bool:
    """Take the sweep's lease for this run (True), or learn that another worker has it (False).

    Redis unreachable: True (the sweeps that need only the database must go on)."""
    try:
        ms = int(1000 * max(seconds * 2, RUNNING_LEASE_SECONDS))
        return bool(redis_conn().set(f"zaibao:sweep:{name}", holder, nx=True, px=ms))
    except redis.exceptions.RedisError:
        return True


def sweep_done(name: str, seconds: float, holder: str) -> None:
    """Keep the lease one interval from now: the next run, by any worker, comes after it."""
    key = f"zaibao:sweep:{name}"
    try:
        conn = redis_conn()
        if conn.get(key) == holder.encode():
            conn.pexpire(key, max(int(seconds * 1000), 1))
    except redis.exceptions.RedisError:
        pass


def run_sweeps_forever(app: Flask, stop: threading.Event, holder: str) -> None:
    """The sweep loop of `flask worker`: each registered sweep on its own interval; `holder`
    names this worker on the sweep leases."""
    due = {name: 0.0 for name, _s, _f in _PERIODIC}
    while not stop.is_set():
        now = time.monotonic()
        for name, seconds, fn in _PERIODIC:
            if now < due[name]:
                continue
            due[name] = now + seconds
            with app.app_context():
                if not sweep_lease(name, seconds, holder):
                    continue  # another worker runs it this interval
                try:
                    fn()
                except Exception:  # a sweep must never kill the worker
                    log.exception("sweep %s failed", name)
                finally:
                    db.session.remove()
                    sweep_done(name, seconds, holder)
        stop.wait(0.5)


def start_worker(app: Flask, burst: bool = False, name: str | None = None) -> None:
    """RQ worker with scheduler on all queues, plus the sweep thread."""
    from rq import SimpleWorker

    stop = threading.Event()
    holder = f"{name or socket.gethostname()}:{os.getpid()}"
    sweeper = threading.Thread(target=run_sweeps_forever, args=(app, stop, holder), daemon=True,
                               name="zaibao-sweeps")
    sweeper.start()
    try:
        while not stop.is_set():
            try:
                with app.app_context():
                    # SimpleWorker runs jobs in this process: no fork, so the app context and
                    # its connection pool stay valid.
                    worker = SimpleWorker([queue(n) for n in queue_names()],
                                          connection=redis_conn(), name=name)
                    worker.work(with_scheduler=True, burst=burst)
                if burst or getattr(worker, "_stop_requested", True):
                    break  # asked to (burst done, SIGTERM/SIGINT)
                # RQ's loop also quits by itself, on a Redis timeout (a slow connect on a loaded
                # machine) or a job it cannot read; a worker that silently stops sends no SMS.
                log.warning("the RQ worker loop stopped by itself (see above); restarting it in 2 s")
                stop.wait(2)
            except redis.exceptions.ConnectionError:
                log.warning("Redis unreachable; the worker retries in 2 s (sweeps keep running)")
                time.sleep(2)
    finally:
        stop.set()
