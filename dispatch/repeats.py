"""Repeat before climbing (escalation policy depth, as GoAlert and Iris have it).

An escalation nobody has acknowledged is sent again (`ESCALATION_REPEATS` times, spread inside
its acknowledgement window, `rules.repeat_due`) before its deadline sends E4 to the next level:
an SMS at 3 a.m. is more often unseen than ignored, and a second ring costs less than waking the
county. A repeat goes to the people as they stand now: whoever went off duty since is replaced
by their backup (`service.with_stand_ins`), who joins the recipients and may acknowledge.

Repeats are due from the database like deadlines (`dispatch.overdue`): each pass of
`dispatch.jobs.due` sends every repeat due, up to 500 a transaction. The race guard is one
conditional UPDATE on the escalations' rows (still open, still unacknowledged, still at this
repeat number), so an acknowledgement, a close or a second worker landing first leaves nothing
to repeat. Repeats lock escalations only, never an incident, so they take no part in the
incident-then-escalation lock order.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import selectinload

from core import audit
from core.extensions import db
from core.models import Division, Person, rows_by, utcnow
from dispatch import opening, passes, service
from dispatch.models import Escalation, EscalationStatus
from messaging.outbox import queue_sms
from reporter.models import Incident, Report


def repeat_if_due(escalation_id: int) -> bool:
    """Send the escalation's next repeat if it is due and nobody has answered; once only,
    whoever calls. Commits."""
    return send_repeats([escalation_id]) == 1


def send_repeats(ids: list[int], now: datetime | None = None) -> int:
    """Send the repeats due of these escalations; the number sent. A repeat whose deadline has
    passed is skipped: it climbs instead. Commits."""
    now = now or utcnow()
    query = (select(Escalation).where(Escalation.id.in_(ids), _is_due(now))
             .options(selectinload(Escalation.recipients).selectinload(Person.backup)))
    due = list(db.session.scalars(query))
    claimed = set(_claim(due))
    mine = [esc for esc in due if esc.id in claimed]
    if not mine:
        db.session.rollback()
        return 0
    villages = rows_by(Division.code, (esc.village_code for esc in mine))
    incidents = rows_by(Incident.id, (esc.incident_id for esc in mine))
    reports = rows_by(Report.id, (esc.report_id for esc in mine))
    for esc in mine:
        _repeat(esc, villages.get(esc.village_code), incidents.get(esc.incident_id), reports.get(esc.report_id))
    db.session.commit()
    return len(mine)


def sweep_repeats(limit: int = passes.BATCH) -> int:
    """Every repeat due now, in batches (`dispatch.passes`); the number sent."""
    return passes.in_batches("repeat", _due, lambda ids, now: send_repeats(ids, now), repeat_if_due, limit=limit)


def _is_due(now: datetime):
    """Open, unacknowledged, the repeat due and the deadline not yet."""
    return ((Escalation.status == EscalationStatus.OPEN) & Escalation.acknowledged_at.is_(None)
            & (Escalation.repeat_at <= now) & (Escalation.deadline_at > now))


def _due(limit: int, now: datetime) -> list[int]:
    return list(db.session.scalars(select(Escalation.id).where(_is_due(now))
                                   .order_by(Escalation.repeat_at).limit(limit)))


def _claim(due: list[Escalation]) -> list[int]:
    """Count the repeat on each escalation still open, unacknowledged and at the repeat number
    read; the ids claimed."""
    if not due:
        return []
    return list(db.session.execute(
        update(Escalation).where(
            tuple_(Escalation.id, Escalation.repeats_sent).in_([(esc.id, esc.repeats_sent or 0) for esc in due]),
            Escalation.status == EscalationStatus.OPEN, Escalation.acknowledged_at.is_(None))
        .values(repeats_sent=Escalation.repeats_sent + 1).returning(Escalation.id)
        .execution_options(synchronize_session=False)).scalars())


def _repeat(esc: Escalation, village: Division | None, incident: Incident | None, report: Report | None) -> None:
    """The claimed repeat: its next time, the people as they stand now, their SMS, the audit entry."""
    sent = esc.repeats_sent or 0
    esc.repeats_sent = sent + 1
    esc.repeat_at = opening.repeat_at_for(esc, sent + 1)
    people = service.with_stand_ins(list(esc.recipients))
    added = [p for p in people if all(r.id != p.id for r in esc.recipients)]
    if added:
        esc.recipients = list(esc.recipients) + added
    if village is not None:
        text = service.alert_text(esc, village, incident, report, repeat=True)
        for person in people:
            queue_sms(person.phone, text, purpose="escalation", person=person, escalation_id=esc.id,
                      report_id=esc.report_id, exercise_id=esc.exercise_id)
    audit.record("escalation.repeat", "escalation", esc.public_id, exercise_id=esc.exercise_id,
                 after={"repeat": sent + 1, "to": [p.id for p in people], "backups_added": [p.id for p in added]})

