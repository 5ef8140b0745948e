"""Waking an idle intake processor when a webhook has stored work for it.

PostgreSQL: the webhook's own transaction sends a notification (`pg_notify`, inside the statement
that plans the report, so it costs no round trip), which PostgreSQL delivers when that transaction
commits and drops if it rolls back; each processor LISTENs on a connection of its own. The webhook
never waits for Redis, up or down. SQLite (`make run`) has no notifications: after the commit the
webhook pushes onto a Redis list the processor waits on, with a short fuse. Either way a processor
also looks every INTAKE_POLL_SECONDS, so a lost wake-up only delays.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from flask import current_app
from sqlalchemy import func, select

from core.extensions import db
from core.queue import key, redis_conn

log = logging.getLogger("zaibao.intake")
CHANNEL = "zaibao_intake"


def notifies() -> bool:
    """Whether wake-ups travel with the transaction (PostgreSQL) rather than through Redis."""
    return db.engine.dialect.name == "postgresql"


def notification():
    """The expression that queues the wake-up in the transaction (PostgreSQL), for a statement
    the webhook runs anyway (`reporter.express`)."""
    return func.pg_notify(CHANNEL, "")


def announce() -> None:
    """Before the commit of stored work: queue the wake-up with it (PostgreSQL; nothing on SQLite)."""
    if notifies():
        db.session.execute(select(notification()))


# ---- SQLite: a Redis list ---------------------------------------------------------------------

def wake_key() -> str:
    return key("intake", "wake")


_RING_PAUSE_SECONDS = 2.0
_RING_TIMEOUT_SECONDS = 0.25  # what a webhook waits for a Redis that does not answer
_ring_paused_until = 0.0


def _ring_client() -> redis.Redis:
    """The webhook's own short-fused client for wake-ups (the shared one waits up to 3 s)."""
    conn = current_app.extensions.get("zaibao_wake_redis")
    if conn is None:
        conn = redis.Redis.from_url(current_app.config["REDIS_URL"], socket_connect_timeout=_RING_TIMEOUT_SECONDS,
                                    socket_timeout=_RING_TIMEOUT_SECONDS)
        current_app.extensions["zaibao_wake_redis"] = conn
    return conn


def ring() -> None:
    """After the commit of stored work, on SQLite: push the wake-up onto the Redis list.

    A Redis that fails costs one webhook a quarter second and pauses the wake-ups for a while,
    so an outage (or a Redis that accepts and never answers) never pushes webhooks past the
    store limit into the spool."""
    global _ring_paused_until
    if notifies() or time.monotonic() < _ring_paused_until:
        return
    try:
        _ring_client().pipeline(transaction=False).lpush(wake_key(), 1).ltrim(wake_key(), 0, 0).execute()
    except redis.exceptions.RedisError:
        _ring_paused_until = time.monotonic() + _RING_PAUSE_SECONDS


# ---- the processor's side ---------------------------------------------------------------------

_RELISTEN_SECONDS = 1.0


class Listener:
    """One processor's wait for work: LISTEN on a PostgreSQL connection of its own (outside the
    pool), or the Redis list. A listening connection that fails (a database restart) is dropped
    and a new one made at the next wait, a second later at most."""

    def __init__(self) -> None:
        self._conn = None  # psycopg connection in autocommit, LISTENing

    def wait(self, seconds: float, stop: threading.Event) -> None:
        """Return when woken, after `seconds`, or when stopped (at most `seconds` late). In an
        app context."""
        seconds = max(seconds, 0.01)
        if not notifies():
            self._wait_on_redis(seconds, stop)
            return
        try:
            # Returns at once if notifications came while the processor was busy (one may have
            # come after its last look): it looks again, then waits here with nothing pending.
            list(self._connection().notifies(timeout=seconds, stop_after=1))
        except Exception as exc:  # noqa: BLE001  (the database down: the caller's batches say so)
            log.info("intake listener unavailable (%s); listening again shortly", exc)
            self.close()
            stop.wait(min(seconds, _RELISTEN_SECONDS))  # not the whole poll: wake-ups are lost meanwhile

    def _connection(self):
        if self._conn is None:
            raw = db.engine.raw_connection()
            conn = raw.driver_connection
            raw.detach()  # its own for as long as the processor lives, never back to the pool
            conn.rollback()
            conn.autocommit = True
            conn.execute(f"LISTEN {CHANNEL}")
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001, S110  (closing a broken connection)
                pass
            self._conn = None

    @staticmethod
    def _wait_on_redis(seconds: float, stop: threading.Event) -> None:
        try:
            redis_conn().blpop([wake_key()], timeout=seconds)
        except redis.exceptions.RedisError:
            stop.wait(seconds)
