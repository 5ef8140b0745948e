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
