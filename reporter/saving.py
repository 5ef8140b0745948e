"""Saving a report in two steps (SPEC §4.1): `plan_report` decides, `place_report` files it.

`plan_report` is what the SMS request itself must do to answer the officer: the report's kind
(初报/续报), hazard, flags and id, from the village's open incident. `place_report` is the rest:
the incident and event brought up to date. The intake processor runs the second step later, in
batches (`reporter.processing`); the web form and the review conversion run both at once
(`reporter.flows.submit_report`). Both steps run inside the caller's transaction and never commit.

Lock order (PostgreSQL): the village's division row first (`lock_division`), then the village's
stored-but-unplaced messages, then the county row when an event is opened. The request waits for
the village; the processor never waits for a village (it skips one that is locked), so the only
waits that can chain are on county rows, which everyone takes in village-code order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, select, tuple_

from core.exercises import exercise_clause
from core.extensions import db
from core.indicators import HAZARDS
from core.localtime import local_date
from core.models import Division, Person, utcnow
from core.txmemo import known, remember, remembered
from reporter.models import CaseStatus, Event, InboundMessage, Incident, Report, ReportStatus
from reporter.service import (
    ACTIVITY_GRAIN,
    EVENT_WINDOW,
    LATE_AFTER,
    ReportRefused,
    check_indicators,
    compute_flags,
    hazard_name,
    lock_division,
    open_incidents,
    open_incidents_stmt,
)


@dataclass
class Saved:
    """What `place_report` did, for dispatch (`reporter.events.report_saved`)."""

    report: Report
    incident: Incident
    event: Event
    previous: dict | None           # the incident's figures before this report (None: new incident)
    new_incident: bool = False
    new_event: bool = False


def placed(report: Report) -> bool:
    """A nil report needs no placing; any other report is placed once it has its event (a
    planned report continuing an open incident already names that incident)."""
    return report.kind == "nil" or report.event_id is not None


def _open_event_stmt(county_code: str, hazard: str, exercise_id: int | None, since: datetime):
    """The county's open event of this hazard active since `since` (values or bound parameters)."""
    return (select(Event).where(Event.county_code == county_code, Event.hazard == hazard,
                                Event.status == CaseStatus.OPEN, Event.last_activity_at >= since,
                                exercise_clause(Event.exercise_id, exercise_id))
            .order_by(Event.last_activity_at.desc()).limit(1))


def _event_for(village: Division, hazard: str, exercise_id: int | None, now: datetime) -> tuple[Event, bool]:
    """The open event of the village's county and hazard active within 3 days, or a new one.

    Found once per transaction (the intake processor files a county's reports together)."""
    county_code = village.county_code or village.code
    known = remembered("event", (county_code, hazard, exercise_id), lambda: None)
    if known is not None and known.status == CaseStatus.OPEN:
        return known, False
    event, new = _find_or_open_event(village, hazard, exercise_id, now)
    remember("event", (county_code, hazard, exercise_id), event)
    return event, new


def look_up_events(reports: list[Report]) -> None:
    """The open events of a batch's new incidents (county, hazard, drill), in one query per drill
    instead of one per county, remembered for `_event_for`: a province-wide batch spans a hundred
    counties, and each lookup also flushed what the batch had added so far. Only events active
    within the window of the batch's newest report are taken (they suit every report of it); a
    county without one is looked up, or opened, report by report as before."""
    wanted: dict[int | None, set[tuple[str, str]]] = {}
    newest: datetime | None = None
    for report in reports:
        if report.incident is None and report.village is not None:
            key = (report.village.county_code or report.village.code, report.hazard)
            if not known("event", (*key, report.exercise_id)):
                wanted.setdefault(report.exercise_id, set()).add(key)
                at = report.received_at or utcnow()
                newest = at if newest is None else max(newest, at)
    for exercise_id, places in wanted.items():
        for event in db.session.scalars(select(Event).where(
                tuple_(Event.county_code, Event.hazard).in_(places), Event.status == CaseStatus.OPEN,
                Event.last_activity_at >= newest - EVENT_WINDOW, exercise_clause(Event.exercise_id, exercise_id))
                .order_by(Event.last_activity_at, Event.id)):  # the most recent of a county's last
            remember("event", (event.county_code, event.hazard, exercise_id), event)


def _find_or_open_event(village: Division, hazard: str, exercise_id: int | None,
                        now: datetime) -> tuple[Event, bool]:
    county_code = village.county_code or village.code
    stmt = _open_event_stmt(county_code, hazard, exercise_id, now - EVENT_WINDOW)
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


def first_report_stmt(county_code: str, township_code: str, hazard: str, exercise_id: int | None,
                      since: datetime):
    """When the township first reported this hazard in the county's open event active since
    `since` (one value, NULL without either), in one statement: the event is a subquery."""
    event_id = (_open_event_stmt(county_code, hazard, exercise_id, since)
                .with_only_columns(Event.id).scalar_subquery())  # the id only: no county join on the hot path
    return select(func.min(Report.received_at)).where(
        Report.event_id == event_id, Report.township_code == township_code, Report.hazard == hazard,
        exercise_clause(Report.exercise_id, exercise_id))


def late(first: datetime | None, now: datetime) -> bool:
    """A new incident's initial report more than 2 h after its township's first in the event."""
    return first is not None and now - first > LATE_AFTER


def _is_late(village: Division, hazard: str, exercise_id: int | None, now: datetime) -> bool:
    if village.township_code is None:
        return False
    first = db.session.scalar(first_report_stmt(village.county_code or village.code, village.township_code, hazard,
                                                exercise_id, now - EVENT_WINDOW))
    return late(first, now)


@dataclass
class Plan:
    """What a report will be, decided from the village's open incidents (`decide`)."""

    kind: str                  # initial | update | final
    hazard: str
    incident: object | None    # the open incident it continues (anything with .hazard, .indicators)
    values: dict               # its figures, checked
    narrative: str | None
    flags: list[str]           # decrease / implausible; `late` is the caller's (it needs the database)


def decide(*, kind: str | None, hazard: str | None, indicators: dict, narrative: str | None,
           incidents: list) -> Plan:
    """The report's kind, hazard, figures and flags (pure: the open incidents come in).

    `kind` None is inferred: initial when the village has no open incident for the hazard, else
    update. `hazard` None is the hazard of the village's only open incident. Raises ReportRefused
    (Chinese message) when the report cannot be placed."""
    values = check_indicators(indicators)
    narrative = (narrative or "").strip()[:200] or None
    if not values and not narrative:
        raise ReportRefused("请写明灾情数字，例如: 初报 洪涝 死亡0 失踪0 转移30")
    if hazard is None:
        if len(incidents) != 1:
            which = "、".join(hazard_name(i.hazard) for i in incidents)
            raise ReportRefused(f"请写明灾种({which})，例如: 续报 洪涝 转移30" if incidents else
                                "请写明灾种，例如: 初报 洪涝 死亡0 转移30")
        hazard = incidents[0].hazard
    if hazard not in HAZARDS:
        raise ReportRefused(f"未知灾种 {hazard}。")
    incident = next((i for i in incidents if i.hazard == hazard), None)
    saved_kind = kind or ("update" if incident is not None else "initial")
    if kind == "initial" and incident is not None:
        saved_kind = "update"
    elif kind == "update" and incident is None:
        saved_kind = "initial"
    previous = incident.indicators if incident is not None else None
    merged = dict(previous or {})
    merged.update(values)
    flags = compute_flags(saved_kind, values, previous, narrative, merged)
    return Plan(saved_kind, hazard, incident, values, narrative, flags)


def new_report(plan: Plan, *, village: Division, author_id: int | None, channel: str, message_id: int | None,
               exercise_id: int | None, now: datetime) -> Report:
    """The planned report's row (not added to the session)."""
    report = Report(kind=plan.kind, hazard=plan.hazard, village_code=village.code,
                    township_code=village.township_code, county_code=village.county_code, author_id=author_id,
                    narrative=plan.narrative, channel=channel, message_id=message_id,
                    status=ReportStatus.RECEIVED, flags=plan.flags, event_id=None,
                    exercise_id=exercise_id, received_at=now, report_date=local_date(now))
    report.set_indicators(plan.values)
    return report


def plan_report(*, village: Division, author: Person | None, kind: str | None, hazard: str | None,
                indicators: dict, narrative: str | None, channel: str, message: InboundMessage | None,
                exercise_id: int | None, now: datetime | None = None) -> Report:
    """Decide (`decide`) and store the report row; its incident and event are filed by `place_report`.

    The caller holds the village (`lock_division`) with nothing of it left unplaced. Raises
    ReportRefused (Chinese message) when the report cannot be placed.
    """
    now = now or utcnow()
    plan = decide(kind=kind, hazard=hazard, indicators=indicators, narrative=narrative,
                  incidents=open_incidents(village.code, exercise_id))
    if plan.incident is None and _is_late(village, plan.hazard, exercise_id, now):
        plan.flags.append("late")
    report = new_report(plan, village=village, author_id=author.id if author else None, channel=channel,
                        message_id=message.id if message else None, exercise_id=exercise_id, now=now)
    report.village = village
    report.incident = plan.incident  # the open incident it continues (kept as planned); None: placing opens one
    db.session.add(report)
    db.session.flush()
    return report


def place_report(report: Report) -> Saved:
    """File a planned report: open or update its incident, find or open its event. A new
    incident is added, not flushed: the caller flushes a batch's together."""
    village, hazard, exercise_id, now = report.village, report.hazard, report.exercise_id, report.received_at
    incident = report.incident
    new_incident = new_event = False
    previous: dict | None = None
    if incident is None:
        event, new_event = _event_for(village, hazard, exercise_id, now)
        incident = Incident(village_code=village.code, township_code=village.township_code,
                            county_code=village.county_code, hazard=hazard, status=CaseStatus.OPEN, event_id=event.id,
                            opened_at=now, last_report_at=now, report_count=0, flags=[],
                            exercise_id=exercise_id)
        incident.village = village
        db.session.add(incident)  # inserted with the batch's others at the caller's flush
        new_incident = True
    else:
        previous = incident.indicators
        event = incident.event
        if event is None:
            event, new_event = _event_for(village, hazard, exercise_id, now)
            incident.event_id = event.id
    report.incident, report.event_id = incident, event.id

    # A message replayed from the spool may be older than the incident's latest report: it is
    # stored and counted, but the latest figures stay the newest ones.
    newest = new_incident or incident.last_report_at is None or now >= incident.last_report_at
    if newest:
        incident.set_indicators(report.indicators)
        incident.last_report_at = now
        incident.latest_report_id = report.id
    incident.report_count = (incident.report_count or 0) + 1
    if report.flags:
        incident.flags = sorted(set(incident.flags or []) | set(report.flags))
    if report.kind == "final":
        incident.status, incident.closed_at = "closed", now
    if now - event.last_activity_at > ACTIVITY_GRAIN:
        # Minute grain is plenty for a 3-day window, and spares every report of a busy county
        # an UPDATE of (and a lock on) the same event row.
        event.last_activity_at = now
    return Saved(report, incident, event, previous, new_incident, new_event)


def todays_nil_stmt(village_code: str, today, exercise_id: int | None):
    """The id of the village's nil report of that local day (values or bound parameters)."""
    return (select(Report.id).where(Report.village_code == village_code, Report.kind == "nil",
                                    Report.report_date == today, exercise_clause(Report.exercise_id, exercise_id))
            .limit(1))


def new_nil_report(*, village: Division, author_id: int | None, hazard: str | None, narrative: str | None,
                   channel: str, message_id: int | None, exercise_id: int | None, now: datetime,
                   incident_open: bool) -> Report:
    """The nil report's row (not added to the session). "Nothing happened" while the village has
    an incident still open is kept, flagged, and the officer is asked which is true (the incident
    may be over: a final report closes it)."""
    return Report(kind="nil", hazard=hazard if hazard in HAZARDS else None, village_code=village.code,
                  township_code=village.township_code, county_code=village.county_code, author_id=author_id,
                  narrative=(narrative or "").strip()[:200] or None, channel=channel, message_id=message_id,
                  status=ReportStatus.RECEIVED, flags=["open_incident"] if incident_open else [],
                  exercise_id=exercise_id, received_at=now, report_date=local_date(now))


def nil_report(*, village: Division, author: Person | None, hazard: str | None, narrative: str | None,
               channel: str, message: InboundMessage | None, exercise_id: int | None,
               now: datetime | None = None) -> tuple[Report, bool]:
    """One nil report per village and local day: a second one the same day returns the first."""
    now = now or utcnow()
    # Today's nil report, and whether an incident is open, in one statement of plain values: a
    # repeat is rare, and loading entities only to test them (a report joins its village, the
    # incidents their events) was about a third of a nil SMS's time in the request.
    existing_id, incident_open = db.session.execute(select(
        todays_nil_stmt(village.code, local_date(now), exercise_id).scalar_subquery(),
        exists(open_incidents_stmt(village.code, exercise_id)))).one()
    if existing_id is not None:
        return db.session.get(Report, existing_id), False
    report = new_nil_report(village=village, author_id=author.id if author else None, hazard=hazard,
                            narrative=narrative, channel=channel, message_id=message.id if message else None,
                            exercise_id=exercise_id, now=now, incident_open=incident_open)
    report.village = village
    db.session.add(report)
    db.session.flush()
    return report, True
