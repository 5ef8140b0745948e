"""Reporting workflows: one inbound SMS end to end, web reports, corrections (SPEC §3, §4).

Each public function is one transaction: it commits what it did (or nothing) so a route, a job,
the spool replay and the CLI can all call it the same way. Review workflows live in
`reporter.review` and are re-exported here, so callers only need `reporter.flows`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

import dispatch.flows
import shelters.flows
from core import audit
from core.extensions import db
from core.gateway import fit
from core.models import Person, utcnow
from core.people import by_phone, try_normalise_phone
from core.scope import is_above
from drills.service import DRILL_PREFIX, running_exercise_for
from reporter import grammar, service
from reporter.attribution import attribute_unknown_sender
from reporter.models import InboundMessage, Report
from reporter.review import (  # noqa: F401  (re-exported: the board calls reporter.flows.*)
    close_event,
    close_incident,
    convert_message,
    dismiss_message,
    review_report,
    set_daily_report,
)
from reporter.service import ReportRefused

log = logging.getLogger("zaibao.reporter")

OFFICER_ROLES = ("officer_a", "officer_b")
UNKNOWN_SENDER = "您的号码未登记为灾害信息员，请联系乡镇应急办。"
NO_DRILL = "当前没有进行中的演练，这条演练短信未处理。"
NOT_OFFICER = "只有村灾害信息员可以报送灾情。"
TROUBLE = "已收到，系统暂时无法自动处理，已转人工核实。"


def _clean(text: object, limit: int | None = None) -> str:
    """Text as PostgreSQL can store it: no NUL characters (a broken gateway may send them)."""
    value = ("" if text is None else str(text)).replace("\x00", "\ufffd")
    return value[:limit] if limit else value


def message_sid(form: Mapping[str, str]) -> str:
    """The gateway's MessageSid; a signed request without one gets a stable id from its content,
    so that a retry of the same request is still recognised as a repeat."""
    sid = _clean(form.get("MessageSid") or form.get("SmsSid") or "", 64).strip()
    if sid:
        return sid
    digest = hashlib.sha256(json.dumps(sorted(form.items()), ensure_ascii=False).encode()).hexdigest()
    return "NOSID" + digest[:40]


def stored_reply(sid: str) -> str | None:
    """The reply already given to this MessageSid (a repeat answers the same and changes nothing)."""
    return db.session.scalar(select(InboundMessage.reply).where(InboundMessage.sid == sid))


def receive_sms(form: Mapping[str, str], *, received_at: datetime | None = None, replayed: bool = False) -> str:
    """Store the SMS first, then handle it; returns the reply text (≤ 2 segments).

    Raises OperationalError when the database is unreachable: the caller spools the request.
    `replayed` (from the spool) also sends the reply by SMS, since the officer only got "稍后处理".
    """
    sid = message_sid(form)
    raw = {_clean(k, 100): _clean(v, 2000) for k, v in form.items()}
    message = InboundMessage(sid=sid, from_phone=_clean(form.get("From"), 40), to_phone=_clean(form.get("To"), 40),
                             body=_clean(form.get("Body")), raw=raw, received_at=received_at or utcnow(),
                             outcome="pending", review_status="none")
    db.session.add(message)
    try:
        db.session.flush()  # the unique sid: a repeat (even a concurrent one) fails here
    except IntegrityError:
        db.session.rollback()
        return stored_reply(sid) or TROUBLE
    try:
        reply = _handle(message)
        if replayed:
            _send_late_reply(message, reply)
        db.session.commit()
        return reply
    except OperationalError:
        db.session.rollback()
        raise
    except Exception:
        # A bug must not lose the message: keep it for a person to read, answer honestly.
        log.exception("handling SMS %s failed; kept for review", sid)
        db.session.rollback()
        return _keep_for_review(form, sid, raw, received_at)


def _keep_for_review(form: Mapping[str, str], sid: str, raw: dict, received_at: datetime | None) -> str:
    phone, body = _clean(form.get("From"), 40), _clean(form.get("Body"))
    message = InboundMessage(sid=sid, from_phone=phone, to_phone=_clean(form.get("To"), 40), body=body, raw=raw,
                             received_at=received_at or utcnow(), outcome="unparsed", review_status="pending",
                             reply=TROUBLE, review_note="自动处理出错，见日志", division_code=_place_kept(phone, body))
    db.session.add(message)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return stored_reply(sid) or TROUBLE
    return TROUBLE


def _place_kept(phone: str, body: str) -> str | None:
    """Where a message kept after a failure is scoped (it has no person): its sender's division if
    the phone is an active person's, else as for an unknown sender. Placing it must not lose it."""
    try:
        person = by_phone(phone) if phone else None
        return person.division_code if person is not None else attribute_unknown_sender(phone, body)
    except Exception:
        log.exception("placing the kept SMS failed; it stays for province staff")
        db.session.rollback()
        return None


def _send_late_reply(message: InboundMessage, reply: str) -> None:
    from dispatch.outbox import queue_sms

    phone = try_normalise_phone(message.from_phone)
    if phone:
        queue_sms(phone, reply, purpose="notice", person=message.person, exercise_id=message.exercise_id)


def _handle(message: InboundMessage) -> str:
    """Route the command; sets outcome, reply, person, report and exercise on the message.

    The message's new fields are set only at the end (`_finish`), so they go out in one UPDATE
    at commit instead of being autoflushed by every query on the way.
    """
    person = by_phone(message.from_phone) if message.from_phone else None  # active people only
    if person is None:  # scoped by where it can be placed, or seen by the province only
        division_code = attribute_unknown_sender(message.from_phone, message.body)
        return _finish(message, "unknown_sender", UNKNOWN_SENDER, review=True, division_code=division_code)
    command = grammar.parse(message.body)
    exercise_id = None
    if command.drill:
        # The drill running when the message ARRIVED: a spooled message replayed after the drill
        # ended still belongs to it.
        exercise = running_exercise_for(person.division, at=message.received_at)
        if exercise is None:
            return _finish(message, "rejected", NO_DRILL, person=person)
        exercise_id = exercise.id
    try:
        outcome, reply, report_id, review = _route(person, command, message, exercise_id)
    except (PermissionError, ValueError) as exc:  # another part refused the command: tell the sender
        outcome, reply, report_id, review = "rejected", str(exc) or grammar.HELP_TEXT, None, False
    return _finish(message, outcome, reply, review=review, person=person, exercise_id=exercise_id,
                   report_id=report_id)


def _finish(message: InboundMessage, outcome: str, reply: str, *, review: bool = False, person: Person | None = None,
            exercise_id: int | None = None, report_id: int | None = None, division_code: str | None = None) -> str:
    if division_code is not None:
        message.division_code = division_code
    if exercise_id is not None and not reply.startswith(DRILL_PREFIX):
        reply = DRILL_PREFIX + reply
    if person is not None:
        message.person_id, message.person = person.id, person
    message.exercise_id, message.report_id = exercise_id, report_id
    message.outcome = outcome
    message.reply = fit(reply)
    if review:
        message.review_status = "pending"
    return message.reply


def _route(person: Person, command, message: InboundMessage,
           exercise_id: int | None) -> tuple[str, str, int | None, bool]:
    """(outcome, reply, report id, needs review) for one parsed command."""
    kind = command.kind
    if kind == "help":
        return "help", grammar.HELP_TEXT, None, False
    if kind == "ack":
        return "ack", dispatch.flows.acknowledge_by_sms(person, command.target_id, exercise_id), None, False
    if kind == "shelter_query":
        return "shelter_query", shelters.flows.sms_query(person, command.value, exercise_id), None, False
    if kind == "shelter_update":
        done, reply = shelters.flows.sms_update(person, command.shelter_code, command.shelter_action,
                                                command.value, exercise_id)
        return ("shelter_update" if done else "rejected"), reply, None, False
    if kind == "correction":
        try:
            report, reply = correct_report(person, command.target_id, command.indicators, command.narrative,
                                           exercise_id)
        except (ReportRefused, PermissionError) as exc:
            return "rejected", str(exc), None, False
        return "correction", reply, report.id, False
    if kind in ("report", "nil"):
        if person.role not in OFFICER_ROLES:
            return "rejected", NOT_OFFICER, None, False
        try:
            report, reply = submit_report(person, command, channel="sms", message=message, exercise_id=exercise_id)
        except ReportRefused as exc:
            return "unparsed", f"{exc}", None, True
        if command.problems:  # parts the grammar had to ignore: say so, the officer can resend them
            reply += "注意: " + "；".join(command.problems)
        return kind, reply, report.id, False
    problems = "；".join(command.problems)
    reply = f"未能识别: {problems}。{grammar.HELP_TEXT}" if problems else f"未能识别。{grammar.HELP_TEXT}"
    return "unparsed", reply, None, True


# ---- reports (SMS, web, review conversion) ---------------------------------------------------

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
    now = message.received_at if message is not None else utcnow()
    actor = actor or author
    if command.kind == "nil" or command.report_kind == "nil":
        report, new = service.nil_report(village=village, author=author, hazard=command.hazard,
                                         narrative=command.narrative, channel=channel, message=message,
                                         exercise_id=exercise_id, now=now)
        if new:
            _audit_new(report, actor)
            return report, f"已收到{village.name}今日零报告{report.public_id}，谢谢。"
        return report, f"{village.name}今日零报告已收到({report.public_id})，无需重复发送。"
    saved = service.save_report(village=village, author=author, kind=command.report_kind, hazard=command.hazard,
                                indicators=command.indicators, narrative=command.narrative, channel=channel,
                                message=message, exercise_id=exercise_id, now=now)
    dispatch.flows.after_report_saved(saved.report, saved.incident, saved.previous)
    _audit_new(saved.report, actor)
    return saved.report, service.confirmation_text(saved.report)


def _audit_new(report: Report, actor: Person | None) -> None:
    """The report's creation entry, in the transaction that saves it (`core.audit.record` takes no
    lock): in the name of whoever sent or typed it, "sms" for a phone nobody registered."""
    db.session.flush()
    who = actor if actor is not None else "sms"
    audit.record("report.nil" if report.kind == "nil" else "report.create", "report", report.public_id,
                 after=service.report_snapshot(report) | {"channel": report.channel, "received_at": report.received_at,
                                                          "message_id": report.message_id},
                 actor=who, exercise_id=report.exercise_id)


def correct_report(person: Person, report_id: int | None, indicators: dict, narrative: str | None,
                   exercise_id: int | None) -> tuple[Report, str]:
    """`更正 R12 死亡1`: replace those indicators of that report (its author or a responder above).

    Raises ReportRefused (unknown id, nothing to correct) or PermissionError (someone else's).
    """
    report = db.session.get(Report, report_id) if report_id else None
    if report is None or report.exercise_id != exercise_id:
        raise ReportRefused(f"未找到报告R{report_id}，请核对编号。" if report_id
                            else "请写明报告编号，例如: 更正 R12 死亡1")
    if report.author_id != person.id and not is_above(person, report.village):
        raise PermissionError(f"您不能更正{report.public_id}：只有报送人或上级可以更正。")
    if report.kind == "nil":
        raise ReportRefused(f"{report.public_id}是零报告，请直接发送新的报告。")
    values = service.check_indicators(indicators or {})
    if not values and not (narrative or "").strip():
        raise ReportRefused(f"请写明更正后的数字，例如: 更正 {report.public_id} 死亡1")
    before = service.report_snapshot(report)
    incident = report.incident
    previous = incident.indicators if incident is not None else None
    report.set_indicators(values)
    if (narrative or "").strip():
        report.narrative = narrative.strip()[:200]
    report.status = "corrected"
    report.corrected_at = utcnow()
    latest = incident is not None and incident.latest_report_id == report.id
    if latest:
        incident.set_indicators(values)
        dispatch.flows.after_report_saved(report, incident, previous)
    audit.record("report.correct", "report", report.public_id, before=before,
                 after=service.report_snapshot(report) | {"incident_recomputed": latest},
                 actor=person, exercise_id=exercise_id)
    from core.indicators import format_figures

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
