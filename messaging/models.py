"""Messaging's tables: the outbox of every SMS the service sends, and the console backend's log.

Statuses move forward only: pending → sending → sent → delivered, or undelivered/failed
(`messaging.receipts` applies the gateway's callbacks in that order).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models import Person, UTCDateTime, utcnow


class SmsStatus(StrEnum):
    PENDING = "pending"          # in the outbox, not yet taken by a send job
    QUEUED = "queued"            # the gateway accepted it (status callback)
    SENDING = "sending"          # claimed by a worker, gateway call in progress
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"


SMS_STATUSES = tuple(SmsStatus)
FAILED_STATUSES = (SmsStatus.FAILED, SmsStatus.UNDELIVERED)


class OutboundSms(db.Model):
    """An SMS to send: written in the same transaction as its cause, relayed to RQ after commit."""

    __tablename__ = "outbound_sms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    to_phone: Mapped[str] = mapped_column(String(20), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(20))  # alert, escalation, returned, reminder, otp, plan, notice
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id"), index=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default=SmsStatus.PENDING, index=True)
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
    # The named template the text is (messaging.templates) and its variables: what a mainland
    # provider sends instead of the text. None: a text no template matches (such a provider refuses it).
    template: Mapped[str | None] = mapped_column(String(80))
    params: Mapped[dict | None] = mapped_column(JSON)
    # Which backend sent it (or last tried): twilio, console, aliyun, tencent.
    provider: Mapped[str | None] = mapped_column(String(20))

    person: Mapped[Person | None] = relationship()


class InboundPart(db.Model):
    """A pushed SMS that may be the first part of a longer one (it fills a whole segment): held,
    committed, until its continuation arrives or PART_WAIT_SECONDS pass, then joined and handed on.

    Aliyun and Tencent push the parts of a long SMS as separate messages; parsing one part alone
    would file half a report."""

    __tablename__ = "inbound_parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), unique=True)       # aliyun:<sequence_id> / tencent:…
    provider: Mapped[str] = mapped_column(String(20))
    from_phone: Mapped[str] = mapped_column(String(40), index=True)
    to_phone: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[str] = mapped_column(String(40))                # as the provider gave it
    position: Mapped[int | None] = mapped_column(Integer)           # the provider's order (sequence id)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    joined_into: Mapped[str | None] = mapped_column(String(64), index=True)  # the message id it became part of


class ConsoleSms(db.Model):
    """What the `console` SMS backend "sent": lets a demo user see every outgoing text."""

    __tablename__ = "console_sms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sid: Mapped[str] = mapped_column(String(40), unique=True)
    to: Mapped[str] = mapped_column(String(20), index=True)
    body: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
