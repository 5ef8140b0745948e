"""Who sees which escalations, and what the API and the board show of them (the JSON shape)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select

from core.exercises import exercise_clause
from core.extensions import db
from core.models import Person, utcnow
from core.scope import scope_clause
from dispatch.models import Escalation, EscalationStatus
from messaging.models import FAILED_STATUSES, OutboundSms

# ---- delivery (status callbacks are messaging.receipts) -----------------------------------------

def failed_sms_count(person: Person, exercise_id: int | None = None) -> int:
    """SMS that could not be delivered, in the person's scope (for the board's warning)."""
    stmt = (select(func.count(OutboundSms.id)).join(Escalation, Escalation.id == OutboundSms.escalation_id)
            .where(OutboundSms.status.in_(FAILED_STATUSES),
                   exercise_clause(OutboundSms.exercise_id, exercise_id), visible_clause(person)))
    return db.session.scalar(stmt) or 0


# ---- scope and JSON ------------------------------------------------------------------------

def visible_clause(person: Person):
    """An escalation is visible to whoever's scope holds its place or its responding division."""
    return or_(scope_clause(person, Escalation.village_code), scope_clause(person, Escalation.division_code))


def parse_escalation_id(raw: str | int) -> int | None:
    text = str(raw).strip().upper().removeprefix("E")
    return int(text) if text.isdigit() and len(text) < 10 else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def serialize_escalation(e: Escalation) -> dict:
    """The JSON shape of an escalation (API and board)."""
    who = e.acknowledged_by
    return {
        "id": e.public_id, "rule": e.rule, "level": e.level, "division_code": e.division_code,
        "village_code": e.village_code, "township_code": e.township_code, "county_code": e.county_code,
        "report_id": f"R{e.report_id}" if e.report_id else None, "incident_id": e.incident_id,
        "event_id": e.event_id, "parent_id": f"E{e.parent_id}" if e.parent_id else None,
        "status": e.status, "created_at": _iso(e.created_at), "deadline_at": _iso(e.deadline_at),
        "overdue": bool(e.status == EscalationStatus.OPEN and e.deadline_at and e.deadline_at < utcnow()),
        "acknowledged_at": _iso(e.acknowledged_at),
        "acknowledged_by": {"name": who.name, "phone": who.phone, "role": who.role} if who else None,
        "ack_channel": e.ack_channel, "escalated_at": _iso(e.escalated_at), "note": e.note,
        "recipients": [{"name": p.name, "phone": p.phone, "role": p.role} for p in e.recipients],
        "sms": [{"to": m.to_phone, "status": m.status, "error_code": m.error_code, "attempts": m.attempts,
                 "ambiguous": m.ambiguous, "sent_at": _iso(m.sent_at)} for m in e.messages],
        "exercise_id": e.exercise_id,
    }
