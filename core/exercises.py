"""Exercise scope (SPEC §7): which records belong to a drill, and what a drill changes.

Every part stores an `exercise_id` on what it creates inside a drill and filters on it, so the
rules of that separation live here, below all of them: the exercise record itself, the one
isolation filter (`exercise_clause`), the `【演练】` prefix, the division a drill is confined to
and its clock speed. The exercise's lifecycle, simulator and evaluation are the drills part's.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import cache

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, bindparam, or_, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models import Division, Person, UTCDateTime, utcnow
from core.scope import can_access
from core.txmemo import remembered

DRILL_PREFIX = "【演练】"


class ExerciseStatus(StrEnum):
    RUNNING = "running"
    ENDED = "ended"
    ARCHIVED = "archived"


EXERCISE_STATUSES = tuple(ExerciseStatus)


class Exercise(db.Model):
    __tablename__ = "exercises"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    division_code: Mapped[str] = mapped_column(String(12), ForeignKey("divisions.code"), index=True)
    scenario: Mapped[str] = mapped_column(String(40))
    mode: Mapped[str] = mapped_column(String(10), default="live")  # live | simulated
    status: Mapped[str] = mapped_column(String(10), default=ExerciseStatus.RUNNING, index=True)
    seed: Mapped[int | None] = mapped_column(Integer)
    settings: Mapped[dict | None] = mapped_column(JSON)
    notes: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))

    division: Mapped[Division] = relationship(lazy="joined")

    @property
    def clock_speed(self) -> float:
        """Scenario seconds per wall-clock second: 1 for a live drill, `--speed` for a simulated one.

        A simulated drill at ×60 plays an hour in a minute, so the service runs its own clocks
        for the exercise (acknowledgement deadlines, E5 reminder steps) that much faster, and the
        evaluation converts stored wall-clock intervals back to scenario time with it (SPEC §7:
        "late acknowledgements, at any speed-up").
        """
        try:
            return max(float((self.settings or {}).get("speed", 1.0)), 1e-9)
        except (TypeError, ValueError):
            return 1.0

    @property
    def simulated_clock(self) -> bool:
        return self.clock_speed != 1.0


def exercise_clause(column, exercise_id: int | None):
    """Real records (exercise NULL) unless an exercise is chosen: the one drill-isolation filter."""
    return column.is_(None) if exercise_id is None else column == exercise_id


def drill_text(text: str, exercise_id: int | None) -> str:
    """Every SMS of a drill starts with 【演练】 (SPEC §7), once."""
    if exercise_id is None or text.startswith(DRILL_PREFIX):
        return text
    return DRILL_PREFIX + text


def running_exercise_for(division: Division, at: datetime | None = None) -> Exercise | None:
    """The running exercise covering `division` (its own or an ancestor's), newest first.

    With `at`: the exercise that was running at that moment, even if it has ended since — for
    a message received during a drill but handled later (replayed from the spool), which must
    still count in that drill and not be answered "no drill running".
    """
    if at is not None:
        exercise_id = running_exercise_id(division, at)
        return db.session.get(Exercise, exercise_id) if exercise_id is not None else None
    stmt = select(Exercise).where(Exercise.division_code.in_(division.lineage_codes()),
                                  Exercise.status == ExerciseStatus.RUNNING)
    return db.session.scalar(stmt.order_by(Exercise.id.desc()).limit(1))


LINEAGE_COLUMNS = ("province_code", "city_code", "county_code", "township_code", "code")


def running_at_stmt(lineage: list, at):
    """The id of the exercise running at `at` that covers a division whose own and ancestors'
    codes are `lineage` (values, columns or bound parameters; a NULL matches nothing)."""
    return (select(Exercise.id).where(Exercise.division_code.in_(lineage), Exercise.started_at <= at,
                                      or_(Exercise.ended_at.is_(None), Exercise.ended_at > at))
            .order_by(Exercise.id.desc()).limit(1))


@cache
def _running_at_prepared():
    return running_at_stmt([bindparam(f"lineage_{name}", type_=String) for name in LINEAGE_COLUMNS],
                           bindparam("at", type_=UTCDateTime))


def running_exercise_id(division: Division, at: datetime) -> int | None:
    """`running_exercise_for(division, at)`'s id, from one statement built once and no entity
    loaded (an exercise joins its division): the SMS intake asks it for every drill message, and
    the ORM's way was a seventh of the province drill's webhook CPU (py-spy). It runs on the
    session's connection, so an exercise added and not yet flushed is not seen."""
    params = {f"lineage_{name}": getattr(division, name) for name in LINEAGE_COLUMNS}
    return db.session.connection().execute(_running_at_prepared(), params | {"at": at}).scalar()


# An exercise that cannot be found confines its traffic to nothing at all: a drill must never
# fall back to reaching real offices.
NOWHERE: Division = object()  # type: ignore[assignment]  (a sentinel, compared by identity)


def _exercise(exercise_id: int) -> Exercise | None:
    """The exercise, held for the rest of the transaction. The session's identity map holds rows
    weakly: a batch opening 500 of a drill's escalations looked its exercise up 500 times, each a
    SELECT that also flushed the escalation added just before (a province drill's E4 pass spent
    40 % of its time there)."""
    return remembered("exercise", exercise_id, lambda: db.session.get(Exercise, exercise_id))


def exercise_division(exercise_id: int | None, running_only: bool = False) -> Division | None:
    """The division an exercise is confined to (None for real traffic; NOWHERE when the
    exercise is unknown, or has ended and `running_only` is asked)."""
    if exercise_id is None:
        return None
    exercise = _exercise(exercise_id)
    if exercise is None or (running_only and exercise.status != ExerciseStatus.RUNNING):
        return NOWHERE
    return exercise.division


def within(division: Division, scope: Division | None) -> bool:
    """Is `division` inside an exercise's confinement (`exercise_division`)? Real traffic: always."""
    if scope is NOWHERE:
        return False
    return scope is None or scope.code in division.lineage_codes()


def exercise_clock_speed(exercise_id: int | None) -> float:
    """Scenario seconds per wall second for traffic of this exercise (1 for real traffic and
    live drills): a simulated drill's deadlines run on its scenario clock."""
    if exercise_id is None:
        return 1.0
    exercise = _exercise(exercise_id)
    return exercise.clock_speed if exercise is not None else 1.0


def watchable_exercise(person: Person, exercise_id: int | None) -> Exercise | None:
    """The exercise a viewer chose to look at, if it exists and they may: one of their own
    division or below, or one covering them (a county office watching the province's drill)."""
    if exercise_id is None:
        return None
    exercise = db.session.get(Exercise, exercise_id)
    if exercise is None:
        return None
    if exercise.division_code in person.division.lineage_codes() or can_access(person, exercise.division):
        return exercise
    return None
