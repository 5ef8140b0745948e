"""Database work for reports, incidents and events (SPEC §4), and the JSON shapes of §8.3.

Everything here runs inside the caller's transaction and never commits: a flow decides when
the whole change (message, report, incident, event, outbox rows, audit) becomes visible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from core.exercises import exercise_clause
from core.extensions import db
from core.indicators import HAZARDS, INDICATORS, MAX_VALUE
from core.localtime import local_date
from core.models import Division, Person, utcnow
from core.refusals import Refusal
from reporter.models import CaseStatus, Event, InboundMessage, Incident, Outcome, Report, ReportStatus

EVENT_WINDOW = timedelta(days=3)
LATE_AFTER = timedelta(hours=2)
ACTIVITY_GRAIN = timedelta(minutes=1)
PEOPLE_KEYS = ("affected", "deaths", "missing", "injured", "relocated", "need_aid")
DECREASE_KEYS = ("deaths", "missing", "houses_collapsed")
_ID_RE = re.compile(r"^\s*[Rr]?(\d{1,9})\s*$")


class ReportRefused(Refusal):
    """A report that cannot be stored as sent; the message (Chinese) goes back to the sender."""


@dataclass
class Saved:
    """What `save_report` did, for the reply, the audit entry and dispatch."""

    report: Report
    incident: Incident | None
    event: Event | None
    previous: dict | None           # the incident's figures before this report (None: new incident)
    new_incident: bool = False
    new_event: bool = False
    converted_kind: bool = False    # an explicit 初报 attached to an open incident, or 续报 without one
    notes: list[str] = field(default_factory=list)


# ---- small helpers -----------------------------------------------------------------------

def parse_report_id(text: str | int) -> int | None:
    """`R1203`, `r1203` or `1203` → 1203; anything else → None."""
    match = _ID_RE.match(str(text))
    return int(match.group(1)) if match else None


def check_indicators(values: dict[str, float | int]) -> dict[str, float | int]:
    """Refuse what no column can hold: negative, non-finite or larger than MAX_VALUE."""
    clean: dict[str, float | int] = {}
    for key, value in values.items():
        if key not in INDICATORS:
            raise ReportRefused(f"未知指标 {key}。")
        label = INDICATORS[key][0]
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ReportRefused(f"{label}的数字看不懂。") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ReportRefused(f"{label}的数字看不懂。")
        if number < 0:
            raise ReportRefused(f"{label}不能是负数({value})。")
        if number > MAX_VALUE:
            raise ReportRefused(f"{label}数字过大({value})，请核实后重报。")
        clean[key] = int(round(number)) if INDICATORS[key][2] else number
    return clean


def intake_backlog() -> tuple[int, datetime | None]:
    """Inbound messages stored and not yet handled: (how many, when the oldest arrived)."""
    count, oldest = db.session.execute(select(func.count(InboundMessage.id), func.min(InboundMessage.received_at))
                                       .where(InboundMessage.outcome == Outcome.PENDING)).one()
    return count or 0, oldest


def hazard_name(hazard: str | None) -> str:
    return HAZARDS.get(hazard or "", hazard or "")


def open_incidents(village_code: str, exercise_id: int | None, hazard: str | None = None) -> list[Incident]:
    stmt = select(Incident).options(joinedload(Incident.event)).where(
        Incident.village_code == village_code, Incident.status == CaseStatus.OPEN,
        exercise_clause(Incident.exercise_id, exercise_id))
    if hazard is not None:
        stmt = stmt.where(Incident.hazard == hazard)
    return list(db.session.scalars(stmt.order_by(Incident.id)))


def lock_division(code: str) -> None:
    """Serialise writers of one division's incidents/events (PostgreSQL row lock until commit).

    FOR NO KEY UPDATE, not FOR UPDATE: every row inserted with a foreign key to the division
    (a report, an escalation, an E5 reminder) holds FOR KEY SHARE on it until its commit, and
    FOR UPDATE waits for those. In the province drill, webhooks queued up to 29 s behind the E5
    sweep's inserts that way; NO KEY UPDATE still excludes the other writers of the division.
    SQLite needs none: the message INSERT already holds its single write lock.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(Division.code).where(Division.code == code).with_for_update(key_share=True))


def _event_for(village: Division, hazard: str, exercise_id: int | None, now: datetime) -> tuple[Event, bool]:
    """The open event of the village's county and hazard active within 3 days, or a new one."""
    county_code = village.county_code or village.code
    stmt = (select(Event).where(Event.county_code == county_code, Event.hazard == hazard,
                                Event.status == CaseStatus.OPEN, Event.last_activity_at >= now - EVENT_WINDOW,
                                exercise_clause(Event.exercise_id, exercise_id))
            .order_by(Event.last_activity_at.desc()).limit(1))
    event = db.session.scalar(stmt)
    if event is not None:
        return event, False
    # Two villages of a county opening the first event at once: the county row is the lock.
    lock_division(county_code)
    event = db.session.scalar(stmt.execution_options(populate_existing=True))
    if event is not None:
        return event, False
    county = db.session.get(Division, county_code)
    event = Event(county_code=county.code, hazard=hazard, status=CaseStatus.OPEN, started_at=now, last_activity_at=now,
                  name=f"{local_date(now).isoformat()} {county.name} {hazard_name(hazard)}",
                  exercise_id=exercise_id)
    db.session.add(event)
    db.session.flush()
    return event, True


# ---- flags (SPEC §4.3) ---------------------------------------------------------------------

def compute_flags(kind: str, values: dict, previous: dict | None, narrative: str | None,
                  merged: dict) -> list[str]:
    """`decrease` and `implausible` from the figures alone (pure; `late` needs the database)."""
    flags: list[str] = []
    follow_up = previous is not None and kind in ("update", "final") and not (narrative or "").strip()
    if follow_up and any(key in values and previous.get(key) is not None and values[key] < previous[key]
                         for key in DECREASE_KEYS):
        flags.append("decrease")
    # Judge the figures this report sends (with the incident's other casualty figure for the sum),
    # so one confirmed large figure does not flag every later report of the incident.
    too_many = any(values.get(k) is not None and values[k] > 100_000 for k in PEOPLE_KEYS)
    if "deaths" in values or "missing" in values:
        too_many = too_many or (merged.get("deaths") or 0) + (merged.get("missing") or 0) > 1000
    grew = previous is not None and any(
        previous.get(k) and values[k] > 10 * previous[k] for k in values if previous.get(k))
    if too_many or grew:
        flags.append("implausible")
    return flags


def _is_late(incident_township: str | None, event: Event, hazard: str, exercise_id: int | None,
             now: datetime) -> bool:
    """An initial report more than 2 h after the first report about this hazard from its township."""
    if incident_township is None:
        return False
    first = db.session.scalar(
        select(func.min(Report.received_at)).where(
            Report.event_id == event.id, Report.township_code == incident_township, Report.hazard == hazard,
            exercise_clause(Report.exercise_id, exercise_id)))
    return first is not None and now - first > LATE_AFTER


# ---- saving ----------------------------------------------------------------------------------

def save_report(*, village: Division, author: Person | None, kind: str | None, hazard: str | None,
                indicators: dict, narrative: str | None, channel: str, message: InboundMessage | None,
                exercise_id: int | None, now: datetime | None = None) -> Saved:
    """Store one disaster report and bring its incident and event up to date (SPEC §4.1).

    `kind` None is inferred: initial when the village has no open incident for the hazard, else
    update. `hazard` None is the hazard of the village's only open incident. Raises
    ReportRefused (Chinese message) when the report cannot be placed.
    """
    now = now or utcnow()
    values = check_indicators(indicators)
    narrative = (narrative or "").strip()[:200] or None
    if not values and not narrative:
        raise ReportRefused("请写明灾情数字，例如: 初报 洪涝 死亡0 失踪0 转移30")
    lock_division(village.code)  # one open incident per village and hazard, even when A and B send at once
    incidents = open_incidents(village.code, exercise_id)
    if hazard is None:
        if len(incidents) != 1:
            which = "、".join(hazard_name(i.hazard) for i in incidents)
            raise ReportRefused(f"请写明灾种({which})，例如: 续报 洪涝 转移30" if incidents else
                                "请写明灾种，例如: 初报 洪涝 死亡0 转移30")
        hazard = incidents[0].hazard
    if hazard not in HAZARDS:
        raise ReportRefused(f"未知灾种 {hazard}。")
    incident = next((i for i in incidents if i.hazard == hazard), None)
    inferred = "update" if incident is not None else "initial"
    saved_kind = kind or inferred
    converted = False
    if kind == "initial" and incident is not None:
        saved_kind, converted = "update", True
    elif kind == "update" and incident is None:
        saved_kind, converted = "initial", True
    elif kind == "final" and incident is None:
        saved_kind = "final"

    new_incident = new_event = False
    previous: dict | None = None
    if incident is None:
        event, new_event = _event_for(village, hazard, exercise_id, now)
        incident = Incident(village_code=village.code, township_code=village.township_code,
                            county_code=village.county_code, hazard=hazard, status=CaseStatus.OPEN, event_id=event.id,
                            opened_at=now, last_report_at=now, report_count=0, flags=[],
                            exercise_id=exercise_id)
        incident.village = village
        db.session.add(incident)
        db.session.flush()
        new_incident = True
    else:
        previous = incident.indicators
        event = incident.event
        if event is None:
            event, new_event = _event_for(village, hazard, exercise_id, now)
            incident.event_id = event.id
    merged = dict(previous or {})
    merged.update(values)
    flags = compute_flags(saved_kind, values, previous, narrative, merged)
    if new_incident and not new_event and _is_late(village.township_code, event, hazard, exercise_id, now):
        flags.append("late")

    report = Report(kind=saved_kind, hazard=hazard, village_code=village.code, township_code=village.township_code,
                    county_code=village.county_code, author_id=author.id if author else None,
                    narrative=narrative, channel=channel, message_id=message.id if message else None,
                    status=ReportStatus.RECEIVED, flags=flags, incident_id=incident.id, event_id=event.id,
                    exercise_id=exercise_id, received_at=now, report_date=local_date(now))
    report.set_indicators(values)
    report.village = village
    report.incident = incident
    db.session.add(report)
    db.session.flush()

    # A message replayed from the spool may be older than the incident's latest report: it is
    # stored and counted, but the latest figures stay the newest ones.
    newest = new_incident or incident.last_report_at is None or now >= incident.last_report_at
    if newest:
        incident.set_indicators(values)
        incident.last_report_at = now
        incident.latest_report_id = report.id
    incident.report_count = (incident.report_count or 0) + 1
    if flags:
        incident.flags = sorted(set(incident.flags or []) | set(flags))
    if saved_kind == "final":
        incident.status, incident.closed_at = "closed", now
    if now - event.last_activity_at > ACTIVITY_GRAIN:
        # Minute grain is plenty for a 3-day window, and spares every report of a busy county
        # an UPDATE of (and a lock on) the same event row.
        event.last_activity_at = now
    return Saved(report, incident, event, previous, new_incident, new_event, converted)


def nil_report(*, village: Division, author: Person | None, hazard: str | None, narrative: str | None,
               channel: str, message: InboundMessage | None, exercise_id: int | None,
               now: datetime | None = None) -> tuple[Report, bool]:
    """One nil report per village and local day: a second one the same day returns the first."""
    now = now or utcnow()
    lock_division(village.code)
    today = local_date(now)
    existing = db.session.scalar(
        select(Report).where(Report.village_code == village.code, Report.kind == "nil",
                             Report.report_date == today, exercise_clause(Report.exercise_id, exercise_id))
        .limit(1))
    if existing is not None:
        return existing, False
    # "Nothing happened" while the village has an incident still open: kept, flagged, and the
    # officer is asked which is true (the incident may be over: a final report closes it).
    flags = ["open_incident"] if open_incidents(village.code, exercise_id) else []
    report = Report(kind="nil", hazard=hazard if hazard in HAZARDS else None, village_code=village.code,
                    township_code=village.township_code, county_code=village.county_code,
                    author_id=author.id if author else None, narrative=(narrative or "").strip()[:200] or None,
                    channel=channel, message_id=message.id if message else None, status=ReportStatus.RECEIVED,
                    flags=flags, exercise_id=exercise_id, received_at=now, report_date=today)
    report.village = village
    db.session.add(report)
    db.session.flush()
    return report, True
