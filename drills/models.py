"""The drills part's own tables: who takes part in an exercise and which records are synthetic.

The exercise itself (`core.exercises.Exercise`) sits in the kernel: every part filters on it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import db
from core.models import UTCDateTime, utcnow


class SyntheticRecord(db.Model):
    """A division or person the simulator had to invent (a township with no villages, a village
    with no officer). Real tables hold them so the real HTTP paths work unchanged; this list
    says which rows are synthetic, so they can be told apart, reused by the next simulated drill
    and left out of anything real (their codes end in 9xx, their phones start +86199)."""

    __tablename__ = "drill_synthetic"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # division | person
    ref: Mapped[str] = mapped_column(String(20), unique=True)  # division code or person phone
    exercise_id: Mapped[int | None] = mapped_column(ForeignKey("exercises.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExerciseVillage(db.Model):
    """The villages taking part, snapshotted when the exercise starts: the evaluation's
    denominator ("who should have reported") stays what it was even if divisions change later,
    and a simulated drill over a sample of villages is judged on that sample only."""

    __tablename__ = "exercise_villages"

    exercise_id: Mapped[int] = mapped_column(ForeignKey("exercises.id"), primary_key=True)
    village_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    village_name: Mapped[str] = mapped_column(String(100))
    township_code: Mapped[str | None] = mapped_column(String(12))
    township_name: Mapped[str | None] = mapped_column(String(100))
