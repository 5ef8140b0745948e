"""Exercises (应急演练): everything created inside one carries its id (SPEC §7)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models import Division, UTCDateTime, utcnow

EXERCISE_STATUSES = ("running", "ended", "archived")


class Exercise(db.Model):
    __tablename__ = "exercises"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    division_code: Mapped[str] = mapped_column(String(12), ForeignKey("divisions.code"), index=True)
    scenario: Mapped[str] = mapped_column(String(40))
    mode: Mapped[str] = mapped_column(String(10), default="live")  # live | simulated
    status: Mapped[str] = mapped_column(String(10), default="running", index=True)
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
