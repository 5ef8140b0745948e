"""E4: escalations whose acknowledgement deadline passed unacknowledged climb to the next level.

Deadlines are due from the database, not from one queued job per escalation: `dispatch.jobs.due`
runs every ESCALATION_SWEEP_SECONDS (1 s) in its own thread of `flask worker` and climbs
everything due, up to 500 escalations a transaction, set-based (one claim, one INSERT round per
step up the ladder, `dispatch.opening`). A deadline is never later than a pass, and nothing in
Redis can lose one. (One RQ job per escalation starved the reminders' queue in the province
drill: 40,000 waiting jobs, each a transaction of its own.)

Lock order, as closing an incident takes them (`flows.on_incident_closed`): the incidents' rows
first, then the escalations'. On PostgreSQL the incidents are taken `FOR UPDATE SKIP LOCKED`,
so a pass never waits behind a close or an intake batch holding one: those escalations wait for
the next pass, which finds them still due (or closed). The claim itself is the conditional UPDATE
(still open), the one race guard against an acknowledgement (`flows.acknowledge`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update

from core import audit
from core.exercises import exercise_division, within
from core.extensions import db
from core.models import Division, rows_by, utcnow
from dispatch import opening, passes, service
from dispatch.models import Escalation, EscalationStatus
from dispatch.rules import next_level
from reporter.models import Incident, Report

NOBODY_ABOVE = "超时未确认，无更高一级"


def escalate_if_overdue(escalation_id: int) -> Escalation | None:
    """E4 for one escalation (`escalate_overdue` of one); the escalation told, or None. Commits."""
    told = escalate_overdue([escalation_id])
    return told[0] if told else None


def escalate_overdue(ids: list[int], now: datetime | None = None) -> list[Escalation]:
    """Climb these escalations if their deadline passed and nobody acknowledged them; once
    only, whoever calls. Commits. Returns the escalations told (the top of each E4 chain); one
    with nobody above stays visible as overdue."""
    now = now or utcnow()
    due = _lock_incidents(ids, now)
    if not due:
        db.session.rollback()
        return []
    escalations = list(db.session.scalars(select(Escalation).where(Escalation.id.in_(due)).order_by(Escalation.id)))
    villages = rows_by(Division.code, (esc.village_code for esc in escalations))
    climbing, stuck = _split_by_what_is_above(escalations, villages)
    _claim(stuck, status=EscalationStatus.OVERDUE, note=func.coalesce(Escalation.note, "") + NOBODY_ABOVE)
    claimed = set(_claim([esc for esc, _up in climbing], status=EscalationStatus.ESCALATED, escalated_at=now))
    chains = _open_e4_chains([(esc, upper) for esc, upper in climbing if esc.id in claimed], villages)
    for chain in chains:
        esc = chain.parent
        audit.record("escalation.overdue", "escalation", esc.public_id, exercise_id=esc.exercise_id,
                     after={"escalated_to": [c.public_id for c in chain.opened]})
    db.session.commit()
    return [chain.opened[-1] for chain in chains if chain.opened]


def sweep_overdue(limit: int = passes.BATCH) -> int:
    """Every escalation due now, in batches (`dispatch.passes`); the number climbed."""
    return passes.in_batches("E4", _due, lambda ids, now: len(escalate_overdue(ids, now)),
                             lambda escalation_id: escalate_if_overdue(escalation_id) is not None, limit=limit)


def _is_due(now: datetime):
    return (Escalation.status == EscalationStatus.OPEN) & (Escalation.deadline_at <= now)


def _due(limit: int, now: datetime) -> list[int]:
    """The first `limit` escalations due: open, deadline passed."""
    return list(db.session.scalars(select(Escalation.id).where(_is_due(now))
                                   .order_by(Escalation.deadline_at).limit(limit)))


def _lock_incidents(ids: list[int], now: datetime) -> list[int]:
    """Of these escalations, those still due whose incident this transaction could lock (first,
    in id order); the others wait for the next pass."""
    rows = db.session.execute(select(Escalation.id, Escalation.incident_id).where(
        Escalation.id.in_(ids), _is_due(now))).all()
    incident_ids = sorted({incident_id for _id, incident_id in rows if incident_id is not None})
    locked = set(db.session.scalars(select(Incident.id).where(Incident.id.in_(incident_ids))
                                    .order_by(Incident.id).with_for_update(skip_locked=True)))
    return [esc_id for esc_id, incident_id in rows if incident_id is None or incident_id in locked]


def _split_by_what_is_above(escalations: list[Escalation], villages: dict[str, Division]
                            ) -> tuple[list[tuple[Escalation, str]], list[Escalation]]:
    """(escalation, the level above) for those with someone above to tell, and those without:
    the province, the edge of a drill, or a drill that has ended (no E4 after it)."""
    uppers = {esc.id: next_level(esc.level) for esc in escalations}
    above = rows_by(Division.code, (villages[esc.village_code].ancestor_code(uppers[esc.id])
                                    for esc in escalations if esc.village_code in villages and uppers[esc.id]))
    scopes: dict[int | None, Division | None] = {}
    climbing: list[tuple[Escalation, str]] = []
    stuck: list[Escalation] = []
    for esc in escalations:
        village, upper = villages.get(esc.village_code or ""), uppers[esc.id]
        division = above.get(village.ancestor_code(upper) or "") if village is not None and upper else None
        if esc.exercise_id not in scopes:
            scopes[esc.exercise_id] = exercise_division(esc.exercise_id, running_only=True)
        if division is not None and within(division, scopes[esc.exercise_id]):
            climbing.append((esc, upper))
        else:
            stuck.append(esc)
    return climbing, stuck


def _claim(escalations: list[Escalation], **values) -> list[int]:
    """Move these escalations out of 'open' if (and only if) they still are; the ids moved."""
    if not escalations:
        return []
    stmt = (update(Escalation).where(Escalation.id.in_([esc.id for esc in escalations]),
                                     Escalation.status == EscalationStatus.OPEN)
            .values(**values).returning(Escalation.id)
            .execution_options(synchronize_session="fetch"))  # the loaded escalations see the change
    return list(db.session.execute(stmt).scalars())


def _open_e4_chains(climbing: list[tuple[Escalation, str]], villages: dict[str, Division]) -> list[opening.Chain]:
    """One E4 chain per claimed escalation, from the level above it, opened together."""
    if not climbing:
        return []
    incidents = rows_by(Incident.id, (esc.incident_id for esc, _up in climbing))
    reports = rows_by(Report.id, (esc.report_id for esc, _up in climbing))
    minutes = service.ack_minutes()
    chains = [opening.Chain("E4", upper, villages[esc.village_code], incidents.get(esc.incident_id),
                            reports.get(esc.report_id), esc.exercise_id, minutes, parent=esc)
              for esc, upper in climbing]
    return opening.open_chains(chains)
