"""One pass over what is due, in batches: the loop shared by the deadline and repeat passes.

A batch is one transaction for up to `limit` rows (set-based, `dispatch.overdue`,
`dispatch.repeats`). A batch that fails is retried one row at a time, so one bad row does not
hold up the others; at most `rounds` batches a call, so the other sweeps get their turn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from core.extensions import db
from core.models import utcnow

log = logging.getLogger("zaibao.dispatch")

BATCH = 500  # rows a transaction


def in_batches(what: str, due: Callable[[int, datetime], list[int]], batch: Callable[[list[int], datetime], int],
               one: Callable[[int], int], *, limit: int = BATCH, rounds: int = 20) -> int:
    """Run `batch(ids, now)` over `due(limit, now)` until nothing is due; the number done."""
    done, previous = 0, None
    for _ in range(rounds):
        now = utcnow()
        ids = due(limit, now)
        db.session.rollback()
        if not ids or ids == previous:  # nothing, or only what another transaction holds
            break
        previous = ids
        try:
            done += batch(ids, now)
        except Exception:  # noqa: BLE001  (retried alone below)
            db.session.rollback()
            log.exception("%s of %d escalations failed together; retrying them one by one", what, len(ids))
            done += _one_by_one(what, ids, one)
        if len(ids) < limit:
            break
    return done


def _one_by_one(what: str, ids: list[int], one: Callable[[int], int]) -> int:
    done = 0
    for escalation_id in ids:
        try:
            done += one(escalation_id)
        except Exception:  # noqa: BLE001  (one bad row must not stop the others)
            db.session.rollback()
            log.exception("%s of E%s failed; the next pass retries", what, escalation_id)
    return done
