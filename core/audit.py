"""Append-only, hash-chained audit log.

Each chained entry's hash covers its content and the previous entry's hash, so editing, deleting
or reordering any entry breaks the chain from there on; `flask audit verify` finds the break.

Call `record` inside the transaction that makes the change: the entry commits (or rolls back)
with the change, so none is lost. `record` takes no lock: it inserts the entry unchained
(seq/prev_hash/hash NULL). Measured (bench-intake): chaining inside the caller's transaction held
one chain-wide lock until commit, i.e. across the commit's WAL fsync, so every webhook in the
province queued behind one fsync at a time (~73 msg/s). `chain_pending`, a worker sweep every
second and the first step of `flask audit verify`, gives committed entries their chain position
(`seq`) and hashes in id order, as the only writer of the chain (advisory lock on PostgreSQL,
the write lock on SQLite).

Known gap: until the sweep chains it (about a second after commit, longer while no worker
runs), an entry is protected by nothing but the database's permissions; deleting it then goes
unnoticed. Deleting the newest chained entries is likewise invisible to the chain alone: publish
an anchor (`flask audit anchor` prints `seq:hash` of the newest chained entry; put it in the
county's daily report, a ticket or another system's log) and `flask audit verify --anchor
seq:hash` fails if that entry is gone or changed, i.e. if anything up to it was cut off.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from sqlalchemy import func, select, text

from core.extensions import db
from core.models import AuditEntry, Person, utcnow
from core.queue import periodic

GENESIS = "0" * 64
_LOCK_KEY = 7_330_001
_BATCH = 1000


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
    """Add one entry (in the caller's transaction), unchained: `chain_pending` chains it after commit."""
    new = entry(action, entity, entity_id, before=before, after=after, actor=actor, exercise_id=exercise_id)
    db.session.add(new)  # inserted at the caller's next flush, with the transaction's other entries
    return new


def entry(action: str, entity: str, entity_id, *, before: dict | None = None, after: dict | None = None,
          actor: Person | str | None = None, exercise_id: int | None = None) -> AuditEntry:
    """The entry `record` adds, not added: for a caller that inserts its rows without the ORM."""
    if isinstance(actor, Person):
        actor_id, actor_label = actor.id, f"{actor.name} {actor.phone}"
    elif isinstance(actor, str):
        actor_id, actor_label = None, actor
    else:
        actor_id, actor_label = _actor_from_request()
    before = json.loads(json.dumps(before, default=str)) if before is not None else None
    after = json.loads(json.dumps(after, default=str)) if after is not None else None
    return AuditEntry(at=utcnow(), actor_id=actor_id, actor=actor_label, action=action, entity=entity,
                      entity_id=str(entity_id), before=before, after=after, exercise_id=exercise_id)


def _lock_chain() -> None:
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    else:
        # SQLite: take the database's write lock before reading the tail (a no-op UPDATE does),
        # or web and worker both read the same tail and fork the chain. Reads alone take no lock.
        db.session.execute(text("UPDATE audit_log SET id = id WHERE 0"))


def chain_pending(limit: int = _BATCH) -> int:
    """Chain committed unchained entries, oldest id first; commits; returns how many were chained.

    Entries still in an open transaction are invisible here and are chained by a later run, so chain
    order (seq) can differ slightly from id order; it is the order the chain vouches for."""
    _lock_chain()
    tail = db.session.execute(select(AuditEntry.seq, AuditEntry.hash).where(AuditEntry.seq.is_not(None))
                              .order_by(AuditEntry.seq.desc()).limit(1)).first()
    seq, prev = (tail[0], tail[1]) if tail else (0, GENESIS)
    batch = db.session.scalars(select(AuditEntry).where(AuditEntry.seq.is_(None), AuditEntry.hash.is_(None))
                               .order_by(AuditEntry.id).limit(limit)).all()
    for entry in batch:
        seq += 1
        entry.seq, entry.prev_hash = seq, prev
        entry.hash = _digest(prev, entry.at, entry.actor_id, entry.actor, entry.action, entry.entity,
                             entry.entity_id, entry.before, entry.after, entry.exercise_id)
        prev = entry.hash
    db.session.commit()
    return len(batch)


def chain_all() -> int:
    total = 0
    while (n := chain_pending()) == _BATCH:
        total += n
    return total + n


@periodic(1, name="core.audit.chain")
def chain_sweep() -> None:
    chain_all()


def unchained() -> int:
    """How many entries wait for their chain position (not tampering: written, not yet chained)."""
    return db.session.scalar(select(func.count()).select_from(AuditEntry)
                             .where(AuditEntry.seq.is_(None), AuditEntry.hash.is_(None)))


def anchor() -> str | None:
    """`seq:hash` of the newest chained entry (None while the chain is empty): what to publish."""
    tail = db.session.execute(select(AuditEntry.seq, AuditEntry.hash).where(AuditEntry.seq.is_not(None))
                              .order_by(AuditEntry.seq.desc()).limit(1)).first()
    return f"{tail[0]}:{tail[1]}" if tail else None


def check_anchor(published: str) -> list[str]:
    """Problems with a published anchor: the entry must still be in the chain with that hash."""
    seq_text, _, digest = (published or "").strip().partition(":")
    if not seq_text.isdigit() or len(digest) != 64:
        raise ValueError(f"an anchor is 'seq:hash' as `flask audit anchor` prints it, not {published!r}")
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.seq == int(seq_text)))
    if entry is None:
        return [f"anchor {seq_text}: entry missing (the chain was cut back below a published point)"]
    if entry.hash != digest:
        return [f"anchor {seq_text}: hash differs from the published one (entries rewritten)"]
    return []


def verify() -> list[str]:
    """Walk the chain in chain order; return a description of every broken link (empty when intact).

    An entry whose seq was erased but whose hash remains was taken out of the chain: reported."""
    problems: list[str] = []
    prev = GENESIS
    for entry in db.session.scalars(select(AuditEntry).where(AuditEntry.seq.is_not(None))
                                    .order_by(AuditEntry.seq)).yield_per(1000):
        if entry.prev_hash != prev:
            problems.append(f"entry {entry.id}: does not follow the previous entry (deleted or reordered?)")
        expected = _digest(entry.prev_hash or "", entry.at, entry.actor_id, entry.actor, entry.action,
                           entry.entity, entry.entity_id, entry.before, entry.after,
                           entry.exercise_id)
        if entry.hash != expected:
            problems.append(f"entry {entry.id}: content does not match its hash (edited?)")
        prev = entry.hash
    for entry_id in db.session.scalars(select(AuditEntry.id).where(AuditEntry.seq.is_(None),
                                                                   AuditEntry.hash.is_not(None))):
        problems.append(f"entry {entry_id}: was chained but has lost its chain position (tampered?)")
    return problems
