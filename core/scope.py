"""Scope (SPEC §2): a person sees and acts on their own division and everything below it.

Every page, API call, export and SMS command asks these two functions; nothing else decides.
"""

from __future__ import annotations

from core.divisions import descendants_clause
from core.extensions import db
from core.models import Division, Person


def can_access(person: Person | None, division: Division | str | None) -> bool:
    """May `person` see and act on `division`? Admins may act on everything."""
    if person is None or division is None or not person.active:
        return False
    if isinstance(division, str):
        division = db.session.get(Division, division)
        if division is None:
            return False
    if person.role == "admin" and person.division.level == "province":
        return True
    return person.division_code in division.lineage_codes()


def scope_clause(person: Person, column):
    """SQL condition restricting `column` (a division code column) to the person's scope."""
    return descendants_clause(column, person.division)


def is_above(person: Person, division: Division) -> bool:
    """Strictly above: the person's division is an ancestor of (not equal to) `division`."""
    return person.division_code != division.code and can_access(person, division)
