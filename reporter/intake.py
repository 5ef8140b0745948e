"""Intake: one inbound SMS end to end — stored first, parsed, routed to the part that answers it.

`receive_sms` is one transaction: it commits what it did (or nothing) so the webhook, the spool
replay and the CLI all call it the same way. A disaster report is only planned here (kind,
flags, id: what the reply says) and filed by the intake processor (`reporter.processing`).
Commands are routed through `reporter.commands`, which each part fills at app creation (`收到`
is dispatch's, `避难` shelters').
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from datetime import datetime

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from core import timelimit
from core.exercises import DRILL_PREFIX, drill_text, running_exercise_id
from core.extensions import db
from core.models import Person, utcnow
from core.people import by_phone, try_normalise_phone
from core.refusals import Refusal
from core.roles import OFFICER_ROLES
from core.timelimit import TooSlow
from messaging.gateway import fit
from messaging.outbox import queue_sms
from reporter import express, flows, grammar, shapes, wakeups
from reporter.attribution import attribute_unknown_sender
from reporter.commands import Handled, handler_for, register
from reporter.models import InboundMessage, Outcome, ReviewState
from reporter.service import ReportRefused

log = logging.getLogger("zaibao.reporter")

UNKNOWN_SENDER = "您的号码未登记为灾害信息员，请联系乡镇应急办。"
NO_DRILL = "当前没有进行中的演练，这条演练短信未处理。"
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


def receive_sms(form: Mapping[str, str], *, received_at: datetime | None = None, replayed: bool = False,
                reply_by_sms: bool = False) -> str:
    """Store the SMS first, then handle it; returns the reply text (≤ 2 segments).

    `form` holds From, To, Body and the provider's message id (MessageSid). Raises
    OperationalError when the database is unreachable: the caller spools the request.
    `replayed` (from the spool) also sends the reply by SMS, since the officer only got "稍后处理";
    so does `reply_by_sms`, for providers whose push cannot carry a reply (Aliyun, Tencent).
    A repeat of a stored message id changes nothing and sends nothing.
    """
    sid = message_sid(form)
    raw = {_clean(k, 100): _clean(v, 2000) for k, v in form.items()}
    message = InboundMessage(sid=sid, from_phone=_clean(form.get("From"), 40), to_phone=_clean(form.get("To"), 40),
                             body=_clean(form.get("Body")), raw=raw, received_at=received_at or utcnow(),
                             outcome=Outcome.PENDING, review_status=ReviewState.NONE)
    try:
        planned, command = _express(message)  # None: not an officer's report
        if planned is None:
            db.session.add(message)
            db.session.flush()  # the unique sid: a repeat (even a concurrent one) fails here
    except IntegrityError:
        db.session.rollback()
        return stored_reply(sid) or TROUBLE
    try:
        if planned is not None:
            if replayed or reply_by_sms:
                _send_late_reply(message.from_phone, planned.reply, db.session.get(Person, planned.person_id),
                                 planned.exercise_id)
            db.session.commit()  # a report's statement woke the processors (`reporter.wakeups`)
            return planned.reply
        reply = _handle(message, command)
        if replayed or reply_by_sms:
            _send_late_reply(message.from_phone, reply, message.person, message.exercise_id)
        waiting = message.outcome == Outcome.PENDING  # a report left for the intake processor
        if waiting:
            wakeups.announce()
        db.session.commit()
        if waiting:
            wakeups.ring()
        return reply
    except TooSlow:
        raise  # the store limit: the caller drops the connection and spools the request
    except OperationalError:
        db.session.rollback()
        raise
    except Exception:
        if timelimit.expired():
            raise  # the store limit interrupted it (reported as TooSlow): the caller spools
        # A bug must not lose the message: keep it for a person to read, answer honestly.
        log.exception("handling SMS %s failed; kept for review", sid)
        db.session.rollback()
        return _keep_for_review(form, sid, raw, received_at)


def _express(message: InboundMessage) -> tuple[express.Planned | None, grammar.Command | None]:
    """`reporter.express` for the commands registered on it, and the parsed command for the general
    path (None if parsing failed: the general path parses again and keeps the message for review).
    A fault there that is not the database being down (that one spools) hands the message to the
    general path, which keeps it for review if it fails too: a message is never lost to a bug on
    the fast path."""
    command = None
    try:
        command = grammar.parse(message.body)
        return express.handle(message, command), command
    except (IntegrityError, OperationalError, TooSlow):
        raise  # a repeat; the database down or hung (the caller spools)
    except Exception:  # noqa: BLE001
        if timelimit.expired():
            raise  # the store limit interrupted it: the caller spools
        log.exception("express path failed for SMS %s; the general path takes it", message.sid)
        db.session.rollback()
        return None, command


def replay_spooled(form: dict, received_at: datetime) -> None:
    """A webhook kept in the spool while the database was down: handled as it arrived, and the
    officer, who was only told "稍后处理", gets the reply by SMS."""
    receive_sms(form, received_at=received_at, replayed=True)


def _keep_for_review(form: Mapping[str, str], sid: str, raw: dict, received_at: datetime | None) -> str:
    phone, to_phone, body = _clean(form.get("From"), 40), _clean(form.get("To"), 40), _clean(form.get("Body"))
    message = InboundMessage(sid=sid, from_phone=phone, to_phone=to_phone, body=body, raw=raw,
                             received_at=received_at or utcnow(), outcome=Outcome.UNPARSED,
                             review_status=ReviewState.PENDING, reply=TROUBLE, review_note="自动处理出错，见日志",
                             division_code=_place_kept(phone, body, to_phone))
    db.session.add(message)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return stored_reply(sid) or TROUBLE
    return TROUBLE


def _place_kept(phone: str, body: str, to_phone: str | None = None) -> str | None:
    """Where a message kept after a failure is scoped (it has no person): its sender's division if
    the phone is an active person's, else as for an unknown sender. Placing it must not lose it."""
    try:
        person = by_phone(phone) if phone else None
        return person.division_code if person is not None else attribute_unknown_sender(phone, body, to_phone)
    except Exception:
        log.exception("placing the kept SMS failed; it stays for province staff")
        db.session.rollback()
        return None


def _send_late_reply(from_phone: str, reply: str, person: Person | None, exercise_id: int | None) -> None:
    phone = try_normalise_phone(from_phone)
    if phone:
        queue_sms(phone, reply, purpose="notice", person=person, exercise_id=exercise_id)


def _handle(message: InboundMessage, command: grammar.Command | None = None) -> str:
    """Route the command; sets outcome, reply, person, report and exercise on the message.

    The message's new fields are set only at the end (`_finish`), so they go out in one UPDATE
    at commit instead of being autoflushed by every query on the way.
    """
    person = by_phone(message.from_phone) if message.from_phone else None  # active people only
    if person is None:  # scoped by where it can be placed, or seen by the province only
        division_code = attribute_unknown_sender(message.from_phone, message.body, message.to_phone)
        return _finish(message, Outcome.UNKNOWN_SENDER, UNKNOWN_SENDER, review=True, division_code=division_code)
    command = command or grammar.parse(message.body)
    exercise_id = None
    if command.drill:
        # The drill running when the message ARRIVED: a spooled message replayed after the drill
        # ended still belongs to it.
        exercise_id = running_exercise_id(person.division, at=message.received_at)
        if exercise_id is None:
            return _finish(message, Outcome.REJECTED, NO_DRILL, person=person)
    handler = handler_for(command.kind)
    if handler is None:
        handled = not_understood(command)
    else:
        try:
            handled = handler(person, command, message, exercise_id)
        except Refusal as exc:  # our own rules said no, in words for the sender
            handled = Handled(Outcome.REJECTED, str(exc) or grammar.HELP_TEXT)
        # Anything else is a bug: it reaches receive_sms, which logs it and keeps the message.
    return _finish(message, handled.outcome, handled.reply, review=handled.review, person=person,
                   exercise_id=exercise_id, report_id=handled.report_id)


def _finish(message: InboundMessage, outcome: str, reply: str, *, review: bool = False, person: Person | None = None,
            exercise_id: int | None = None, report_id: int | None = None, division_code: str | None = None) -> str:
    if division_code is not None:
        message.division_code = division_code
    reply = drill_text(reply, exercise_id)
    if person is not None:
        message.person_id, message.person = person.id, person
    message.exercise_id, message.report_id = exercise_id, report_id
    message.outcome = outcome
    message.reply = fit(reply)
    if review:
        message.review_status = ReviewState.PENDING
    return message.reply


# SPEC §3.3: a reply is at most 2 UCS-2 segments (134 characters), 【演练】 included in a drill.
_UNPARSED_REPLY_MAX = 134 - len(DRILL_PREFIX)


def not_understood(command: grammar.Command) -> Handled:
    """What nobody could handle: what the grammar could not read, the short syntax, and a review.

    The problems are cut (…) rather than the syntax, so the officer always gets the syntax whole."""
    if not command.problems:
        return Handled(Outcome.UNPARSED, f"未能识别。{grammar.HELP_TEXT}", review=True)
    room = _UNPARSED_REPLY_MAX - len(f"未能识别: 。{grammar.HELP_TEXT}")
    problems = "；".join(command.problems)
    if len(problems) > room:
        problems = problems[:room - 1] + "…"
    return Handled(Outcome.UNPARSED, f"未能识别: {problems}。{grammar.HELP_TEXT}", review=True)


# ---- reporter's own commands (registered in `reporter.init_app`) ------------------------------

def handle_help(_person: Person, _command: grammar.Command, _message: InboundMessage,
                _exercise_id: int | None) -> Handled:
    return Handled(Outcome.HELP, grammar.HELP_TEXT)


def handle_report(person: Person, command: grammar.Command, message: InboundMessage,
                  exercise_id: int | None) -> Handled:
    """A report or nil report (officers only); a refused one waits for review."""
    if person.role not in OFFICER_ROLES:
        return Handled(Outcome.REJECTED, flows.NOT_OFFICER)
    # A disaster report is filed by the intake processor after the answer (SPEC §3.3's reply needs
    # only the planned report); a nil report is one row and stays here.
    deferred = command.kind == "report" and current_app.config["INTAKE_DEFERRED"]
    try:
        if deferred:
            report, reply = flows.reserve_report(person, command, channel="sms", message=message,
                                                 exercise_id=exercise_id)
        else:
            report, reply = flows.submit_report(person, command, channel="sms", message=message,
                                                exercise_id=exercise_id)
    except ReportRefused as exc:
        return Handled(Outcome.UNPARSED, str(exc), review=True)
    return Handled(Outcome.PENDING if deferred else Outcome(command.kind),
                   shapes.with_problems(reply, command.problems), report.id)


def handle_correction(person: Person, command: grammar.Command, _message: InboundMessage,
                      exercise_id: int | None) -> Handled:
    report, reply = flows.correct_report(person, command.target_id, command.indicators, command.narrative,
                                         exercise_id)
    return Handled(Outcome.CORRECTION, reply, report.id)


def register_commands(app: Flask) -> None:
    register(app, "help", handle_help)
    register(app, "report", handle_report)
    register(app, "nil", handle_report)
    register(app, "correction", handle_correction)
