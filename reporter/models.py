"""Inbound messages, reports, incidents and events (SPEC §4.1)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.indicators import IndicatorColumns
from core.models import Division, Person, UTCDateTime, utcnow


class Outcome(StrEnum):
    """What became of an inbound SMS (SPEC §8.3 `outcome`)."""

    REPORT = "report"
    NIL = "nil"
    ACK = "ack"
    CORRECTION = "correction"
    SHELTER_QUERY = "shelter_query"
    SHELTER_UPDATE = "shelter_update"
    HELP = "help"
    UNPARSED = "unparsed"
    UNKNOWN_SENDER = "unknown_sender"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    PENDING = "pending"          # stored, not yet handled


class ReviewState(StrEnum):
    """A message's place in the review queue (SPEC §4.4)."""

    NONE = "none"                # nobody needs to look at it
    PENDING = "pending"          # waiting for county staff
    CONVERTED = "converted"      # turned into a report by hand
    DISMISSED = "dismissed"      # needs nothing; kept, with who said so


class ReportStatus(StrEnum):
    RECEIVED = "received"
    ACCEPTED = "accepted"
    RETURNED = "returned"
    CORRECTED = "corrected"


class CaseStatus(StrEnum):
    """Incidents and events: open until a final report, a responder or a county office closes them."""

    OPEN = "open"
    CLOSED = "closed"


OUTCOMES = tuple(Outcome)
REVIEW_STATES = tuple(ReviewState)
REPORT_STATUSES = tuple(ReportStatus)


class InboundMessage(db.Model):
    """Every SMS as received, stored before anything else happens; unique on MessageSid."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_phone: Mapped[str] = mapped_column(String(40), index=True)
    to_phone: Mapped[str | None] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[dict | None] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    outcome: Mapped[str] = mapped_column(String(20), default=Outcome.PENDING, index=True)
    reply: Mapped[str | None] = mapped_column(Text)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id", use_alter=True), index=True)
    exercise_id: Mapped[int | None] = mapped_column(ForeignKey("exercises.id"), index=True)
    review_status: Mapped[str] = mapped_column(String(12), default=ReviewState.NONE, index=True)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str | None] = mapped_column(Text)
    # Where an unknown sender's message is scoped (reporter.attribution); NULL: nobody could tell,
    # only province-level staff see it. A known sender's message is scoped by its person instead.
    division_code: Mapped[str | None] = mapped_column(String(12), ForeignKey("divisions.code"), index=True)

    person: Mapped[Person | None] = relationship(foreign_keys=[person_id])
    division: Mapped[Division | None] = relationship(foreign_keys=[division_code])


# National practice (SPEC §0): the county sends its initial report to the city within 2 hours of
# a disaster; the township reports to the county within 1 hour.
COUNTY_REPORT_DUE = timedelta(hours=2)
TOWNSHIP_REPORT_DUE = timedelta(hours=1)


class Event(db.Model):
    """A county-level disaster process (灾害过程): incidents of one hazard in one county."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_code: Mapped[str] = mapped_column(String(12), ForeignKey("divisions.code"), index=True)
    hazard: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(10), default=CaseStatus.OPEN, index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    daily_report: Mapped[bool] = mapped_column(Boolean, default=False)
    daily_report_since: Mapped[date | None] = mapped_column(Date)
    exercise_id: Mapped[int | None] = mapped_column(ForeignKey("exercises.id"), index=True)
    # The county's own 初报 to the city (due 2 h after the event began), marked by the county office.
    county_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    county_reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))

    county: Mapped[Division] = relationship(lazy="joined")
    county_reported_by: Mapped[Person | None] = relationship(foreign_keys=[county_reported_by_id])


class Incident(IndicatorColumns, db.Model):
    """One village's situation in one hazard; holds the latest cumulative figures."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_village_hazard_status", "village_code", "hazard", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    village_code: Mapped[str] = mapped_column(String(12), ForeignKey("divisions.code"))
    township_code: Mapped[str | None] = mapped_column(String(12), index=True)
    county_code: Mapped[str | None] = mapped_column(String(12), index=True)
    hazard: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), default=CaseStatus.OPEN, index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"), index=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_report_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    latest_report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id", use_alter=True))
    flags: Mapped[list] = mapped_column(JSON, default=list)
    exercise_id: Mapped[int | None] = mapped_column(ForeignKey("exercises.id"), index=True)

    village: Mapped[Division] = relationship(lazy="joined", foreign_keys=[village_code])
    event: Mapped[Event | None] = relationship()


class Report(IndicatorColumns, db.Model):
    """One officer submission (SMS, web or API). Public id `R<id>`."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), index=True)
    hazard: Mapped[str | None] = mapped_column(String(20), index=True)
    village_code: Mapped[str] = mapped_column(String(12), ForeignKey("divisions.code"), index=True)
    township_code: Mapped[str | None] = mapped_column(String(12), index=True)
    county_code: Mapped[str | None] = mapped_column(String(12), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    narrative: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(8), default="sms")
    message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default=ReportStatus.RECEIVED, index=True)
    review_note: Mapped[str | None] = mapped_column(Text)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    flags: Mapped[list] = mapped_column(JSON, default=list)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))  # REPORTS_BY_EVENT_TOWNSHIP
    exercise_id: Mapped[int | None] = mapped_column(ForeignKey("exercises.id"), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    report_date: Mapped[date | None] = mapped_column(Date, index=True)  # local calendar day
    corrected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    village: Mapped[Division] = relationship(lazy="joined", foreign_keys=[village_code])
    author: Mapped[Person | None] = relationship(foreign_keys=[author_id])
    incident: Mapped[Incident | None] = relationship(foreign_keys=[incident_id])

    @property
    def public_id(self) -> str:
        return f"R{self.id}"


class OneTimeCode(db.Model):
    """A web-login code sent by SMS to an officer (SPEC §8.3 /report): 6 digits, 10 minutes, 5 tries.

    Only an HMAC of the code is stored; `ip` lets us rate-limit requests per address as well as
    per phone across all web workers (the database is the one store they share).
    """

    __tablename__ = "one_time_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)  # None: not an officer
    code_hash: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InboundNumber(db.Model):
    """A number (or a provider's 扩展码) that messages are sent to, owned by a division: an
    unknown sender's message to it is scoped there (reporter.attribution), so a county's own
    number brings strangers' texts to that county's review queue. Managed by `flask numbers`
    and the board's numbers page (reporter.numbers), audited."""

    __tablename__ = "inbound_numbers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)  # reporter.numbers.normalise_number
    division_code: Mapped[str] = mapped_column(String(12), ForeignKey("divisions.code"), index=True)
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))

    division: Mapped[Division] = relationship(foreign_keys=[division_code])


# "Villages that reported today" (the board, the E5 sweep) is a range scan of one day's reports:
# (exercise_id, received_at, village_code) serves it from the index alone, real or drill
# (created by migration board_001).
REPORTS_BY_DAY = Index("ix_board_reports_exercise_received_village", Report.exercise_id, Report.received_at,
                       Report.village_code)

# When a township first reported in an event (every initial report's late flag) and everything of
# an event (its leading column): chosen with or without statistics, where single-column indexes
# let a fresh or fast-growing table be read whole (created by migration reporter_008).
REPORTS_BY_EVENT_TOWNSHIP = Index("ix_reports_event_township", Report.event_id, Report.township_code)

# The intake processor's queue: messages stored and not yet filed. Every message passes through
# 'pending' once, so in the plain outcome index that key gathers an entry per message ever stored
# until VACUUM removes them (a bitmap scan walked 198,000 of them for 4 live rows in the province
# drill). This one holds only pending rows and is read by plain index scans, which mark the dead
# entries they meet so the next scan skips them (created by migration reporter_007).
PENDING_MESSAGES = Index("ix_inbound_messages_pending", InboundMessage.id,
                         postgresql_where=InboundMessage.outcome == "pending",
                         sqlite_where=InboundMessage.outcome == "pending")
