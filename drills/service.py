"""Exercise look-ups every part may call (owned by drills, issue 7)."""

from __future__ import annotations

from sqlalchemy import select

from core.extensions import db
from core.models import Division
from drills.models import Exercise

DRILL_PREFIX = "【演练】"


def running_exercise_for(division: Division) -> Exercise | None:
    """The running exercise covering `division` (its own or an ancestor's), newest first."""
    return db.session.scalar(
        select(Exercise).where(Exercise.status == "running",
                               Exercise.division_code.in_(division.lineage_codes()))
        .order_by(Exercise.id.desc()).limit(1))


def get(exercise_id: int) -> Exercise | None:
    return db.session.get(Exercise, exercise_id)
