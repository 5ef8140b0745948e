"""The review queue (SPEC §4.4): unparsed messages and unknown senders waiting for a person.

A message from a registered officer belongs to that officer's village and is in scope for
whoever sees the village. A message from an unknown number is scoped by the division the webhook
could attribute it to (reporter.attribution), for county offices and above (the first reporting
unit, SPEC §0), never townships; one nobody could place is shown to province-level staff only.
The rule itself is `reporter.access.message_clause` / `message_in_scope`, shared with the API.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from board.query import BoardView
from core.extensions import db
from core.models import Division, Person
from core.roles import COUNTY_ROLES
from core.scope import scope_clause
from reporter.access import message_in_scope, review_queue_stmt
from reporter.models import InboundMessage

LIMIT = 300


def may_handle(person: Person) -> bool:
    """County offices and above convert/dismiss messages and decide events (core.roles)."""
    return person.role in COUNTY_ROLES


def pending_messages(view: BoardView) -> list[InboundMessage]:
    """The review queue the API serves too (`reporter.access.review_queue_stmt`), newest first."""
    return list(db.session.scalars(
        review_queue_stmt(view.person, view.exercise_id)
        .options(selectinload(InboundMessage.person), selectinload(InboundMessage.division))
        .order_by(InboundMessage.id.desc()).limit(LIMIT)))


def can_see_message(view: BoardView, message: InboundMessage) -> bool:
    return message_in_scope(view.person, message)


def villages_in_scope(view: BoardView) -> list[tuple[str, str, str]]:
    """(code, village name, township name) for the turn-into-report select."""
    township = db.aliased(Division)
    return [tuple(r) for r in db.session.execute(
        select(Division.code, Division.name, township.name)
        .outerjoin(township, township.code == Division.township_code)
        .where(Division.level == "village", scope_clause(view.person, Division.code))
        .order_by(Division.code).limit(5000))]
