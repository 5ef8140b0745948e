"""Hand-off after commit: what a transaction created reaches Redis right after it commits.

A part whose rows must reach Redis (an outbox SMS, an escalation's deadline) declares it with
`hand_off_after_commit`. Redis being down must never break that commit (nor the webhook answer
waiting for it), so a hand-off never raises; a short circuit-breaker stops every commit paying a
connection attempt during an outage, and each part's sweep picks up what was not handed over.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from flask import has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger("zaibao.queue")

@dataclass(frozen=True)
class HandOff:
    name: str
    model: type
    pick: Callable[[object], object | None]   # a new row → what to hand over (None: nothing)
    deliver: Callable[[list], None]           # the picked items → Redis


_HANDOFFS: dict[str, HandOff] = {}
_BREAKER_SECONDS = 2.0
_breaker_until = 0.0


def hand_off_after_commit(name: str, model: type, pick: Callable[[object], object | None],
                          deliver: Callable[[list], None]) -> None:
    """Register a hand-off (once per name; the session listeners are installed with the first)."""
    if not _HANDOFFS:
        event.listen(Session, "after_flush", _collect)
        event.listen(Session, "after_commit", _deliver)
        event.listen(Session, "after_soft_rollback", _forget)
    _HANDOFFS[name] = HandOff(name, model, pick, deliver)


# Collected items wait in session.info under this key as (savepoint, handoff name, item): the
# savepoint they were flushed in (None: the transaction itself). SQLAlchemy reports a savepoint's
# release as a commit, but nothing is visible to a worker until the transaction commits, and a
# savepoint rolled back takes its rows with it (the intake processor files each message in one).
_KEY = "zb_handoff"


def _collect(session: Session, _ctx) -> None:
    savepoint = session.get_nested_transaction()
    for obj in session.new:
        for handoff in _HANDOFFS.values():
            if isinstance(obj, handoff.model) and (item := handoff.pick(obj)) is not None:
                session.info.setdefault(_KEY, []).append((savepoint, handoff.name, item))


def _deliver(session: Session) -> None:
    global _breaker_until
    savepoint = session.get_nested_transaction()
    if savepoint is not None:  # a savepoint released: its items now belong to the enclosing one
        enclosing = savepoint.parent if savepoint.parent is not None and savepoint.parent.nested else None
        session.info[_KEY] = [(enclosing if sp is savepoint else sp, name, item)
                              for sp, name, item in session.info.get(_KEY, [])]
        return
    collected = session.info.pop(_KEY, [])
    for handoff in _HANDOFFS.values():
        items = [item for _sp, name, item in collected if name == handoff.name]
        if not items or not has_app_context() or time.monotonic() < _breaker_until:
            continue
        try:
            handoff.deliver(items)
        except redis.exceptions.RedisError as exc:
            _breaker_until = time.monotonic() + _BREAKER_SECONDS
            log.warning("Redis unavailable (%s); the %s sweep hands over later", exc, handoff.name)
        except Exception:  # noqa: BLE001  (a relay bug must not turn a stored report into an error)
            log.exception("%s hand-off failed; the sweep retries", handoff.name)


def _forget(session: Session, previous) -> None:
    if previous.nested:  # a savepoint rolled back: its rows are gone
        session.info[_KEY] = [entry for entry in session.info.get(_KEY, []) if entry[0] is not previous]
    elif previous.parent is None:
        session.info.pop(_KEY, None)
