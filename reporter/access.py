"""Who may see and decide what of the reporter's records: events and queued messages.

One rule each, asked by the JSON API, the board and the flows alike (they used to keep copies).

- An **event** (灾害过程) is seen by whoever's scope holds its county, or holds one of its
  incidents (a township sees the events its villages are part of). It is **decided** —
  daily reporting turned on or off, ended — by county offices and above whose scope holds its
  county (SPEC §4.1: the county emergency office is the first reporting unit).
- A **message** from a registered sender is scoped by that person's division, for townships too.
  A message with no person (unknown sender, or kept after a failure) is scoped by the division
  it was attributed to (reporter.attribution), for county offices and above only; one nobody
  could place is seen by province-level staff only.
"""

from __future__ import annotations

from sqlalchemy import and_, exists, or_, select

from core.exercises import exercise_clause
from core.extensions import db
from core.models import Person
from core.roles import COUNTY_ROLES, PROVINCE_ROLES
from core.scope import can_access, scope_clause
from reporter.models import Event, InboundMessage, Incident, ReviewState

# ---- events ---------------------------------------------------------------------------------


def event_visible_clause(person: Person):
    """SQL: the events `person` may see."""
    return or_(scope_clause(person, Event.county_code),
               Event.id.in_(select(Incident.event_id).where(scope_clause(person, Incident.village_code))))


def may_see_event(person: Person | None, event: Event) -> bool:
    if person is None or not person.active:
        return False
    if can_access(person, event.county_code):
        return True
    return bool(db.session.scalar(select(exists().where(
        Incident.event_id == event.id, scope_clause(person, Incident.village_code)))))


def may_decide_event(person: Person | None, event: Event) -> bool:
    """Daily reporting and ending the event: county offices and above, over its county."""
    return person is not None and person.role in COUNTY_ROLES and can_access(person, event.county_code)


# ---- messages -------------------------------------------------------------------------------

def sees_unattributed(person: Person | None) -> bool:
    """Province-level staff (and admins there): the only scope that covers "anywhere in the province",
    so the only people shown a message nobody could place (division_code NULL)."""
    return (person is not None and person.active and person.role in PROVINCE_ROLES
            and person.division.level == "province")


def message_clause(person: Person):
    """SQL: the messages `person` may see (and, in COUNTY_ROLES, convert or dismiss).

    A registered sender's message is scoped by that person's division, for township responders
    too. A message with no person (unknown sender, or kept after a failure) is scoped by the
    division it was attributed to (reporter.attribution), for county offices and above only.
    """
    own = InboundMessage.person_id.in_(select(Person.id).where(scope_clause(person, Person.division_code)))
    if person.role not in COUNTY_ROLES:
        return own
    placed = scope_clause(person, InboundMessage.division_code)
    if sees_unattributed(person):
        placed = or_(placed, InboundMessage.division_code.is_(None))
    return or_(own, and_(InboundMessage.person_id.is_(None), placed))


def review_queue_stmt(person: Person, exercise_id: int | None = None):
    """Messages waiting for a person: unparsed, unknown senders, refused reports (SPEC §4.4)."""
    return select(InboundMessage).where(InboundMessage.review_status == ReviewState.PENDING,
                                        exercise_clause(InboundMessage.exercise_id, exercise_id),
                                        message_clause(person))


def message_in_scope(person: Person | None, message: InboundMessage) -> bool:
    """`message_clause` for one message already loaded."""
    if person is None:
        return False
    if message.person_id is not None:
        return message.person is not None and can_access(person, message.person.division)
    if person.role not in COUNTY_ROLES:
        return False
    if message.division_code is None:
        return sees_unattributed(person)
    return can_access(person, message.division_code)


