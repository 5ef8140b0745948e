"""Review workflows (SPEC §4.2, §4.4): accept/return, closing incidents, daily reporting, and the
review queue of messages a machine could not place. Nothing is ever deleted: a dismissed message
stays, marked, with who dismissed it and why.

Called by the API here and by the board; each function commits. PermissionError means "not in
your scope or role", ValueError (Chinese message) means "bad input".
"""

from __future__ import annotations

from sqlalchemy import and_, or_, select, update

import dispatch.flows
from core import audit
from core.extensions import db
from core.models import Division, Person, utcnow
from core.scope import can_access, scope_clause
from reporter import grammar, service
from reporter.models import Event, InboundMessage, Incident, Report

RESPONDER_ROLES = ("township", "county", "city", "province", "admin")
COUNTY_ROLES = ("county", "city", "province", "admin")
PROVINCE_ROLES = ("province", "admin")
REVIEW_ACTIONS = ("accept", "return")


def _require(person: Person, roles: tuple[str, ...], division: Division | str | None, what: str) -> None:
    if person is None or person.role not in roles or not can_access(person, division):
        raise PermissionError(f"无权{what}。")


def review_report(person: Person, report: Report, action: str, reason: str | None) -> Report:
    """Accept or return a report (township or above, in scope); a return tells the author by SMS."""
    if action not in REVIEW_ACTIONS:
        raise ValueError("审核操作只能是 accept(通过) 或 return(退回)。")
    reason = (reason or "").strip() or None
    if action == "return" and not reason:
        raise ValueError("退回报告必须写明原因。")
    if reason and len(reason) > 500:
        raise ValueError("原因不能超过500字。")
    _require(person, RESPONDER_ROLES, report.village, "审核该报告")
    before = service.report_snapshot(report)
    report.status = "accepted" if action == "accept" else "returned"
    report.review_note = reason
    report.reviewed_by_id = person.id
    report.reviewed_at = utcnow()
    if action == "return":
        dispatch.flows.report_returned(report, reason)
    audit.record(f"report.{action}", "report", report.public_id, before=before,
                 after=service.report_snapshot(report), actor=person, exercise_id=report.exercise_id)
    db.session.commit()
    return report


def close_incident(person: Person, incident: Incident, note: str | None) -> Incident:
    """A responder closes an incident (the final report does it too); its escalations still
    waiting for an acknowledgement close with it (`dispatch.flows.incident_closed`)."""
    _require(person, RESPONDER_ROLES, incident.village, "关闭该事件")
    if incident.status != "open":
        raise ValueError("该事件已关闭。")
    incident.status, incident.closed_at, incident.closed_by_id = "closed", utcnow(), person.id
    db.session.flush()  # the incident's row lock before the escalations' (see incident_closed)
    dispatch.flows.incident_closed(incident, person)  # audited there ("escalations.close")
    audit.record("incident.close", "incident", incident.id, before={"status": "open"},
                 after={"status": "closed", "note": (note or "").strip()[:500] or None},
                 actor=person, exercise_id=incident.exercise_id)
    db.session.commit()
    return incident


def close_event(person: Person, event: Event, note: str | None) -> Event:
    """A county office ends a disaster process (灾害过程): its open incidents close, the
    escalations still waiting on them and its E5 reminders settle, and daily reporting stops.
    Until then the board keeps every incident of the event in view; a later report from the
    county opens a new event."""
    _require(person, COUNTY_ROLES, event.county_code, "结束该灾害过程")
    if event.status != "open":
        raise ValueError("该灾害过程已结束。")
    now = utcnow()
    note = (note or "").strip()[:500] or None
    # the incidents first, then the escalations: the lock order dispatch.flows.incident_closed keeps
    closed = list(db.session.scalars(update(Incident).where(Incident.event_id == event.id, Incident.status == "open")
                                     .values(status="closed", closed_at=now, closed_by_id=person.id)
                                     .returning(Incident.id).execution_options(synchronize_session=False)))
    before = {"status": event.status, "daily_report": event.daily_report}
    event.status, event.closed_at, event.daily_report, event.daily_report_since = "closed", now, False, None
    db.session.flush()
    dispatch.flows.event_closed(event, person)  # audited there ("escalations.close")
    audit.record("event.close", "event", event.id, before=before,
                 after={"status": "closed", "incidents_closed": sorted(closed), "note": note},
                 actor=person, exercise_id=event.exercise_id)
    db.session.commit()  # expires the session: incidents loaded earlier re-read the UPDATE's result
    return event


def set_daily_report(person: Person, event: Event, on: bool) -> Event:
    """Mark an event daily-report (零报告): its townships' villages then owe a report every day."""
    _require(person, COUNTY_ROLES, event.county_code, "设置每日报告")
    if not isinstance(on, bool):
        raise ValueError("on 必须是 true 或 false。")
    before = {"daily_report": event.daily_report, "daily_report_since": event.daily_report_since}
    if on and not event.daily_report:
        event.daily_report_since = service.local_date()
    if not on:
        event.daily_report_since = None
    event.daily_report = on
    audit.record("event.daily_report", "event", event.id, before=before,
                 after={"daily_report": on, "daily_report_since": event.daily_report_since},
                 actor=person, exercise_id=event.exercise_id)
    db.session.commit()
    return event


def sees_unattributed(person: Person | None) -> bool:
    """Province-level staff (and admins there): the only scope that covers "anywhere in the province",
    so the only people shown a message nobody could place (division_code NULL)."""
    return (person is not None and person.active and person.role in PROVINCE_ROLES
            and person.division.level == "province")


def message_clause(person: Person):
    """SQL: the messages `person` may see (and, in COUNTY_ROLES, convert or dismiss).

    A registered sender's message is scoped by that person's division, for township responders
    too. A message with no person (unknown sender, or kept after a failure) is scoped by the
    division it was attributed to (reporter.attribution), for county offices and above only.
    """
    own = InboundMessage.person_id.in_(select(Person.id).where(scope_clause(person, Person.division_code)))
    if person.role not in COUNTY_ROLES:
        return own
    placed = scope_clause(person, InboundMessage.division_code)
    if sees_unattributed(person):
        placed = or_(placed, InboundMessage.division_code.is_(None))
    return or_(own, and_(InboundMessage.person_id.is_(None), placed))


def review_queue_stmt(person: Person, exercise_id: int | None = None):
    """Messages waiting for a person: unparsed, unknown senders, refused reports (SPEC §4.4)."""
    from core.db import exercise_clause

    return select(InboundMessage).where(InboundMessage.review_status == "pending",
                                        exercise_clause(InboundMessage.exercise_id, exercise_id),
                                        message_clause(person))


def message_in_scope(person: Person | None, message: InboundMessage) -> bool:
    """`message_clause` for one message already loaded."""
    if person is None:
        return False
    if message.person_id is not None:
        return message.person is not None and can_access(person, message.person.division)
    if person.role not in COUNTY_ROLES:
        return False
    if message.division_code is None:
        return sees_unattributed(person)
    return can_access(person, message.division_code)


def convert_message(person: Person, message: InboundMessage, *, village_code: str, text: str) -> Report:
    """County staff turn a queued message into a report by hand: `text` is parsed by the grammar."""
    from reporter.flows import submit_report

    if person.role not in COUNTY_ROLES or not message_in_scope(person, message):
        raise PermissionError("无权处理该短信。")
    if message.review_status != "pending":
        raise ValueError("该短信已处理。")
    village = db.session.get(Division, (village_code or "").strip())
    if village is None or village.level != "village":
        raise ValueError(f"村代码 {village_code} 不存在。")
    _require(person, COUNTY_ROLES, village, "为该村录入报告")
    command = grammar.parse(text or "")
    if command.kind not in ("report", "nil"):
        raise ValueError("无法识别为灾情报告，请按格式填写，例如: 初报 洪涝 死亡0 转移30")
    author = message.person if message.person is not None and message.person.active else None
    report, _reply = submit_report(author, command, channel="sms", message=message,
                                   exercise_id=message.exercise_id, village=village, actor=person)
    message.report_id = report.id
    message.review_status = "converted"
    message.reviewed_by_id, message.reviewed_at = person.id, utcnow()
    message.review_note = f"人工录入: {text.strip()[:400]}"
    audit.record("message.convert", "message", message.sid, before={"review_status": "pending"},
                 after={"review_status": "converted", "report_id": report.public_id, "text": text.strip()[:400]},
                 actor=person, exercise_id=message.exercise_id)
    db.session.commit()
    return report


def dismiss_message(person: Person, message: InboundMessage, note: str | None) -> InboundMessage:
    """Mark a queued message as needing nothing; it stays stored with the note."""
    if person.role not in COUNTY_ROLES or not message_in_scope(person, message):
        raise PermissionError("无权处理该短信。")
    if message.review_status != "pending":
        raise ValueError("该短信已处理。")
    note = (note or "").strip()[:500] or None
    message.review_status = "dismissed"
    message.reviewed_by_id, message.reviewed_at, message.review_note = person.id, utcnow(), note
    audit.record("message.dismiss", "message", message.sid, before={"review_status": "pending"},
                 after={"review_status": "dismissed", "note": note}, actor=person, exercise_id=message.exercise_id)
    db.session.commit()
    return message
