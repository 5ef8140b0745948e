"""Exercise workflows: plain functions called by the board page, the CLI and the simulator.

Each one checks who may do it, changes the exercise, writes the audit entry in the same
transaction and commits.
"""

from __future__ import annotations

from core import audit
from core.exercises import Exercise, ExerciseStatus
from core.extensions import db
from core.models import Division, Person, utcnow
from core.people import level_rank
from core.scope import can_access
from dispatch.service import close_exercise_escalations
from drills import service
from drills.service import ExerciseError


def _check_actor(actor: Person | None, division: Division) -> None:
    """Staff at county level or above, with the division in scope; None is the CLI (the
    operator of the machine)."""
    if actor is None:
        return
    if not actor.is_staff or actor.role == "township":
        raise PermissionError("只有县级及以上应急管理人员可以开始或结束演练")
    if actor.role != "admin" and level_rank(actor.division.level) > level_rank("county"):
        raise PermissionError("只有县级及以上应急管理人员可以开始或结束演练")
    if not can_access(actor, division):
        raise PermissionError(f"{division.name} 不在您的管辖范围内")


def start_exercise(division: Division, scenario: str, *, name: str | None = None, actor: Person | None = None,
                   mode: str = "live", seed: int | None = None, settings: dict | None = None,
                   villages: list[dict] | None = None) -> Exercise:
    _check_actor(actor, division)
    exercise = service.create(division, scenario, name=name, mode=mode, seed=seed, settings=settings,
                              actor=actor, villages=villages)
    audit.record("exercise.start", "exercise", exercise.id, after=service.serialize(exercise)
                 | {"mode": mode, "seed": seed}, actor=actor or "cli", exercise_id=exercise.id)
    db.session.commit()
    return exercise


def end_exercise(exercise: Exercise, *, actor: Person | None = None) -> Exercise:
    """End it: `演练` messages are then answered that no drill is running, and the exercise's
    still-open escalations are closed so no deadline fires for a finished drill."""
    _check_actor(actor, exercise.division)
    if exercise.status != ExerciseStatus.RUNNING:
        raise ExerciseError(f"演练 #{exercise.id} 已{'结束' if exercise.status == ExerciseStatus.ENDED else '归档'}")
    before = service.serialize(exercise)
    exercise.status, exercise.ended_at = ExerciseStatus.ENDED, utcnow()
    closed = close_exercise_escalations(exercise.id)
    audit.record("exercise.end", "exercise", exercise.id, before=before,
                 after=service.serialize(exercise) | {"escalations_closed": closed},
                 actor=actor or "cli", exercise_id=exercise.id)
    db.session.commit()
    return exercise


def archive_exercise(exercise: Exercise, *, actor: Person | None = None) -> Exercise:
    """Archive an ended exercise: it leaves the list of current drills; its records stay (they
    never showed in real views anyway) so its report can be rebuilt."""
    _check_actor(actor, exercise.division)
    if exercise.status != ExerciseStatus.ENDED:
        raise ExerciseError("只有已结束的演练可以归档" if exercise.status == ExerciseStatus.RUNNING
                            else f"演练 #{exercise.id} 已归档")
    before = service.serialize(exercise)
    exercise.status, exercise.archived_at = ExerciseStatus.ARCHIVED, utcnow()
    audit.record("exercise.archive", "exercise", exercise.id, before=before,
                 after=service.serialize(exercise), actor=actor or "cli", exercise_id=exercise.id)
    db.session.commit()
    return exercise
