"""Exercise look-ups and database work (owned by drills, issue 7).

Which exercise covers a village (`core.exercises.running_exercise_for`) is the kernel's: every part asks it.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, or_, select
from sqlalchemy.orm import aliased

from core.exercises import Exercise, ExerciseStatus, running_exercise_for
from core.extensions import db
from core.models import Division, Person, utcnow
from core.refusals import Refusal
from core.scope import scope_clause
from drills.models import ExerciseVillage, SyntheticRecord

SCENARIOS = ("flood", "earthquake", "typhoon")
SCENARIO_LABELS = {"flood": "洪涝", "earthquake": "地震", "typhoon": "台风"}  # Chinese: exercise names
SCENARIO_TITLES = {"flood": _l("洪涝"), "earthquake": _l("地震"), "typhoon": _l("台风")}  # pages: translated
# An exercise covers a county, a city or the whole province (SPEC §7; issue 7).
EXERCISE_LEVELS = ("county", "city", "province")


class ExerciseError(Refusal):
    """A request the exercise rules refuse; the message is shown to the user as is."""


def get(exercise_id: int) -> Exercise | None:
    return db.session.get(Exercise, exercise_id)


def overlapping_running(division: Division) -> Exercise | None:
    """A running exercise over this division, above it or below it (two would make `演练`
    ambiguous for the villages they share)."""
    above = running_exercise_for(division)
    if above is not None:
        return above
    field = getattr(Division, f"{division.level}_code", None)
    if field is None:
        return None
    return db.session.scalar(
        select(Exercise).join(Division, Division.code == Exercise.division_code)
        .where(Exercise.status == ExerciseStatus.RUNNING, field == division.code).limit(1))


def create(division: Division, scenario: str, *, name: str | None = None, mode: str = "live",
           seed: int | None = None, settings: dict | None = None, actor: Person | None = None,
           villages: list[dict] | None = None) -> Exercise:
    """Add a running exercise (not committed): the caller records the audit entry and commits.

    `villages` (rows of `area_villages`) are the participants; by default every village below
    the division."""
    if scenario not in SCENARIOS:
        raise ExerciseError(f"演练情景必须是 {', '.join(SCENARIOS)} 之一，不是 {scenario!r}")
    if division.level not in EXERCISE_LEVELS:
        raise ExerciseError(f"演练只能在县、市或省一级开展（{division.name} 是 {division.level}）")
    clash = overlapping_running(division)
    if clash is not None:
        raise ExerciseError(f"{clash.division.name} 已有进行中的演练 #{clash.id}（{clash.name}），请先结束它")
    started = utcnow()
    exercise = Exercise(
        name=(name or "").strip()[:120] or default_name(division, scenario, started),
        division_code=division.code, scenario=scenario, mode=mode, status=ExerciseStatus.RUNNING, seed=seed,
        settings=settings or {}, started_at=started, created_by_id=actor.id if actor else None)
    exercise.division = division
    db.session.add(exercise)
    db.session.flush()
    rows = villages if villages is not None else area_villages(division)
    for start in range(0, len(rows), 5000):
        db.session.execute(insert(ExerciseVillage), [
            {"exercise_id": exercise.id, "village_code": v["code"], "village_name": v["name"],
             "township_code": v["township_code"], "township_name": v["township_name"]}
            for v in rows[start:start + 5000]])
    return exercise


def area_villages(division: Division) -> list[dict]:
    """Every village below `division` with its township's name, ordered by code."""
    township = aliased(Division)
    stmt = (select(Division.code, Division.name, Division.township_code, township.name, Division.county_code)
            .outerjoin(township, township.code == Division.township_code)
            .where(Division.level == "village"))
    if division.level == "village":
        stmt = stmt.where(Division.code == division.code)
    else:
        stmt = stmt.where(getattr(Division, f"{division.level}_code") == division.code)
    return [{"code": c, "name": n, "township_code": t, "township_name": tn or "", "county_code": cc}
            for c, n, t, tn, cc in db.session.execute(stmt.order_by(Division.code))]


def participants(exercise: Exercise) -> list[ExerciseVillage]:
    return list(db.session.scalars(select(ExerciseVillage).where(ExerciseVillage.exercise_id == exercise.id)
                                   .order_by(ExerciseVillage.village_code)))


def default_name(division: Division, scenario: str, started) -> str:
    return f"{started:%Y} {division.name} {SCENARIO_LABELS.get(scenario, scenario)}演练"


def for_person(person: Person, limit: int = 200) -> list[Exercise]:
    """Exercises the person may see, newest first: those in their scope and those covering
    their division from above (a county sees the province-wide drill it takes part in)."""
    lineage = person.division.lineage_codes()
    stmt = (select(Exercise)
            .where(or_(scope_clause(person, Exercise.division_code), Exercise.division_code.in_(lineage)))
            .order_by(Exercise.started_at.desc(), Exercise.id.desc()).limit(limit))
    return list(db.session.scalars(stmt).unique())


def serialize(exercise: Exercise) -> dict:
    """SPEC §8.3 exactly."""
    return {"id": exercise.id, "name": exercise.name, "division_code": exercise.division_code,
            "scenario": exercise.scenario, "status": exercise.status,
            "started_at": exercise.started_at.isoformat() if exercise.started_at else None,
            "ended_at": exercise.ended_at.isoformat() if exercise.ended_at else None}


def synthetic_refs(kind: str) -> set[str]:
    return set(db.session.scalars(select(SyntheticRecord.ref).where(SyntheticRecord.kind == kind)))
