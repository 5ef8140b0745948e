"""Shelter registry tables (应急避难场所, SPEC §6), owned by the shelters part.

Drill isolation: a shelter is real infrastructure and exists once; what a drill changes is its
occupancy and status. Those go to a `ShelterDrillState` overlay row (one per shelter and
exercise), never to the `shelters` row. Reading a shelter "inside exercise X" takes the overlay
when there is one and the real values otherwise (a drill starts from the real situation). The
occupancy history carries `exercise_id` and is filtered with `core.exercises.exercise_clause`, like
every other drill-aware table.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models import Division, Person, UTCDateTime, utcnow

# Plain Chinese names (SMS replies, import matching: no request locale needed) and below them
# the same names as lazily translated labels for pages.
LEVEL_NAMES = {"province": "省级", "city": "市级", "county": "县级", "township": "乡镇级", "village": "村级"}
CLASS_NAMES = {"emergency": "紧急避难场所", "short_term": "短期避难场所", "long_term": "长期避难场所"}
TYPE_NAMES = {"park": "公园", "square": "广场", "school": "学校", "stadium": "体育场馆",
              "community_center": "社区中心", "indoor": "室内场所", "other": "其他"}
STATUS_NAMES = {"standby": "待命", "open": "开放", "full": "已满", "closed": "关闭"}
FACILITY_NAMES = {"water": "供水", "power": "供电", "toilets": "厕所", "medical": "医疗", "kitchen": "厨房",
                  "shower": "淋浴", "accessible": "无障碍", "heating": "供暖", "comms": "通信", "pets": "宠物"}
# Written out literally: `pybabel extract` only finds _l("…") around a literal (labels built from
# the dicts above were never extracted, so pages showed them in Chinese). A test checks both agree.
LEVEL_LABELS = {"province": _l("省级"), "city": _l("市级"), "county": _l("县级"), "township": _l("乡镇级"),
                "village": _l("村级")}
CLASS_LABELS = {"emergency": _l("紧急避难场所"), "short_term": _l("短期避难场所"), "long_term": _l("长期避难场所")}
TYPE_LABELS = {"park": _l("公园"), "square": _l("广场"), "school": _l("学校"), "stadium": _l("体育场馆"),
               "community_center": _l("社区中心"), "indoor": _l("室内场所"), "other": _l("其他")}
STATUS_LABELS = {"standby": _l("待命"), "open": _l("开放"), "full": _l("已满"), "closed": _l("关闭")}
FACILITY_LABELS = {"water": _l("供水"), "power": _l("供电"), "toilets": _l("厕所"), "medical": _l("医疗"),
                   "kitchen": _l("厨房"), "shower": _l("淋浴"), "accessible": _l("无障碍"), "heating": _l("供暖"),
                   "comms": _l("通信"), "pets": _l("宠物")}
LEVELS = tuple(LEVEL_LABELS)
CLASSES = tuple(CLASS_LABELS)
TYPES = tuple(TYPE_LABELS)
STATUSES = tuple(STATUS_LABELS)
FACILITIES = tuple(FACILITY_LABELS)
CHANNELS = ("sms", "web", "api", "import")


class Shelter(db.Model):
    """One registered shelter; its real (non-drill) occupancy and status live on this row."""

    __tablename__ = "shelters"
    __table_args__ = (
        CheckConstraint("capacity >= 0", name="capacity_nonnegative"),
        CheckConstraint("occupancy >= 0", name="occupancy_nonnegative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)  # upper-case, e.g. "S12"
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(10))
    shelter_class: Mapped[str] = mapped_column("class", String(12))
    type: Mapped[str] = mapped_column(String(20))
    division_code: Mapped[str] = mapped_column(String(12), ForeignKey("divisions.code"), index=True)
    address: Mapped[str | None] = mapped_column(String(200))
    lon: Mapped[float] = mapped_column(Float)  # WGS84
    lat: Mapped[float] = mapped_column(Float)  # WGS84
    effective_area_m2: Mapped[float | None] = mapped_column(Float)
    capacity: Mapped[int] = mapped_column(Integer)
    occupancy: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(10), default="standby", index=True)
    facilities: Mapped[list] = mapped_column(JSON, default=list)
    manager_name: Mapped[str | None] = mapped_column(String(100))
    manager_phone: Mapped[str | None] = mapped_column(String(20), index=True)  # E.164
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    occupancy_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    division: Mapped[Division] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<Shelter {self.code} {self.name}>"


class ShelterDrillState(db.Model):
    """A shelter's occupancy and status inside one exercise (the drill overlay)."""

    __tablename__ = "shelter_drill_states"
    __table_args__ = (UniqueConstraint("shelter_id", "exercise_id", name="uq_shelter_drill_states_shelter_exercise"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shelter_id: Mapped[int] = mapped_column(ForeignKey("shelters.id"), index=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("exercises.id"), index=True)
    occupancy: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(10))
    occupancy_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OccupancyRecord(db.Model):
    """One change of occupancy or status: who, when, before/after, channel (history)."""

    __tablename__ = "shelter_occupancy"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shelter_id: Mapped[int] = mapped_column(ForeignKey("shelters.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    actor: Mapped[str] = mapped_column(String(120))
    channel: Mapped[str] = mapped_column(String(8))
    occupancy_before: Mapped[int | None] = mapped_column(Integer)
    occupancy_after: Mapped[int | None] = mapped_column(Integer)
    status_before: Mapped[str | None] = mapped_column(String(10))
    status_after: Mapped[str | None] = mapped_column(String(10))
    note: Mapped[str | None] = mapped_column(Text)
    exercise_id: Mapped[int | None] = mapped_column(ForeignKey("exercises.id"), index=True)

    person: Mapped[Person | None] = relationship()


class ShelterIndexVersion(db.Model):
    """A single-row token renewed whenever a shelter's location, division, capacity or existence changes.

    Each process keeps an in-memory spatial index of (id, lon, lat, lineage); it compares this
    token (one primary-key read) before a search and rebuilds when it changed. A random token
    rather than a counter, so that an emptied and refilled table can never look unchanged.
    Occupancy and status changes do not renew it: those are read from the database.
    """

    __tablename__ = "shelter_index_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(32))
