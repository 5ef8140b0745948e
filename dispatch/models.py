"""Escalations (SPEC §5): one record per notification duty, with its recipients and outcome."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models import Person, UTCDateTime, utcnow
from messaging.models import OutboundSms


class EscalationStatus(StrEnum):
    OPEN = "open"                  # waiting for an acknowledgement, deadline running
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"        # E4 sent to the next level (or the level had nobody on duty)
    OVERDUE = "overdue"            # deadline passed with nobody above to tell
    # informational records that expect no acknowledgement (E5 reminders, E6 returns), and open
    # or overdue ones settled when a responder closed their incident or a drill ended
    CLOSED = "closed"


ESCALATION_STATUSES = tuple(EscalationStatus)
# What an acknowledgement may still change (an escalated one too: someone may answer late).
ACKABLE = (EscalationStatus.OPEN, EscalationStatus.ESCALATED, EscalationStatus.OVERDUE)
RULES = ("E1", "E2", "E3", "E4", "E5", "E6")
# The outbox purposes of texts to responders about an escalation: a report's first alert to them
# ("alert", sent ahead of everything) and what follows (updates, repeats, E4s: "escalation").
ESCALATION_PURPOSES = ("alert", "escalation")

escalation_recipients = Table(
    "escalation_recipients", db.metadata,
    Column("escalation_id", ForeignKey("escalations.id"), primary_key=True),
    Column("person_id", ForeignKey("people.id"), primary_key=True),
)


class Escalation(db.Model):
    """One notification duty: rule, level, recipients, deadline, outcome. Public id `E<id>`."""

    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule: Mapped[str] = mapped_column(String(4), index=True)  # E1..E6
    level: Mapped[str] = mapped_column(String(10))  # level of the recipients
    division_code: Mapped[str] = mapped_column(String(12), ForeignKey("divisions.code"), index=True)
    village_code: Mapped[str | None] = mapped_column(String(12), index=True)
    # The place's township and county, so lists filter and scope without a join.
    township_code: Mapped[str | None] = mapped_column(String(12), index=True)
    county_code: Mapped[str | None] = mapped_column(String(12), index=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id"))
    status: Mapped[str] = mapped_column(String(12), default=EscalationStatus.OPEN, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    ack_channel: Mapped[str | None] = mapped_column(String(8))
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Repeat before climbing (ESCALATION_REPEATS): how many repeats went out, and when the next
    # one is due (NULL: none left). The deadline (the climb) does not move.
    repeats_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    repeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    note: Mapped[str | None] = mapped_column(Text)
    exercise_id: Mapped[int | None] = mapped_column(ForeignKey("exercises.id"), index=True)
    # Makes a sweep's step idempotent (E5 reminders): a second insert of the same key fails.
    dedupe_key: Mapped[str | None] = mapped_column(String(80), unique=True)

    recipients: Mapped[list[Person]] = relationship(secondary=escalation_recipients)
    acknowledged_by: Mapped[Person | None] = relationship(foreign_keys=[acknowledged_by_id])
    messages: Mapped[list[OutboundSms]] = relationship(  # the outbox rows it caused (messaging)
        primaryjoin="Escalation.id == foreign(OutboundSms.escalation_id)", viewonly=True,
        order_by="OutboundSms.id")

    @property
    def public_id(self) -> str:
        return f"E{self.id}"


# The board's live feed asks for acknowledgements since its last poll, every 3 s per open board
# (created by migration board_001).
ESCALATIONS_BY_ACK = Index("ix_board_escalations_acknowledged_at", Escalation.acknowledged_at)
