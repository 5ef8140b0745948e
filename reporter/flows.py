"""Report workflows: saving a report or nil report from any channel, corrections, the web form.

Filed reports announce themselves (`reporter.events.reports_filed`; a correction `report_saved`)
in the caller's transaction: dispatch, above, opens its escalations there. `submit_report` and `correct_report` do not
commit (the intake, the review conversion commit); `submit_web_report` does. An SMS report may
be saved in two steps: `reserve_report` in the request, `place_messages` by the intake processor
(`reporter.processing`); anything that must see a village's reports placed settles it first.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import zip_longest

from core import audit
from core.extensions import db
from core.indicators import format_figures
from core.models import AuditEntry, Person, utcnow
from core.roles import OFFICER_ROLES
from core.scope import is_above
from reporter import events, saving, service, shapes
from reporter.models import InboundMessage, Outcome, Report, ReportStatus
from reporter.service import lock_division

NOT_OFFICER = "只有村灾害信息员可以报送灾情。"


@dataclass(frozen=True)
class ReportInput:
    """The part of a grammar Command a report needs (the web form builds one directly)."""

    kind: str
    report_kind: str | None
    hazard: str | None
    indicators: dict
    narrative: str


def submit_report(author: Person | None, command, *, channel: str, message: InboundMessage | None = None,
                  exercise_id: int | None = None, village=None, actor: Person | None = None) -> tuple[Report, str]:
    """Save a report or nil report from a parsed command, audit it and open its escalations.

    Does not commit. The village is the author's own (officers report only for their village)
    unless a reviewer converting a message names it.
    """
    village = village or author.division
    if command.kind == "nil" or command.report_kind == "nil":
        return _submit_nil(author, command, channel=channel, message=message, exercise_id=exercise_id,
                           village=village, actor=actor or author)
    report, reply = reserve_report(author, command, channel=channel, message=message, exercise_id=exercise_id,
                                   village=village)
    place_reserved(report, actor=actor or author)
    return report, reply


def reserve_report(author: Person | None, command, *, channel: str, message: InboundMessage | None = None,
                   exercise_id: int | None = None, village=None) -> tuple[Report, str]:
    """What an SMS report's request does before it answers: hold the village, place what it
    still has waiting, then plan the report (`reporter.saving.plan_report`). Does not commit;
    the report is filed by `place_reserved`, now or by the intake processor."""
    village = village or author.division
    now = message.received_at if message is not None else utcnow()
    settle_village(village.code)
    report = saving.plan_report(village=village, author=author, kind=command.report_kind, hazard=command.hazard,
                                indicators=command.indicators, narrative=command.narrative, channel=channel,
                                message=message, exercise_id=exercise_id, now=now)
    return report, shapes.confirmation_text(report)


def place_reserved(report: Report, actor: Person | None = None) -> None:
    """File a reserved report now (the web form, a review conversion): `file_reports` of one."""
    file_reports([report], actor)


def file_reports(reports: list[Report], actor: Person | None = None) -> None:
    """File reserved reports of different villages together: their incidents and events, then
    dispatch's escalations (`reporter.events.reports_filed`), then the audit entries, each step
    for all of them at once. `actor` None: each report in its author's name."""
    saving.look_up_events(reports)
    saved = [saving.place_report(report) for report in reports]
    db.session.flush()  # the new incidents' ids, which the escalations name
    events.reports_filed.send([(s.report, s.incident, s.previous) for s in saved])
    for report in reports:
        _audit_new(report, actor if actor is not None else report.author)


def settle_village(village_code: str) -> None:
    """Hold the village and file its reports still waiting for the intake processor, oldest
    first, so what comes next (a follow-up, a correction, a nil report) sees them placed."""
    lock_division(village_code)
    # A statement of its own, after the lock: asked in the locking statement, it would read the
    # snapshot taken before the wait, and miss what the request it waited for just stored.
    waiting = db.session.scalars(  # ids first: nearly always none, and the request is the hot path
        service.waiting_stmt(village_code).with_for_update(of=InboundMessage)).all()
    if waiting:
        place_messages([db.session.get(InboundMessage, message_id) for message_id in waiting])


def place_messages(messages: list[InboundMessage]) -> None:
    """The intake processor's work for stored SMS reports (or their replays), in id order:
    each filed once, in rounds of one report per village, so a village's later report sees its
    earlier one filed and the reports of a round are of different incidents."""
    by_village: dict[str, list[Report]] = {}
    for message in messages:
        report = db.session.get(Report, message.report_id)
        if report is not None and not saving.placed(report):
            by_village.setdefault(report.village_code, []).append(report)
        message.outcome = Outcome.REPORT
    for round_ in zip_longest(*by_village.values()):
        file_reports([report for report in round_ if report is not None])


def _submit_nil(author: Person | None, command, *, channel: str, message: InboundMessage | None,
                exercise_id: int | None, village, actor: Person | None) -> tuple[Report, str]:
    now = message.received_at if message is not None else utcnow()
    settle_village(village.code)
    report, new = saving.nil_report(village=village, author=author, hazard=command.hazard,
                                    narrative=command.narrative, channel=channel, message=message,
                                    exercise_id=exercise_id, now=now)
    if not new:
        return report, shapes.nil_repeat_text(report, village)
    _audit_new(report, actor)
    return report, shapes.nil_received_text(report, village)


def _audit_new(report: Report, actor: Person | None) -> None:
    """The report's creation entry, in the transaction that files it (`core.audit.record` takes no lock)."""
    db.session.add(new_report_entry(report, actor))


def new_report_entry(report: Report, actor: Person | None) -> AuditEntry:
    """A new report's audit entry (not added): in the name of whoever sent or typed it, "sms" for
    a phone nobody registered."""
    return audit.entry("report.nil" if report.kind == "nil" else "report.create", "report", report.public_id,
                       after=shapes.report_snapshot(report) | {"channel": report.channel,
                                                                "received_at": report.received_at,
                                                                "message_id": report.message_id},
                       actor=actor if actor is not None else "sms", exercise_id=report.exercise_id)


def correct_report(person: Person, report_id: int | None, indicators: dict, narrative: str | None,
                   exercise_id: int | None) -> tuple[Report, str]:
    """`更正 R12 死亡1`: replace those indicators of that report (its author or a responder above).

    Raises service.ReportRefused: an unknown id, nothing to correct, or someone else's report.
    """
    report = db.session.get(Report, report_id) if report_id else None
    if report is not None and not saving.placed(report):  # a correction waits for its report
        settle_village(report.village_code)
    if report is None or report.exercise_id != exercise_id:
        raise service.ReportRefused(f"未找到报告R{report_id}，请核对编号。" if report_id
                                    else "请写明报告编号，例如: 更正 R12 死亡1")
    if report.author_id != person.id and not is_above(person, report.village):
        raise service.ReportRefused(f"您不能更正{report.public_id}：只有报送人或上级可以更正。")
    if report.kind == "nil":
        raise service.ReportRefused(f"{report.public_id}是零报告，请直接发送新的报告。")
    values = service.check_indicators(indicators or {})
    if not values and not (narrative or "").strip():
        raise service.ReportRefused(f"请写明更正后的数字，例如: 更正 {report.public_id} 死亡1")
    before = shapes.report_snapshot(report)
    incident = report.incident
    previous = incident.indicators if incident is not None else None
    report.set_indicators(values)
    if (narrative or "").strip():
        report.narrative = narrative.strip()[:200]
    report.status = ReportStatus.CORRECTED
    report.corrected_at = utcnow()
    latest = incident is not None and incident.latest_report_id == report.id
    if latest:
        incident.set_indicators(values)
        events.report_saved.send(report, incident=incident, previous=previous)
    audit.record("report.correct", "report", report.public_id, before=before,
                 after=shapes.report_snapshot(report) | {"incident_recomputed": latest},
                 actor=person, exercise_id=exercise_id)
    return report, f"已更正{report.public_id}: {format_figures(report.indicators) or '说明已更新'}。"


def submit_web_report(person: Person, *, kind: str | None, hazard: str | None, indicators: dict,
                      narrative: str | None) -> tuple[Report, str]:
    """The web form's report: the same flow as SMS with channel "web"; commits."""
    if person.role not in OFFICER_ROLES:
        raise PermissionError(NOT_OFFICER)
    command = ReportInput(kind="nil" if kind == "nil" else "report", report_kind=kind if kind != "nil" else None,
                          hazard=hazard or None, indicators=indicators, narrative=narrative or "")
    try:
        report, reply = submit_report(person, command, channel="web")
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    return report, reply
