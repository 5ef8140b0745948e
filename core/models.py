"""Kernel tables: divisions, people, API tokens and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.roles import STAFF_ROLES

LEVELS = ("province", "city", "county", "township", "village")


def utcnow() -> datetime:
    """Timezone-aware now; stored as UTC everywhere, shown in the deployment's zone."""
    return datetime.now(UTC)


def rows_by(column, keys) -> dict:
    """The rows whose `column` is one of `keys` (None ignored), by that key, in one query: what a
    batch of escalations or reports needs of their villages, incidents and reports."""
    wanted = {k for k in keys if k is not None and k != ""}
    if not wanted:
        return {}
    model = column.class_
    return {getattr(row, column.key): row for row in db.session.scalars(db.select(model).where(column.in_(wanted)))}


class UTCDateTime(db.TypeDecorator):
    """DateTime that always comes back timezone-aware UTC, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if value is not None and dialect.name == "sqlite":
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        # PostgreSQL answers in the session's TimeZone (Asia/Shanghai on many servers): convert.
        if value is not None:
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value


class Division(db.Model):
    """A 12-digit statistical division. The ancestor codes are stored on every row so that
    "everything below X" is one indexed equality, whatever the depth."""

    __tablename__ = "divisions"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(String(12), ForeignKey("divisions.code"))
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(10), index=True)
    province_code: Mapped[str | None] = mapped_column(String(12), index=True)
    city_code: Mapped[str | None] = mapped_column(String(12), index=True)
    county_code: Mapped[str | None] = mapped_column(String(12), index=True)
    township_code: Mapped[str | None] = mapped_column(String(12), index=True)
    urban_rural_code: Mapped[str | None] = mapped_column(String(3))
    virtual: Mapped[bool] = mapped_column(Boolean, default=False)
    lon: Mapped[float | None] = mapped_column(Float)  # WGS84
    lat: Mapped[float | None] = mapped_column(Float)  # WGS84

    parent: Mapped[Division | None] = relationship(remote_side=[code], lazy="joined", join_depth=1)

    def lineage_codes(self) -> list[str]:
        """Codes of this division and its ancestors, province first."""
        return [c for c in (self.province_code, self.city_code, self.county_code,
                            self.township_code) if c and c != self.code] + [self.code]

    def ancestor_code(self, level: str) -> str | None:
        return self.code if level == self.level else getattr(self, f"{level}_code", None)

    def __repr__(self) -> str:
        return f"<Division {self.code} {self.name}>"


class Boundary(db.Model):
    """A county outline (GeoJSON geometry, WGS84) for maps and point-in-county checks."""

    __tablename__ = "boundaries"

    division_code: Mapped[str] = mapped_column(String(12), ForeignKey("divisions.code"), primary_key=True)
    geometry: Mapped[dict] = mapped_column(JSON)
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)


class Person(UserMixin, db.Model):
    __tablename__ = "people"
    __table_args__ = (
        # A phone belongs to at most one active person (SPEC §2).
        Index("uq_people_active_phone", "phone", unique=True,
              sqlite_where=db.text("active"), postgresql_where=db.text("active")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(20), index=True)  # E.164
    role: Mapped[str] = mapped_column(String(12), index=True)
    division_code: Mapped[str] = mapped_column(String(12), ForeignKey("divisions.code"), index=True)
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The deputy (替班人) who is told in this person's place while this person is off duty, so a
    # responder going off shift does not leave their level empty (dispatch.service.on_duty_along).
    backup_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))

    division: Mapped[Division] = relationship(lazy="joined")
    backup: Mapped[Person | None] = relationship(remote_side=[id], foreign_keys=[backup_id])

    @property
    def is_active(self) -> bool:  # Flask-Login: deactivated people cannot log in
        return self.active

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    def __repr__(self) -> str:
        return f"<Person {self.id} {self.name} {self.role}@{self.division_code}>"


class ApiToken(db.Model):
    """A bearer token; only its SHA-256 is kept, so a leaked database leaks no tokens."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    label: Mapped[str | None] = mapped_column(String(100))  # who or what holds it ("city dashboard")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: until revoked

    person: Mapped[Person] = relationship(lazy="joined")


class AuditEntry(db.Model):
    """Append-only, hash-chained record of every state change (who, what, when, before/after)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60), index=True)
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(40), index=True)
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    exercise_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # Chain position and hashes: NULL until the chaining sweep (core.audit.chain_pending) links it.
    seq: Mapped[int | None] = mapped_column(Integer, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64), unique=True)


# reporter.attribution looks villages up by the names an unknown sender's text may contain: one
# indexed IN over 52,019 villages instead of a scan (created by migration reporter_004).
DIVISIONS_BY_NAME = Index("ix_reporter_divisions_name", Division.name)
