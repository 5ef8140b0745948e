"""The webhook's express path for the SMS a flood morning is made of: an officer's disaster report.

On PostgreSQL it stores the message and plans the report in three statements and the commit,
with SQLAlchemy Core and no ORM unit of work (a request through `reporter.intake`'s general
path costs about four times the CPU, most of it in the ORM):

1. store the message (its provider id unique) and, in the same statement, find the sender and
   hold their village (`FOR NO KEY UPDATE`, the lock `reporter.saving` documents);
2. after the lock: whether the village has reports still waiting for the intake processor, its
   open incidents, the township's first report in the county's open event (the late flag) and
   the report's id from its sequence;
3. the report and the message's outcome, in one statement.

The decisions are the general path's own (`reporter.saving.decide`, `new_report`,
`shapes.confirmation_text`), so the reply, the report and the message come out the same; a test
compares the two. A drill's report goes the same way, in the drill running when it arrived.
Anything else — another command, an unknown or non-officer sender, a drill message with no drill
running, a village with reports waiting, a report the rules refuse, SQLite — is left to the general path:
`handle` returns None having written nothing (or rolled back what it wrote).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from flask import current_app
from sqlalchemy import BindParameter, Sequence, bindparam, case, exists, insert, literal, select, true, update

from core.exercises import drill_text, running_exercise_for
from core.extensions import db
from core.indicators import INDICATOR_KEYS
from core.models import Division, Person
from core.people import stored_phone
from core.roles import OFFICER_ROLES
from messaging.gateway import fit
from reporter import grammar, saving, service, shapes, wakeups
from reporter.models import InboundMessage, Outcome, Report
from reporter.service import EVENT_WINDOW, ReportRefused

_REPORT_IDS = Sequence("reports_id_seq")  # the serial's sequence (PostgreSQL names it so)
# What `reporter.intake.receive_sms` gives a new message: the columns the store statement binds.
MESSAGE_COLUMNS = ("sid", "from_phone", "to_phone", "body", "raw", "received_at", "outcome", "review_status")


@dataclass(frozen=True)
class _OpenIncident:
    """What `saving.decide` reads of an open incident."""

    id: int
    hazard: str
    indicators: dict


def applies(command: grammar.Command) -> bool:
    return (command.kind == "report" and current_app.config["INTAKE_DEFERRED"]
            and current_app.config["INTAKE_EXPRESS"] and db.session.get_bind().dialect.name == "postgresql")


# The three statements are built once, with bound parameters: building and keying statements
# this size cost SQLAlchemy about 4 ms a request, more than running them. They run on the
# session's connection, not through the session: the ORM's execution and row loading cost a fifth
# of the request's CPU (py-spy) and nothing here needs an object in the identity map.
_DIVISION = Division.__table__


def _bound(column) -> BindParameter:
    return bindparam(f"{column.table.name}_{column.key}", type_=column.type)


@cache
def _store_stmt():
    """1: store the message; the sender and their village, held."""
    table = InboundMessage.__table__
    stored = (insert(table).values({c: _bound(table.c[c]) for c in MESSAGE_COLUMNS})
              .returning(table.c.id).cte("stored"))
    return (select(stored.c.id, Person.id, Person.role, *_DIVISION.columns)
            .select_from(stored).join(Person, true()).join(_DIVISION, _DIVISION.c.code == Person.division_code)
            .where(Person.phone == bindparam("phone"), Person.active.is_(True))
            .limit(1).with_for_update(of=_DIVISION, key_share=True))


@cache
def _state_stmt(with_first: bool, drill: bool):
    """2 (after the lock): a report id unless reports wait; whether they do; the township's first
    report in the county's open event (`with_first`: the SMS names a hazard); the open incidents,
    real ones or (`drill`) those of the drill bound as "exercise"."""
    exercise = bindparam("exercise") if drill else None
    incidents = service.open_incidents_stmt(bindparam("village"), exercise).subquery()
    waiting = exists(service.waiting_stmt(bindparam("village")))
    first = (saving.first_report_stmt(bindparam("county"), bindparam("township"), bindparam("hazard"), exercise,
                                      bindparam("since", type_=Report.received_at.type)).scalar_subquery()
             if with_first else literal(None))
    return (select(case((~waiting, _REPORT_IDS.next_value())), waiting, first,
                   incidents.c.id, incidents.c.hazard, *[incidents.c[k] for k in INDICATOR_KEYS])
            .select_from(select(literal(1)).subquery()).outerjoin(incidents, true())
            .order_by(incidents.c.id))


@cache
def _plan_stmt():
    """3: the report, and the message's outcome and reply; the processors woken at the commit."""
    reports, messages = Report.__table__, InboundMessage.__table__
    planned = insert(reports).values({c.key: _bound(c) for c in reports.columns}).cte("planned")
    return (update(messages).where(messages.c.id == bindparam("message_id"))
            .values(person_id=bindparam("person_id"), report_id=bindparam("report_id"),
                    exercise_id=bindparam("exercise_id"), outcome=Outcome.PENDING, reply=bindparam("reply"))
            .add_cte(planned).returning(wakeups.notification()))  # the processors' wake-up, at the commit


def handle(message: InboundMessage, command: grammar.Command) -> tuple[str, int, int] | None:
    """Store and plan an officer's report: (the reply, the report id, the sender's id), not yet
    committed; or None, with nothing written, for the general path to handle the message."""
    if not applies(command):
        return None
    table = InboundMessage.__table__
    params = {f"{table.name}_{c}": getattr(message, c) for c in MESSAGE_COLUMNS}
    sender = db.session.connection().execute(_store_stmt(),
                                             params | {"phone": stored_phone(message.from_phone)}).first()
    if sender is None or sender[2] not in OFFICER_ROLES:
        db.session.rollback()  # unknown, or not an officer: the general path answers (it stores again)
        return None
    message_id, person_id, _role = sender[:3]
    village = Division(**dict(zip(_DIVISION.columns.keys(), sender[3:], strict=True)))  # never added
    try:
        exercise_id = _drill_of(village, message) if command.drill else None
        reply, report_id = _plan(message, command, message_id, person_id, village, exercise_id)
    except _NotExpress:
        db.session.rollback()
        return None
    return reply, report_id, person_id


class _NotExpress(Exception):
    """The general path must handle this message (it has reports waiting, or it is refused)."""


def _drill_of(village: Division, message: InboundMessage) -> int:
    """The drill running when the message arrived (the general path's rule, `reporter.intake`)."""
    exercise = running_exercise_for(village, at=message.received_at)
    if exercise is None:
        raise _NotExpress  # "no drill running": the general path answers it
    return exercise.id


def _plan(message: InboundMessage, command: grammar.Command, message_id: int, person_id: int,
          village: Division, exercise_id: int | None) -> tuple[str, int]:
    now = message.received_at
    with_first = bool(command.hazard and village.township_code)
    rows = db.session.connection().execute(_state_stmt(with_first, exercise_id is not None), {
        "village": village.code, "county": village.county_code or village.code, "township": village.township_code,
        "hazard": command.hazard, "since": now - EVENT_WINDOW, "exercise": exercise_id}).all()
    report_id, waiting, first_at = rows[0][0], rows[0][1], rows[0][2]
    if waiting:
        raise _NotExpress  # the general path files them first (`flows.settle_village`)
    open_ = [_OpenIncident(r[3], r[4], {k: v for k, v in zip(INDICATOR_KEYS, r[5:], strict=True) if v is not None})
             for r in rows if r[3] is not None]
    try:
        plan = saving.decide(kind=command.report_kind, hazard=command.hazard, indicators=command.indicators,
                             narrative=command.narrative, incidents=open_)
    except ReportRefused as exc:
        raise _NotExpress from exc  # kept for review with the reason, by the general path
    if plan.incident is None and plan.hazard == command.hazard and saving.late(first_at, now):
        plan.flags.append("late")
    report = saving.new_report(plan, village=village, author_id=person_id, channel="sms", message_id=message_id,
                               exercise_id=exercise_id, now=now)
    report.id = report_id
    if plan.incident is not None:
        report.incident_id = plan.incident.id
    reply = fit(drill_text(shapes.with_problems(shapes.confirmation_text(report, village=village), command.problems),
                           exercise_id))
    reports = Report.__table__
    values = {f"{reports.name}_{c.key}": report.__dict__.get(c.key) for c in reports.columns}
    db.session.connection().execute(_plan_stmt(), values | {
        "message_id": message_id, "person_id": person_id, "report_id": report_id, "reply": reply,
        "exercise_id": exercise_id})
    return reply, report_id
