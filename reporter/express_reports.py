"""The express path (`reporter.express`) of an officer's disaster report and nil report.

After `express.store` has held the village:

2. the village's state: whether it has reports still waiting for the intake processor, and
   unless it has, the report's id from its sequence; for a report, its open incidents and the
   township's first report in the county's open event (the late flag); for a nil report,
   today's nil report and whether an incident is open;
3. the report and the message's outcome in one statement (a nil report with its audit entry:
   it is done here, while a report is filed by the intake processor).

The decisions, texts and rows are the general path's (`reporter.saving`, `shapes`,
`flows.new_report_entry`). A sender who is not an officer, a village with reports waiting and a
report the rules refuse are left to the general path.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from flask import Flask, current_app
from sqlalchemy import Sequence, bindparam, case, exists, literal, select, true

from core.indicators import INDICATOR_KEYS
from core.localtime import local_date
from core.models import AuditEntry
from core.roles import OFFICER_ROLES
from reporter import express, flows, grammar, saving, service, shapes, wakeups
from reporter.express import Planned, Sender
from reporter.models import InboundMessage, Outcome, Report
from reporter.service import EVENT_WINDOW, ReportRefused

_REPORT_IDS = Sequence("reports_id_seq")  # the serial's sequence (PostgreSQL names it so)


def init_app(app: Flask) -> None:
    express.register(app, "report", plan_report, hold_division=True,
                     when=lambda _command: current_app.config["INTAKE_DEFERRED"])
    express.register(app, "nil", plan_nil, hold_division=True)


@dataclass(frozen=True)
class _OpenIncident:
    """What `saving.decide` reads of an open incident."""

    id: int
    hazard: str
    indicators: dict


def _reserved():
    """Whether the village has reports waiting and, unless it has, a new report id: each
    evaluated once (MATERIALIZED), however many rows the statement joins them to. Reading the
    pending index costs more the longer the backlog, so that is when it must not be read twice."""
    waiting = (select(exists(service.waiting_stmt(bindparam("village"))).label("waiting"))
               .cte("waiting").prefix_with("MATERIALIZED"))
    return (select(waiting.c.waiting, case((~waiting.c.waiting, _REPORT_IDS.next_value())).label("report_id"))
            .cte("reserved").prefix_with("MATERIALIZED"))


@cache
def _report_state_stmt(with_first: bool, drill: bool):
    """2, a report: `_reserved`; the township's first report in the county's open event
    (`with_first`: the SMS names a hazard); the open incidents, real ones or (`drill`) those of
    the drill bound as "exercise"."""
    exercise = bindparam("exercise") if drill else None
    reserved = _reserved()
    incidents = service.open_incidents_stmt(bindparam("village"), exercise).subquery()
    first = (saving.first_report_stmt(bindparam("county"), bindparam("township"), bindparam("hazard"), exercise,
                                      bindparam("since", type_=Report.received_at.type)).scalar_subquery()
             if with_first else literal(None))
    return (select(reserved.c.report_id, reserved.c.waiting, first,
                   incidents.c.id, incidents.c.hazard, *[incidents.c[k] for k in INDICATOR_KEYS])
            .select_from(reserved).outerjoin(incidents, true()).order_by(incidents.c.id))


@cache
def _nil_state_stmt(drill: bool):
    """2, a nil report: `_reserved` (an id taken for a repeat is left unused: a repeat is rare);
    today's nil report; whether an incident is open."""
    exercise = bindparam("exercise") if drill else None
    reserved = _reserved()
    today = saving.todays_nil_stmt(bindparam("village"), bindparam("today", type_=Report.report_date.type), exercise)
    return select(reserved.c.report_id, reserved.c.waiting, today.scalar_subquery(),
                  exists(service.open_incidents_stmt(bindparam("village"), exercise))).select_from(reserved)


@cache
def _report_plan_stmt():
    """3, a report: the report, and the message's outcome and reply; the processors woken at the commit."""
    return (express.outcome_stmt(Outcome.PENDING)
            .add_cte(express.inserted(Report.__table__, "planned", with_id=True))
            .returning(wakeups.notification()))  # the processors' wake-up, at the commit


@cache
def _nil_plan_stmt(new: bool):
    """3, a nil report: (`new`) the report and its audit entry; the message's outcome and reply."""
    stmt = express.outcome_stmt(Outcome.NIL)
    if not new:
        return stmt
    return (stmt.add_cte(express.inserted(Report.__table__, "filed", with_id=True))
            .add_cte(express.inserted(AuditEntry.__table__, "audited", with_id=False)))


def _state(stmt, sender: Sender, **params) -> list | None:
    """The village's state, or None if reports wait (the general path files them first,
    `flows.settle_village`) or the sender is no officer (the general path says so)."""
    if sender.person.role not in OFFICER_ROLES:
        return None
    rows = express.run(stmt, {"village": sender.division.code, "exercise": sender.exercise_id, **params}).all()
    return None if rows[0][1] else rows


def _reply(text: str, command: grammar.Command, sender: Sender) -> str:
    return express.reply_text(shapes.with_problems(text, command.problems), sender)


def plan_report(message: InboundMessage, command: grammar.Command, sender: Sender) -> Planned | None:
    """An officer's report, planned: filed later by the intake processor."""
    now, village, exercise_id = message.received_at, sender.division, sender.exercise_id
    with_first = bool(command.hazard and village.township_code)
    rows = _state(_report_state_stmt(with_first, exercise_id is not None), sender,
                  county=village.county_code or village.code, township=village.township_code, hazard=command.hazard,
                  since=now - EVENT_WINDOW)
    if rows is None:
        return None
    report_id, first_at = rows[0][0], rows[0][2]
    open_ = [_OpenIncident(r[3], r[4], {k: v for k, v in zip(INDICATOR_KEYS, r[5:], strict=True) if v is not None})
             for r in rows if r[3] is not None]
    try:
        plan = saving.decide(kind=command.report_kind, hazard=command.hazard, indicators=command.indicators,
                             narrative=command.narrative, incidents=open_)
    except ReportRefused:
        return None  # kept for review with the reason, by the general path
    if plan.incident is None and plan.hazard == command.hazard and saving.late(first_at, now):
        plan.flags.append("late")
    report = saving.new_report(plan, village=village, author_id=sender.person.id, channel="sms",
                               message_id=sender.message_id, exercise_id=exercise_id, now=now)
    report.id = report_id
    if plan.incident is not None:
        report.incident_id = plan.incident.id
    reply = _reply(shapes.confirmation_text(report, village=village), command, sender)
    express.run(_report_plan_stmt(),
                express.values(Report.__table__, report) | express.outcome_params(sender, reply, report_id))
    return Planned(reply, sender.person.id, exercise_id)


def plan_nil(message: InboundMessage, command: grammar.Command, sender: Sender) -> Planned | None:
    """`flows.submit_report`'s nil report, which is done in the request on either path."""
    now, village = message.received_at, sender.division
    rows = _state(_nil_state_stmt(sender.exercise_id is not None), sender, today=local_date(now))
    if rows is None:
        return None
    [(report_id, _waiting, existing_id, incident_open)] = rows
    if existing_id is not None:
        reply = _reply(shapes.nil_repeat_text(Report(id=existing_id), village), command, sender)
        express.run(_nil_plan_stmt(False), express.outcome_params(sender, reply, existing_id))
        return Planned(reply, sender.person.id, sender.exercise_id)
    report = saving.new_nil_report(village=village, author_id=sender.person.id, hazard=command.hazard,
                                   narrative=command.narrative, channel="sms", message_id=sender.message_id,
                                   exercise_id=sender.exercise_id, now=now, incident_open=incident_open)
    report.id = report_id
    reply = _reply(shapes.nil_received_text(report, village), command, sender)
    entry = flows.new_report_entry(report, sender.person)
    express.run(_nil_plan_stmt(True), express.values(Report.__table__, report)
                | express.values(AuditEntry.__table__, entry) | express.outcome_params(sender, reply, report_id))
    return Planned(reply, sender.person.id, sender.exercise_id)
