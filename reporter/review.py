"""Review workflows (SPEC §4.2, §4.4): accept/return, closing incidents, daily reporting, and the
review queue of messages a machine could not place. Nothing is ever deleted: a dismissed message
stays, marked, with who dismissed it and why.

Called by the API here and by the board; each function commits. PermissionError means "not in
your scope or role", Refusal (Chinese message) means "bad input".
"""

from __future__ import annotations

from sqlalchemy import update

from core import audit
from core.extensions import db
from core.localtime import local_date
from core.models import Division, Person, utcnow
from core.refusals import Refusal
from core.roles import COUNTY_ROLES, STAFF_ROLES
from core.scope import can_access
from reporter import events, grammar, shapes
from reporter.access import may_decide_event, message_in_scope
from reporter.flows import submit_report
from reporter.models import CaseStatus, Event, InboundMessage, Incident, Report, ReportStatus, ReviewState

REVIEW_ACTIONS = ("accept", "return")


def _require(person: Person, roles: tuple[str, ...], division: Division | str | None, what: str) -> None:
    if person is None or person.role not in roles or not can_access(person, division):
        raise PermissionError(f"无权{what}。")


def review_report(person: Person, report: Report, action: str, reason: str | None) -> Report:
    """Accept or return a report (township or above, in scope); a return tells the author by SMS."""
    if action not in REVIEW_ACTIONS:
        raise Refusal("审核操作只能是 accept(通过) 或 return(退回)。")
    reason = (reason or "").strip() or None
    if action == "return" and not reason:
        raise Refusal("退回报告必须写明原因。")
    if reason and len(reason) > 500:
        raise Refusal("原因不能超过500字。")
    _require(person, STAFF_ROLES, report.village, "审核该报告")
    before = shapes.report_snapshot(report)
    report.status = ReportStatus.ACCEPTED if action == "accept" else ReportStatus.RETURNED
    report.review_note = reason
    report.reviewed_by_id = person.id
    report.reviewed_at = utcnow()
    if action == "return":
        events.report_returned.send(report, reason=reason)
    audit.record(f"report.{action}", "report", report.public_id, before=before,
                 after=shapes.report_snapshot(report), actor=person, exercise_id=report.exercise_id)
    db.session.commit()
    return report


def close_incident(person: Person, incident: Incident, note: str | None) -> Incident:
    """A responder closes an incident (the final report does it too); its escalations still
    waiting for an acknowledgement close with it (`events.incident_closed`, dispatch's)."""
    _require(person, STAFF_ROLES, incident.village, "关闭该事件")
    if incident.status != CaseStatus.OPEN:
        raise Refusal("该事件已关闭。")
    incident.status, incident.closed_at, incident.closed_by_id = CaseStatus.CLOSED, utcnow(), person.id
    db.session.flush()  # the incident's row lock before the escalations' (see incident_closed)
    events.incident_closed.send(incident, actor=person)  # dispatch settles its escalations
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
    if not may_decide_event(person, event):
        raise PermissionError("无权结束该灾害过程。")
    if event.status != CaseStatus.OPEN:
        raise Refusal("该灾害过程已结束。")
    now = utcnow()
    note = (note or "").strip()[:500] or None
    # the incidents first, then the escalations: the lock order dispatch keeps (incident_closed)
    closed = list(db.session.scalars(update(Incident)
                                     .where(Incident.event_id == event.id, Incident.status == CaseStatus.OPEN)
                                     .values(status=CaseStatus.CLOSED, closed_at=now, closed_by_id=person.id)
                                     .returning(Incident.id).execution_options(synchronize_session=False)))
    before = {"status": event.status, "daily_report": event.daily_report}
    event.status, event.closed_at, event.daily_report, event.daily_report_since = CaseStatus.CLOSED, now, False, None
    db.session.flush()
    events.event_closed.send(event, actor=person)  # dispatch settles its escalations
    audit.record("event.close", "event", event.id, before=before,
                 after={"status": "closed", "incidents_closed": sorted(closed), "note": note},
                 actor=person, exercise_id=event.exercise_id)
    db.session.commit()  # expires the session: incidents loaded earlier re-read the UPDATE's result
    return event


def mark_county_report_sent(person: Person, event: Event) -> Event:
    """The county office sent its 初报 to the city (outside this service): the clock stops, with who and when."""
    if not may_decide_event(person, event):
        raise PermissionError("无权标记县级初报。")
    if event.county_reported_at is not None:
        raise Refusal("县级初报已标记为报送。")
    event.county_reported_at, event.county_reported_by_id = utcnow(), person.id
    audit.record("event.county_report", "event", event.id, before={"county_reported_at": None},
                 after={"county_reported_at": event.county_reported_at}, actor=person, exercise_id=event.exercise_id)
    db.session.commit()
    return event


def set_daily_report(person: Person, event: Event, on: bool) -> Event:
    """Mark an event daily-report (零报告): its townships' villages then owe a report every day."""
    if not may_decide_event(person, event):
        raise PermissionError("无权设置每日报告。")
    if not isinstance(on, bool):
        raise Refusal("on 必须是 true 或 false。")
    before = {"daily_report": event.daily_report, "daily_report_since": event.daily_report_since}
    if on and not event.daily_report:
        event.daily_report_since = local_date()
    if not on:
        event.daily_report_since = None
    event.daily_report = on
    audit.record("event.daily_report", "event", event.id, before=before,
                 after={"daily_report": on, "daily_report_since": event.daily_report_since},
                 actor=person, exercise_id=event.exercise_id)
    db.session.commit()
    return event


def convert_message(person: Person, message: InboundMessage, *, village_code: str, text: str) -> Report:
    """County staff turn a queued message into a report by hand: `text` is parsed by the grammar."""
    if person.role not in COUNTY_ROLES or not message_in_scope(person, message):
        raise PermissionError("无权处理该短信。")
    if message.review_status != ReviewState.PENDING:
        raise Refusal("该短信已处理。")
    village = db.session.get(Division, (village_code or "").strip())
    if village is None or village.level != "village":
        raise Refusal(f"村代码 {village_code} 不存在。")
    _require(person, COUNTY_ROLES, village, "为该村录入报告")
    command = grammar.parse(text or "")
    if command.kind not in ("report", "nil"):
        raise Refusal("无法识别为灾情报告，请按格式填写，例如: 初报 洪涝 死亡0 转移30")
    author = message.person if message.person is not None and message.person.active else None
    report, _reply = submit_report(author, command, channel="sms", message=message,
                                   exercise_id=message.exercise_id, village=village, actor=person)
    message.report_id = report.id
    message.review_status = ReviewState.CONVERTED
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
    if message.review_status != ReviewState.PENDING:
        raise Refusal("该短信已处理。")
    note = (note or "").strip()[:500] or None
    message.review_status = ReviewState.DISMISSED
    message.reviewed_by_id, message.reviewed_at, message.review_note = person.id, utcnow(), note
    audit.record("message.dismiss", "message", message.sid, before={"review_status": "pending"},
                 after={"review_status": "dismissed", "note": note}, actor=person, exercise_id=message.exercise_id)
    db.session.commit()
    return message
