"""Redis and RQ plumbing, the background-task decorator and the periodic sweeps.

Parts register sweeps with `@periodic(seconds)`; `flask worker` runs an RQ worker on every
queue and calls each sweep on its interval. Nothing is scheduled in RQ: what is due at a time
(an SMS retry, a repeat, a deadline) is due from the database, so the worker runs without RQ's
scheduler process. With several workers, a
short Redis lease per sweep (`sweep_lease`) lets one of them run each sweep per interval, so
N workers do not sweep N times over (the E5 sweep reads every village of the province). Sweeps
must still be idempotent: when Redis is unreachable, or a lease outlives a crashed worker's
sweep, two may run at once.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable

import redis
from flask import Flask, current_app, has_app_context
from rq import Queue, SimpleWorker

from core.extensions import db

log = logging.getLogger("zaibao.queue")
_PERIODIC: list[tuple[str, float | str, Callable[[], object]]] = []
_ALONE: set[str] = set()  # sweeps that run in a thread of their own


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


# ---- one deployment's names on a shared Redis --------------------------------------------------
# Every key, queue, lock and job id of a deployment carries its REDIS_NAMESPACE, so two deployments
# on one Redis (two `make run`s, staging beside production) never run each other's jobs against
# the wrong database. The default is derived from the database URL (`namespace_for`).

def namespace_for(database_url: str) -> str:
    """`zb` + 8 hex digits of the database URL: stable for a deployment, distinct between them."""
    return "zb" + hashlib.sha256(database_url.encode()).hexdigest()[:8]


def namespace() -> str:
    return current_app.config["REDIS_NAMESPACE"]


def key(*parts: str) -> str:
    """A Redis key of this deployment: `<namespace>:<part>:…`."""
    return ":".join((namespace(), *parts))


def job_id(name: str) -> str:
    """An RQ job id of this deployment (RQ allows letters, digits, - and _ only)."""
    return f"{namespace()}-{name}"


def queue_name(name: str) -> str:
    """The RQ queue `name` of this deployment."""
    return f"{namespace()}-{name}"


def queue(name: str = "default") -> Queue:
    return Queue(queue_name(name), connection=redis_conn())


def queue_names() -> list[str]:
    """The service's queues, by their short names (alerts, sms, default, bulk)."""
    return list(current_app.config["RQ_QUEUES"])


def task(fn: Callable) -> Callable:
    """An RQ job function: runs in `flask worker`'s app context, with a fresh session each time.

    Jobs are run by `flask worker` only (SPEC §8.1), whose RQ worker works inside the app; a job
    started anywhere else says so instead of building a second app of its own.
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not has_app_context():
            raise RuntimeError(f"{fn.__module__}.{fn.__name__} runs inside `flask --app wsgi worker`, "
                               "not a bare `rq worker`")
        try:
            return fn(*args, **kwargs)
        finally:
            db.session.remove()
    return wrapper


def periodic(seconds: float | str, name: str | None = None, alone: bool = False):
    """Register a sweep that `flask worker` calls every `seconds`, a number or the name of the
    config key that holds it (so a deployment, or a test, sets the interval without code).
    `alone`: in a thread of its own, for work that is due at a time (deadlines) and must not
    wait behind a long sweep."""
    def register(fn: Callable[[], object]) -> Callable[[], object]:
        sweep = name or f"{fn.__module__}.{fn.__name__}"
        _PERIODIC.append((sweep, seconds, fn))
        if alone:
            _ALONE.add(sweep)
        return fn
    return register


def periodic_tasks() -> list[tuple[str, float | str, Callable[[], object]]]:
    return list(_PERIODIC)


def background_loop(app: Flask, start: Callable[[Flask, threading.Event], object]) -> None:
    """Register a loop that `flask worker` starts beside RQ (a part's own long-running work,
    e.g. the intake processor): `start(app, stop)` starts its threads and returns; they end
    when `stop` is set."""
    app.extensions.setdefault("zaibao_loops", []).append(start)


def _interval(app: Flask, seconds: float | str) -> float:
    return float(app.config[seconds]) if isinstance(seconds, str) else float(seconds)


# A running sweep's lease lasts at most this long, so a worker killed mid-sweep holds up the
# others' sweeps by seconds, not for good.
RUNNING_LEASE_SECONDS = 10.0


def sweep_lease(name: str, seconds: float, holder: str) -> bool:
    """Take the sweep's lease for this run (True), or learn that another worker has it (False).

    Redis unreachable: True (the sweeps that need only the database must go on)."""
    try:
        ms = int(1000 * max(seconds * 2, RUNNING_LEASE_SECONDS))
        return bool(redis_conn().set(key("sweep", name), holder, nx=True, px=ms))
    except redis.exceptions.RedisError:
        return True


def sweep_done(name: str, seconds: float, holder: str) -> None:
    """Keep the lease one interval from now: the next run, by any worker, comes after it."""
    lease = key("sweep", name)
    try:
        conn = redis_conn()
        if conn.get(lease) == holder.encode():
            conn.pexpire(lease, max(int(seconds * 1000), 1))
    except redis.exceptions.RedisError:
        pass


def sweep_lanes() -> list[list[tuple[str, float | str, Callable[[], object]]]]:
    """The sweeps grouped by thread: the shared one, then one per `alone` sweep."""
    shared = [sweep for sweep in _PERIODIC if sweep[0] not in _ALONE]
    return [shared] + [[sweep] for sweep in _PERIODIC if sweep[0] in _ALONE]


def run_sweeps_forever(app: Flask, stop: threading.Event, holder: str,
                       sweeps: list[tuple[str, float | str, Callable[[], object]]]) -> None:
    """A sweep loop of `flask worker`: each of `sweeps` on its own interval; `holder` names this
    worker on the sweep leases."""
    due = {name: 0.0 for name, _s, _f in sweeps}
    while not stop.is_set():
        now = time.monotonic()
        for name, every, fn in sweeps:
            if now < due[name]:
                continue
            seconds = _interval(app, every)
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
        stop.wait(min(0.5, *(_interval(app, every) for _n, every, _f in sweeps)) if sweeps else 0.5)


def start_worker(app: Flask, burst: bool = False, name: str | None = None) -> None:
    """RQ worker on all queues, the sweep threads and the parts' background loops;
    until SIGTERM or SIGINT.

    RQ's own loop also quits by itself (a job it cannot read, Redis gone): then it is started
    again, since a worker that silently stops sends no SMS. A stop signal ends it for good,
    whether a job was running (it finishes first) or not.
    """
    stop = threading.Event()
    holder = f"{name or socket.gethostname()}:{os.getpid()}"

    class Worker(SimpleWorker):
        """SimpleWorker (jobs run in this process: no fork, so the app context and its pools stay
        valid) that remembers a stop signal: idle, RQ raises StopRequested and forgets it, and
        the loop below took the stop for a failure and started RQ again."""

        def request_stop(self, signum, frame):
            stop.set()
            super().request_stop(signum, frame)

    def stop_between_loops(_signum, _frame) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, stop_between_loops) for sig in (signal.SIGTERM, signal.SIGINT)}
    for number, sweeps in enumerate(sweep_lanes()):
        threading.Thread(target=run_sweeps_forever, args=(app, stop, holder, sweeps), daemon=True,
                         name=f"zaibao-sweeps-{number}").start()
    for start_loop in app.extensions.get("zaibao_loops", []):
        start_loop(app, stop)
    try:
        while not stop.is_set():
            try:
                with app.app_context():
                    connection = worker_connection(app)
                    worker = Worker([Queue(queue_name(n), connection=connection) for n in queue_names()],
                                    connection=connection, name=name)
                    worker.work(with_scheduler=False, burst=burst)
                for sig in (signal.SIGTERM, signal.SIGINT):  # RQ left its own handlers installed
                    signal.signal(sig, stop_between_loops)
                if burst or stop.is_set():
                    break
                log.warning("the RQ worker loop stopped by itself (see above); restarting it in 2 s")
                stop.wait(2)
            except redis.exceptions.ConnectionError:
                log.warning("Redis unreachable; the worker retries in 2 s (sweeps keep running)")
                stop.wait(2)
    finally:
        stop.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def worker_connection(app: Flask) -> redis.Redis:
    """The RQ worker's own client: no socket timeout of ours, so RQ sets the one its blocking
    dequeue needs (the app's 3 s timeout made an idle worker quit and restart every few seconds)."""
    return redis.Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=1, health_check_interval=10)
