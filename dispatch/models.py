"""Escalations and outbound SMS (the transactional outbox), SPEC §5 and §10."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models import Person, UTCDateTime, utcnow

# open: waiting for acknowledgement; acknowledged; escalated: E4 sent to the next level (or the
# level had nobody on duty); overdue: deadline passed with nobody above to tell; closed:
# informational records that expect no acknowledgement (E5 reminders, E6 returns), and open or
# overdue ones settled when a responder closed their incident or a drill ended.
ESCALATION_STATUSES = ("open", "acknowledged", "escalated", "overdue", "closed")
SMS_STATUSES = ("pending", "queued", "sending", "sent", "delivered", "undelivered", "failed")

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
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    ack_channel: Mapped[str | None] = mapped_column(String(8))
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    exercise_id: Mapped[int | None] = mapped_column(ForeignKey("exercises.id"), index=True)
    # Makes a sweep's step idempotent (E5 reminders): a second insert of the same key fails.
    dedupe_key: Mapped[str | None] = mapped_column(String(80), unique=True)

    recipients: Mapped[list[Person]] = relationship(secondary=escalation_recipients)
    acknowledged_by: Mapped[Person | None] = relationship(foreign_keys=[acknowledged_by_id])
    messages: Mapped[list[OutboundSms]] = relationship(
        primaryjoin="Escalation.id == foreign(OutboundSms.escalation_id)", viewonly=True,
        order_by="OutboundSms.id")

    @property
    def public_id(self) -> str:
        return f"E{self.id}"


class OutboundSms(db.Model):
    """An SMS to send: written in the same transaction as its cause, relayed to RQ after commit."""

    __tablename__ = "outbound_sms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    to_phone: Mapped[str] = mapped_column(String(20), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(20))  # escalation, returned, reminder, otp, plan, notice
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id"), index=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    ambiguous: Mapped[bool] = mapped_column(Boolean, default=False)
    gateway_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    error_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a retry is due (backoff); the sweep leaves the row alone until then.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a worker claimed it ('sending'); a claim much older than the gateway timeout means
    # the worker died mid-call and the outcome is ambiguous.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exercise_id: Mapped[int | None] = mapped_column(ForeignKey("exercises.id"), index=True)

    person: Mapped[Person | None] = relationship()
