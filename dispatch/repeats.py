"""Repeat before climbing (escalation policy depth, as GoAlert and Iris have it).

An escalation nobody has acknowledged is sent again (`ESCALATION_REPEATS` times, spread inside
its acknowledgement window, `rules.repeat_due`) before its deadline sends E4 to the next level:
an SMS at 3 a.m. is more often unseen than ignored, and a second ring costs less than waking the
county. A repeat goes to the people as they stand now: whoever went off duty since is replaced
by their backup (`service.with_stand_ins`), who joins the recipients and may acknowledge.

Like `escalate_if_overdue` these are jobs: they commit. The race guard is a conditional UPDATE
on the escalation's row (still open, still unacknowledged, still at this repeat number), so an
acknowledgement, a close or a second worker landing first leaves nothing to repeat.
"""

from __future__ import annotations

import logging

import redis
from sqlalchemy import select, update

from core import audit
from core.extensions import db
from core.models import Division, utcnow
from dispatch import opening, service
from dispatch.deadlines import schedule_repeat
from dispatch.models import Escalation, EscalationStatus
from messaging.outbox import queue_sms
from reporter.models import Incident, Report

log = logging.getLogger("zaibao.dispatch")


def repeat_if_due(escalation_id: int) -> bool:
    """Send the escalation's next repeat if it is due and nobody has answered; once only,
    whoever calls. A repeat whose deadline has passed is skipped: it climbs instead. Commits."""
    now = utcnow()
    esc = db.session.get(Escalation, escalation_id)
    if (esc is None or esc.status != EscalationStatus.OPEN or esc.acknowledged_at is not None
            or esc.repeat_at is None or esc.repeat_at > now
            or esc.deadline_at is None or esc.deadline_at <= now):
        db.session.rollback()
        return False
    sent = esc.repeats_sent or 0
    next_at = opening.repeat_at_for(esc, sent + 1)
    claimed = db.session.execute(update(Escalation).where(
        Escalation.id == esc.id, Escalation.status == EscalationStatus.OPEN,
        Escalation.acknowledged_at.is_(None), Escalation.repeats_sent == sent)
        .values(repeats_sent=sent + 1, repeat_at=next_at)).rowcount == 1
    if not claimed:
        db.session.rollback()
        return False
    db.session.refresh(esc)
    people = service.with_stand_ins(list(esc.recipients))
    added = [p for p in people if all(r.id != p.id for r in esc.recipients)]
    if added:
        esc.recipients = list(esc.recipients) + added
    village = db.session.get(Division, esc.village_code) if esc.village_code else None
    incident = db.session.get(Incident, esc.incident_id) if esc.incident_id else None
    report = db.session.get(Report, esc.report_id) if esc.report_id else None
    if village is not None:
        text = service.alert_text(esc, village, incident, report, repeat=True)
        for person in people:
            queue_sms(person.phone, text, purpose="escalation", person=person, escalation_id=esc.id,
                      report_id=esc.report_id, exercise_id=esc.exercise_id)
    audit.record("escalation.repeat", "escalation", esc.public_id, exercise_id=esc.exercise_id,
                 after={"repeat": sent + 1, "to": [p.id for p in people], "backups_added": [p.id for p in added]})
    db.session.commit()
    if next_at is not None:
        try:
            schedule_repeat(escalation_id, sent + 2, next_at)
        except redis.exceptions.RedisError as exc:  # the sweep sends it
            log.warning("repeat %s of E%s not scheduled (%s); the sweep sends it", sent + 2, escalation_id, exc)
    return True


def sweep_repeats(limit: int = 500) -> int:
    """Catch repeats the scheduler missed (Redis flushed, worker down). Idempotent."""
    now = utcnow()
    ids = list(db.session.scalars(select(Escalation.id).where(
        Escalation.status == EscalationStatus.OPEN, Escalation.repeat_at < now, Escalation.deadline_at > now)
        .order_by(Escalation.repeat_at).limit(limit)))
    db.session.rollback()
    done = 0
    for escalation_id in ids:
        try:
            done += repeat_if_due(escalation_id)
        except Exception:  # noqa: BLE001  (one bad row must not stop the others)
            db.session.rollback()
            log.exception("repeat of E%s failed; the next sweep retries", escalation_id)
    return done
