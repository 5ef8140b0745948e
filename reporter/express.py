"""The webhook's express path for the SMS a flood morning is made of: officers' reports and nil
reports (`reporter.express_reports`) and responders' acknowledgements (`dispatch.express`).

On PostgreSQL such a message is stored and handled in three statements and the commit, with
SQLAlchemy Core and no ORM unit of work (the general path, `reporter.intake._handle`, costs two
to four times the CPU, most of it in the ORM):

1. `store`: the message (its provider id unique) and, in the same statement, the sender, their
   division (held `FOR NO KEY UPDATE` when the handler needs the village still, the lock
   `reporter.saving` documents) and, for a drill message, the drill running when it arrived;
2. and 3. the handler's: what it must read after the lock, then its rows and the message's
   outcome in one statement.

A handler (`register`, from each part's `init_app`) decides with the general path's own rules
and texts, so the reply and the rows come out the same; tests compare the two. Whatever a
handler does not take — an unknown sender, a drill message with no drill running, anything
unusual — it returns None for: everything written is rolled back and the general path answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from flask import Flask, current_app
from sqlalchemy import BindParameter, bindparam, insert, select, true, update

from core.exercises import LINEAGE_COLUMNS, drill_text, running_at_stmt
from core.extensions import db
from core.models import Division, Person
from core.people import stored_phone
from messaging.gateway import fit
from reporter import grammar
from reporter.models import InboundMessage, Outcome

# What `reporter.intake.receive_sms` gives a new message: the columns the store statement binds.
MESSAGE_COLUMNS = ("sid", "from_phone", "to_phone", "body", "raw", "received_at", "outcome", "review_status")


@dataclass(frozen=True)
class Planned:
    """What the express path stored, for `reporter.intake` to answer and commit."""

    reply: str
    person_id: int
    exercise_id: int | None


@dataclass(frozen=True)
class Sender:
    """The stored message's sender, as the store statement found them (never in the session)."""

    message_id: int
    person: Person      # id, role, name, phone
    division: Division  # every column
    exercise_id: int | None


# (the message, its parsed command, the sender) → Planned, or None for the general path. Runs in
# the intake's transaction after `store`, never commits.
Handler = Callable[[InboundMessage, grammar.Command, Sender], Planned | None]


def _always(_command: grammar.Command) -> bool:
    return True


@dataclass(frozen=True)
class _Registered:
    handler: Handler
    hold_division: bool                         # the store statement holds the sender's division
    when: Callable[[grammar.Command], bool]     # worth storing for: else the general path at once


def register(app: Flask, kind: str, handler: Handler, *, hold_division: bool,
             when: Callable[[grammar.Command], bool] = _always) -> None:
    """Handle parsed commands of `kind` on the express path in this app (PostgreSQL only)."""
    handlers = app.extensions.setdefault("zaibao_express", {})
    if kind in handlers and handlers[kind].handler is not handler:
        raise RuntimeError(f"SMS command {kind!r}: express handler already in {handlers[kind].handler.__module__}")
    handlers[kind] = _Registered(handler, hold_division, when)


def handle(message: InboundMessage, command: grammar.Command) -> Planned | None:
    """Store and handle the message on the express path, not yet committed; or None, with
    nothing written, for the general path to handle it."""
    registered = current_app.extensions.get("zaibao_express", {}).get(command.kind)
    if (registered is None or not current_app.config["INTAKE_EXPRESS"]
            or db.session.get_bind().dialect.name != "postgresql" or not registered.when(command)):
        return None
    sender = store(message, command, hold_division=registered.hold_division)
    planned = registered.handler(message, command, sender) if sender is not None else None
    if planned is None:
        db.session.rollback()  # the general path answers (it stores the message again)
    return planned


# The statements are built once, with bound parameters: building and keying statements this size
# cost SQLAlchemy about 4 ms a request, more than running them. They run on the session's
# connection, not through the session: the ORM's execution and row loading cost a fifth of the
# request's CPU (py-spy) and nothing here needs an object in the identity map.
_DIVISION = Division.__table__
_PERSON = ("id", "role", "name", "phone")


def bound(column) -> BindParameter:
    """The parameter `values` names for a column."""
    return bindparam(f"{column.table.name}_{column.key}", type_=column.type)


def values(table, row) -> dict:
    """`bound`'s parameters from an unsaved ORM object (a column it lacks is NULL)."""
    return {f"{table.name}_{c.key}": row.__dict__.get(c.key) for c in table.columns}


def inserted(table, name: str, *, with_id: bool):
    """An INSERT of one row of `table` from `values`, as a CTE (`with_id`: an id reserved before)."""
    return insert(table).values({c.key: bound(c) for c in table.columns if with_id or c.key != "id"}).cte(name)


def run(stmt, params: dict):
    """A statement of the path, on the session's connection (see above: not through the ORM)."""
    return db.session.connection().execute(stmt, params)


def outcome_stmt(outcome: Outcome):
    """The message's outcome and reply (bound: message_id, person_id, report_id, exercise_id, reply)."""
    messages = InboundMessage.__table__
    return (update(messages).where(messages.c.id == bindparam("message_id"))
            .values(person_id=bindparam("person_id"), report_id=bindparam("report_id"),
                    exercise_id=bindparam("exercise_id"), outcome=outcome, reply=bindparam("reply")))


def outcome_params(sender: Sender, reply: str, report_id: int | None = None) -> dict:
    return {"message_id": sender.message_id, "person_id": sender.person.id, "report_id": report_id, "reply": reply,
            "exercise_id": sender.exercise_id}


def reply_text(text: str, sender: Sender) -> str:
    """The reply as the general path's `_finish` makes it: 【演练】 in a drill, at most two segments."""
    return fit(drill_text(text, sender.exercise_id))


@cache
def _store_stmt(drill: bool, hold_division: bool):
    table = InboundMessage.__table__
    stored = (insert(table).values({c: bound(table.c[c]) for c in MESSAGE_COLUMNS})
              .returning(table.c.id).cte("stored"))
    columns = [stored.c.id, *[Person.__table__.c[c] for c in _PERSON], *_DIVISION.columns]
    if drill:
        running = running_at_stmt([_DIVISION.c[name] for name in LINEAGE_COLUMNS], bindparam("at"))
        columns.append(running.scalar_subquery())
    stmt = (select(*columns)
            .select_from(stored).join(Person, true()).join(_DIVISION, _DIVISION.c.code == Person.division_code)
            .where(Person.phone == bindparam("phone"), Person.active.is_(True)).limit(1))
    return stmt.with_for_update(of=_DIVISION, key_share=True) if hold_division else stmt


def store(message: InboundMessage, command: grammar.Command, *, hold_division: bool) -> Sender | None:
    """1: store the message; its active sender and their division (`hold_division`: held); for
    a drill message the drill running when it arrived. None: an unknown sender, or no drill."""
    table = InboundMessage.__table__
    params = {f"{table.name}_{c}": getattr(message, c) for c in MESSAGE_COLUMNS}
    row = run(_store_stmt(command.drill, hold_division), params | {
        "phone": stored_phone(message.from_phone), "at": message.received_at}).first()
    if row is None or (command.drill and row[-1] is None):
        return None
    person = Person(**dict(zip(_PERSON, row[1:5], strict=True)))
    division = dict(zip(_DIVISION.columns.keys(), row[5:5 + len(_DIVISION.columns)], strict=True))
    return Sender(row[0], person, Division(**division), row[-1] if command.drill else None)
