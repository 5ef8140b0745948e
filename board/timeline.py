"""One incident's whole history for its page (/board/incidents/<id>, SPEC §11.1): every report with
its author, channel, flags, review and the SMS it came from; corrections with before and after;
the escalations with their recipients, acknowledgements and the delivery of each SMS; and every
audit entry about them. Scoped and drill-isolated like the board (`BoardView`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import aliased, selectinload

from board.query import BoardView
from core.extensions import db
from core.models import AuditEntry, Division, Person
from dispatch.models import Escalation
from reporter.models import InboundMessage, Incident, Report


@dataclass
class ReportEntry:
    report: Report
    message: InboundMessage | None
    reviewer: Person | None
    corrections: list[AuditEntry] = field(default_factory=list)


@dataclass
class History:
    incident: Incident
    village: str
    township: str
    reports: list[ReportEntry]
    escalations: list[Escalation]
    audit: list[AuditEntry]


def incident_history(view: BoardView, incident_id: int) -> History | None:
    """The history, or None when the incident is not the viewer's to see (a 404, like a missing one)."""
    township = aliased(Division)
    row = db.session.execute(
        select(Incident, Division.name, township.name)
        .join(Division, Division.code == Incident.village_code)
        .outerjoin(township, township.code == Incident.township_code)
        .where(Incident.id == incident_id, *view.incident_filter(active_only=False))).first()
    if row is None:
        return None
    incident, village, township_name = row
    reports = list(db.session.scalars(
        select(Report).where(Report.incident_id == incident.id).options(selectinload(Report.author))
        .order_by(Report.received_at, Report.id)))
    messages = {m.id: m for m in db.session.scalars(select(InboundMessage).where(
        InboundMessage.id.in_([r.message_id for r in reports if r.message_id])))}
    reviewers = {p.id: p for p in db.session.scalars(select(Person).where(
        Person.id.in_([r.reviewed_by_id for r in reports if r.reviewed_by_id])))}
    escalations = list(db.session.scalars(
        select(Escalation).where(Escalation.incident_id == incident.id)
        .options(selectinload(Escalation.recipients), selectinload(Escalation.acknowledged_by),
                 selectinload(Escalation.messages)).order_by(Escalation.id)))
    audit = list(db.session.scalars(select(AuditEntry).where(or_(
        and_(AuditEntry.entity == "report", AuditEntry.entity_id.in_([r.public_id for r in reports])),
        and_(AuditEntry.entity == "incident", AuditEntry.entity_id == str(incident.id)),
        and_(AuditEntry.entity == "escalation", AuditEntry.entity_id.in_([e.public_id for e in escalations])),
    )).order_by(AuditEntry.at, AuditEntry.id)))
    entries = [ReportEntry(r, messages.get(r.message_id), reviewers.get(r.reviewed_by_id),
                           [a for a in audit if a.action == "report.correct" and a.entity_id == r.public_id])
               for r in reports]
    return History(incident, village, township_name or "", entries, escalations, audit)
