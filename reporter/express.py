"""The webhook's express path for the SMS a flood morning is made of: an officer's disaster
report or nil report.

On PostgreSQL it stores the message and plans the report in three statements and the commit,
with SQLAlchemy Core and no ORM unit of work (a request through `reporter.intake`'s general
path costs two to four times the CPU, most of it in the ORM):

1. store the message (its provider id unique) and, in the same statement, find the sender, hold
   their village (`FOR NO KEY UPDATE`, the lock `reporter.saving` documents) and, for a drill
   message, find the drill running when it arrived;
2. after the lock, the village's state: whether it has reports still waiting for the intake
   processor, and unless it has, the report's id from its sequence; for a report, its open
   incidents and the township's first report in the county's open event (the late flag); for a
   nil report, today's nil report and whether an incident is open;
3. the report and the message's outcome in one statement (a nil report with its audit entry:
   it is done here, while a report is filed by the intake processor).

The decisions, texts and rows are the general path's own (`reporter.saving`, `shapes`,
`flows.new_report_entry`), so the reply, the report, the audit entry and the message come out
the same; a test compares the two. Anything else — another command, an unknown or non-officer
sender, a drill message with no drill running, a village with reports waiting, a report the
rules refuse, SQLite — is left to the general path: `handle` returns None having written nothing
(or rolled back what it wrote).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from flask import current_app
from sqlalchemy import BindParameter, Sequence, bindparam, case, exists, insert, literal, select, true, update

from core.exercises import LINEAGE_COLUMNS, drill_text, running_at_stmt
from core.extensions import db
from core.indicators import INDICATOR_KEYS
from core.localtime import local_date
from core.models import AuditEntry, Division, Person
from core.people import stored_phone
from core.roles import OFFICER_ROLES
from messaging.gateway import fit
from reporter import flows, grammar, saving, service, shapes, wakeups
from reporter.models import InboundMessage, Outcome, Report
from reporter.service import EVENT_WINDOW, ReportRefused

_REPORT_IDS = Sequence("reports_id_seq")  # the serial's sequence (PostgreSQL names it so)
# What `reporter.intake.receive_sms` gives a new message: the columns the store statement binds.
MESSAGE_COLUMNS = ("sid", "from_phone", "to_phone", "body", "raw", "received_at", "outcome", "review_status")


@dataclass(frozen=True)
class Planned:
    """What the express path stored, for `reporter.intake` to answer and commit."""

    reply: str
    person_id: int
    exercise_id: int | None
    pending: bool  # a report left for the intake processor (a nil report is done)


@dataclass(frozen=True)
class _OpenIncident:
    """What `saving.decide` reads of an open incident."""

    id: int
    hazard: str
    indicators: dict


def applies(command: grammar.Command) -> bool:
    config = current_app.config
    return ((command.kind == "nil" or (command.kind == "report" and config["INTAKE_DEFERRED"]))
            and config["INTAKE_EXPRESS"] and db.session.get_bind().dialect.name == "postgresql")


# The statements are built once, with bound parameters: building and keying statements this size
# cost SQLAlchemy about 4 ms a request, more than running them. They run on the session's
# connection, not through the session: the ORM's execution and row loading cost a fifth of the
# request's CPU (py-spy) and nothing here needs an object in the identity map.
_DIVISION = Division.__table__
_SENDER = (Person.id, Person.role, Person.name, Person.phone)


def _bound(column) -> BindParameter:
    return bindparam(f"{column.table.name}_{column.key}", type_=column.type)


def _values(table, row) -> dict:
    """`_bound`'s parameters from an unsaved ORM object (a column it lacks is NULL)."""
    return {f"{table.name}_{c.key}": row.__dict__.get(c.key) for c in table.columns}


@cache
def _store_stmt(drill: bool):
    """1: store the message; the sender and their village, held; (`drill`) the drill running then."""
    table = InboundMessage.__table__
    stored = (insert(table).values({c: _bound(table.c[c]) for c in MESSAGE_COLUMNS})
              .returning(table.c.id).cte("stored"))
    columns = [stored.c.id, *_SENDER, *_DIVISION.columns]
    if drill:
        running = running_at_stmt([_DIVISION.c[name] for name in LINEAGE_COLUMNS], bindparam("at"))
        columns.append(running.scalar_subquery())
    return (select(*columns)
            .select_from(stored).join(Person, true()).join(_DIVISION, _DIVISION.c.code == Person.division_code)
            .where(Person.phone == bindparam("phone"), Person.active.is_(True))
            .limit(1).with_for_update(of=_DIVISION, key_share=True))


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
    """2 (after the lock), a report: `_reserved`; the township's first report in the county's
    open event (`with_first`: the SMS names a hazard); the open incidents, real ones or
    (`drill`) those of the drill bound as "exercise"."""
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
    """2 (after the lock), a nil report: `_reserved` (an id taken for a repeat is left unused:
    a repeat is rare); today's nil report; whether an incident is open."""
    exercise = bindparam("exercise") if drill else None
    reserved = _reserved()
    today = saving.todays_nil_stmt(bindparam("village"), bindparam("today", type_=Report.report_date.type), exercise)
    return select(reserved.c.report_id, reserved.c.waiting, today.scalar_subquery(),
                  exists(service.open_incidents_stmt(bindparam("village"), exercise))).select_from(reserved)


def _outcome_stmt(outcome: Outcome):
    messages = InboundMessage.__table__
    return (update(messages).where(messages.c.id == bindparam("message_id"))
            .values(person_id=bindparam("person_id"), report_id=bindparam("report_id"),
                    exercise_id=bindparam("exercise_id"), outcome=outcome, reply=bindparam("reply")))


def _inserted(table, name: str, *, with_id: bool):
    """An INSERT of one row of `table` from `_values`, as a CTE (`with_id`: the reserved id)."""
    return insert(table).values({c.key: _bound(c) for c in table.columns if with_id or c.key != "id"}).cte(name)


@cache
def _report_plan_stmt():
    """3, a report: the report, and the message's outcome and reply; the processors woken at the commit."""
    return (_outcome_stmt(Outcome.PENDING).add_cte(_inserted(Report.__table__, "planned", with_id=True))
            .returning(wakeups.notification()))  # the processors' wake-up, at the commit


@cache
def _nil_plan_stmt(new: bool):
    """3, a nil report: (`new`) the report and its audit entry; the message's outcome and reply."""
    stmt = _outcome_stmt(Outcome.NIL)
    if not new:
        return stmt
    return (stmt.add_cte(_inserted(Report.__table__, "filed", with_id=True))
            .add_cte(_inserted(AuditEntry.__table__, "audited", with_id=False)))


@dataclass(frozen=True)
class _Sender:
    message_id: int
    person: Person      # never added to the session: id, role, name, phone
    village: Division   # the same
    exercise_id: int | None


def handle(message: InboundMessage, command: grammar.Command) -> Planned | None:
    """Store and plan an officer's report or nil report, not yet committed; or None, with
    nothing written, for the general path to handle the message."""
    if not applies(command):
        return None
    table = InboundMessage.__table__
    params = {f"{table.name}_{c}": getattr(message, c) for c in MESSAGE_COLUMNS}
    row = db.session.connection().execute(_store_stmt(command.drill), params | {
        "phone": stored_phone(message.from_phone), "at": message.received_at}).first()
    if row is None or row[2] not in OFFICER_ROLES or (command.drill and row[-1] is None):
        db.session.rollback()  # unknown, not an officer, no drill running: the general path answers (it stores again)
        return None
    person = Person(**dict(zip(("id", "role", "name", "phone"), row[1:5], strict=True)))
    division = row[5:5 + len(_DIVISION.columns)]
    sender = _Sender(row[0], person, Division(**dict(zip(_DIVISION.columns.keys(), division, strict=True))),
                     row[-1] if command.drill else None)
    try:
        if command.kind == "nil":
            return _plan_nil(message, command, sender)
        return _plan_report(message, command, sender)
    except _NotExpress:
        db.session.rollback()
        return None


class _NotExpress(Exception):
    """The general path must handle this message (it has reports waiting, or it is refused)."""


def _state(stmt, sender: _Sender, **params) -> list:
    rows = db.session.connection().execute(stmt, {"village": sender.village.code, "exercise": sender.exercise_id,
                                                  **params}).all()
    if rows[0][1]:
        raise _NotExpress  # reports waiting: the general path files them first (`flows.settle_village`)
    return rows


def _reply(text: str, command: grammar.Command, sender: _Sender) -> str:
    return fit(drill_text(shapes.with_problems(text, command.problems), sender.exercise_id))


def _plan_report(message: InboundMessage, command: grammar.Command, sender: _Sender) -> Planned:
    now, village, exercise_id = message.received_at, sender.village, sender.exercise_id
    with_first = bool(command.hazard and village.township_code)
    rows = _state(_report_state_stmt(with_first, exercise_id is not None), sender,
                  county=village.county_code or village.code, township=village.township_code, hazard=command.hazard,
                  since=now - EVENT_WINDOW)
    report_id, first_at = rows[0][0], rows[0][2]
    open_ = [_OpenIncident(r[3], r[4], {k: v for k, v in zip(INDICATOR_KEYS, r[5:], strict=True) if v is not None})
             for r in rows if r[3] is not None]
    try:
        plan = saving.decide(kind=command.report_kind, hazard=command.hazard, indicators=command.indicators,
                             narrative=command.narrative, incidents=open_)
    except ReportRefused as exc:
        raise _NotExpress from exc  # kept for review with the reason, by the general path
    if plan.incident is None and plan.hazard == command.hazard and saving.late(first_at, now):
        plan.flags.append("late")
    report = saving.new_report(plan, village=village, author_id=sender.person.id, channel="sms",
                               message_id=sender.message_id, exercise_id=exercise_id, now=now)
    report.id = report_id
    if plan.incident is not None:
        report.incident_id = plan.incident.id
    reply = _reply(shapes.confirmation_text(report, village=village), command, sender)
    _record(_report_plan_stmt(), sender, report_id, reply, _values(Report.__table__, report))
    return Planned(reply, sender.person.id, exercise_id, pending=True)


def _plan_nil(message: InboundMessage, command: grammar.Command, sender: _Sender) -> Planned:
    """`flows.submit_report`'s nil report, which is done in the request on either path."""
    now, village = message.received_at, sender.village
    [(report_id, _waiting, existing_id, incident_open)] = _state(_nil_state_stmt(sender.exercise_id is not None),
                                                                 sender, today=local_date(now))
    if existing_id is not None:
        reply = _reply(shapes.nil_repeat_text(Report(id=existing_id), village), command, sender)
        _record(_nil_plan_stmt(False), sender, existing_id, reply)
    else:
        report = saving.new_nil_report(village=village, author_id=sender.person.id, hazard=command.hazard,
                                       narrative=command.narrative, channel="sms", message_id=sender.message_id,
                                       exercise_id=sender.exercise_id, now=now, incident_open=incident_open)
        report.id = report_id
        reply = _reply(shapes.nil_received_text(report, village), command, sender)
        entry = flows.new_report_entry(report, sender.person)
        _record(_nil_plan_stmt(True), sender, report_id, reply,
                _values(Report.__table__, report) | _values(AuditEntry.__table__, entry))
    return Planned(reply, sender.person.id, sender.exercise_id, pending=False)


def _record(stmt, sender: _Sender, report_id: int, reply: str, rows: dict | None = None) -> None:
    db.session.connection().execute(stmt, (rows or {}) | {
        "message_id": sender.message_id, "person_id": sender.person.id, "report_id": report_id, "reply": reply,
        "exercise_id": sender.exercise_id})

