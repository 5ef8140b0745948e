"""Append-only, hash-chained audit log.

Each entry's hash covers its content and the previous entry's hash, so editing, deleting or
reordering any entry breaks the chain from there on; `flask audit verify` finds the break.
Call `record` inside the transaction that makes the change, as late as possible: it locks the
chain until commit (an advisory lock on PostgreSQL, the write lock on SQLite) so that two writers
cannot fork it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from sqlalchemy import select, text

from core.extensions import db
from core.models import AuditEntry, Person, utcnow

GENESIS = "0" * 64
_LOCK_KEY = 7_330_001


def _digest(prev_hash: str, at: datetime, actor_id, actor: str, action: str, entity: str,
            entity_id: str, before, after, exercise_id) -> str:
    payload = json.dumps(
        [prev_hash, at.astimezone(UTC).isoformat(timespec="microseconds"), actor_id, actor, action, entity,
         entity_id, before, after, exercise_id],
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _actor_from_request() -> tuple[int | None, str]:
    try:
        from flask_login import current_user

        if current_user and current_user.is_authenticated:
            return current_user.id, f"{current_user.name} {current_user.phone}"
    except Exception:  # outside a request: CLI or worker
        pass
    return None, "system"


def record(action: str, entity: str, entity_id, *, before: dict | None = None,
           after: dict | None = None, actor: Person | str | None = None,
           exercise_id: int | None = None) -> AuditEntry:
    """Append one entry to the chain (in the caller's transaction)."""
    if isinstance(actor, Person):
        actor_id, actor_label = actor.id, f"{actor.name} {actor.phone}"
    elif isinstance(actor, str):
        actor_id, actor_label = None, actor
    else:
        actor_id, actor_label = _actor_from_request()
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    else:
        # SQLite: take the database's write lock before reading the tail (a no-op UPDATE does),
        # or web and worker both read the same tail and fork the chain. Reads alone take no lock.
        db.session.flush()
        db.session.execute(text("UPDATE audit_log SET id = id WHERE 0"))
    prev = db.session.scalar(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))
    prev = prev or GENESIS
    at = utcnow()
    before = json.loads(json.dumps(before, default=str)) if before is not None else None
    after = json.loads(json.dumps(after, default=str)) if after is not None else None
    entry = AuditEntry(at=at, actor_id=actor_id, actor=actor_label, action=action, entity=entity,
                       entity_id=str(entity_id), before=before, after=after,
                       exercise_id=exercise_id, prev_hash=prev)
    entry.hash = _digest(prev, at, actor_id, actor_label, action, entity, str(entity_id),
                         before, after, exercise_id)
    db.session.add(entry)
    db.session.flush()
    return entry


def verify() -> list[str]:
    """Walk the chain; return a description of every broken link (empty when intact)."""
    problems: list[str] = []
    prev = GENESIS
    for entry in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).yield_per(1000):
        if entry.prev_hash != prev:
            problems.append(f"entry {entry.id}: does not follow the previous entry (deleted or reordered?)")
        expected = _digest(entry.prev_hash, entry.at, entry.actor_id, entry.actor, entry.action,
                           entry.entity, entry.entity_id, entry.before, entry.after,
                           entry.exercise_id)
        if entry.hash != expected:
            problems.append(f"entry {entry.id}: content does not match its hash (edited?)")
        prev = entry.hash
    return problems
