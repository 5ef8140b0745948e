"""The review queue (SPEC §4.4): unparsed messages and unknown senders waiting for a person.

A message from a registered officer belongs to that officer's village and is in scope for
whoever sees the village. A message from an unknown number cannot be placed anywhere, so it
is shown to county offices and above (the first reporting unit, SPEC §0), never to townships.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from core.db import exercise_clause
from core.extensions import db
from core.models import LEVELS, Division, Person
from core.scope import can_access, scope_clause
from dispatch.board.query import BoardView
from reporter.models import InboundMessage

LIMIT = 300


def may_handle(person: Person) -> bool:
    """County offices and above convert/dismiss messages and require daily reports (reporter.review)."""
    from reporter.review import COUNTY_ROLES

    return person.role in COUNTY_ROLES


def sees_unattributed(person: Person) -> bool:
    return LEVELS.index(person.division.level) <= LEVELS.index("county")


def message_filter(view: BoardView) -> list:
    known = InboundMessage.person_id.in_(select(Person.id).where(scope_clause(view.person, Person.division_code)))
    visible = or_(known, InboundMessage.person_id.is_(None)) if sees_unattributed(view.person) else known
    return [visible, exercise_clause(InboundMessage.exercise_id, view.exercise_id)]


def pending_messages(view: BoardView) -> list[InboundMessage]:
    return list(db.session.scalars(
        select(InboundMessage).where(InboundMessage.review_status == "pending", *message_filter(view))
        .options(selectinload(InboundMessage.person)).order_by(InboundMessage.id.desc()).limit(LIMIT)))


def can_see_message(view: BoardView, message: InboundMessage) -> bool:
    if message.person_id is None:
        return sees_unattributed(view.person)
    return message.person is not None and can_access(view.person, message.person.division_code)


def villages_in_scope(view: BoardView) -> list[tuple[str, str, str]]:
    """(code, village name, township name) for the turn-into-report select."""
    township = db.aliased(Division)
    return [tuple(r) for r in db.session.execute(
        select(Division.code, Division.name, township.name)
        .outerjoin(township, township.code == Division.township_code)
        .where(Division.level == "village", scope_clause(view.person, Division.code))
        .order_by(Division.code).limit(5000))]
