"""The board's read side: who sees what (scope + drill isolation) and the aggregates.

Everything is summed in SQL so that a county with 5,000 open incidents is a handful of
grouped queries, not 5,000 objects. Every query goes through `BoardView.incident_filter()` (or
the matching helpers for reports, escalations, SMS), which applies `core.scope.scope_clause`
and `core.exercises.exercise_clause`: real and drill figures never mix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, or_, select

from core.divisions import below
from core.exercises import Exercise, exercise_clause, watchable_exercise
from core.extensions import db
from core.indicators import INDICATOR_KEYS, INDICATORS
from core.localtime import day_start
from core.models import Division, Person, utcnow
from core.scope import scope_clause
from dispatch.access import failed_sms_count, visible_clause
from dispatch.models import Escalation, EscalationStatus
from reporter.access import event_visible_clause
from reporter.models import COUNTY_REPORT_DUE, TOWNSHIP_REPORT_DUE, CaseStatus, Event, Incident, Report
from reporter.service import intake_backlog


@dataclass
class BoardView:
    """One viewer looking at real data or at one exercise."""

    person: Person
    exercise: Exercise | None = None
    now: datetime = field(default_factory=utcnow)
    _daily: dict | None = field(default=None, repr=False)  # daily_report_status, once per request
    _rollup: dict | None = field(default=None, repr=False)  # township_rollup, once per request
    _events: list | None = field(default=None, repr=False)

    @property
    def exercise_id(self) -> int | None:
        return self.exercise.id if self.exercise is not None else None

    # -- filters ---------------------------------------------------------------------------
    def open_event_ids(self):
        return select(Event.id).where(Event.status == CaseStatus.OPEN,
                                      exercise_clause(Event.exercise_id, self.exercise_id))

    def incident_filter(self, active_only: bool = True) -> list:
        """Scope + drill isolation (+ "part of an active event" when asked)."""
        conds = [scope_clause(self.person, Incident.village_code),
                 exercise_clause(Incident.exercise_id, self.exercise_id)]
        if active_only:
            conds.append(or_(Incident.status == CaseStatus.OPEN, Incident.event_id.in_(self.open_event_ids())))
        return conds

    def report_filter(self) -> list:
        return [scope_clause(self.person, Report.village_code), exercise_clause(Report.exercise_id, self.exercise_id)]

    def escalation_filter(self) -> list:
        return [visible_clause(self.person), exercise_clause(Escalation.exercise_id, self.exercise_id)]

    def today_start(self) -> datetime:
        """Midnight of today's calendar day in the deployment's zone, as UTC."""
        return day_start(self.now)


def resolve_exercise(person: Person, raw: str | None) -> Exercise | None:
    """The exercise named by `?exercise=`, if the person may watch it (`core.exercises`);
    LookupError otherwise."""
    if raw in (None, ""):
        return None
    exercise = watchable_exercise(person, int(raw)) if str(raw).isdigit() and len(str(raw)) < 10 else None
    if exercise is None:
        raise LookupError(raw)
    return exercise


# -- severity ----------------------------------------------------------------------------

def severity(values: dict) -> int:
    """0 nothing yet, 1 minor, 2 serious, 3 casualties, 4 skip-level (SPEC §5 E3 thresholds)."""
    v = {k: (values.get(k) or 0) for k in INDICATOR_KEYS}
    dm = v["deaths"] + v["missing"]
    if dm >= 10 or v["relocated"] >= 10_000 or v["houses_collapsed"] >= 1_000:
        return 4
    if dm >= 1:
        return 3
    if v["injured"] or v["houses_collapsed"] or v["relocated"] >= 100 or v["need_aid"] >= 100:
        return 2
    return 1 if any(v.values()) else 0


# -- summary -----------------------------------------------------------------------------

def figure_columns() -> list:
    """The indicator columns of Incident, for column (not entity) selects of thousands of rows."""
    return [getattr(Incident, k) for k in INDICATOR_KEYS]


def figures_of(row, offset: int) -> dict:
    """{key: value} of the present indicators in `row[offset:offset + 11]`."""
    return {k: v for k, v in zip(INDICATOR_KEYS, row[offset:offset + len(INDICATOR_KEYS)], strict=True)
            if v is not None}


def _sums():
    return [func.sum(getattr(Incident, k)).label(k) for k in INDICATOR_KEYS]


def summary(view: BoardView) -> dict:
    """Totals of the active events, silence, escalations and failed SMS for the header cards.

    Derived from the township roll-up (same queries, memoised per request): the header and the
    table can never disagree.
    """
    rollup = township_rollup(view)
    total = rollup["total"]
    return {"incidents": total["incidents"], "villages": total["villages"], "open_incidents": total["open_incidents"],
            "totals": {k: total[k] for k in INDICATOR_KEYS if total[k] is not None},
            "reported": total["reported"], "silent": total["silent"],
            "daily_townships": sum(1 for r in rollup["rows"] if r["daily"]),
            "escalations_open": rollup["escalations_open"], "escalations_overdue": rollup["escalations_overdue"],
            "sms_failed": failed_sms_count(view.person, view.exercise_id) or 0,
            "intake": intake_status(view.now),
            "events": _event_summaries(view)}


def _event_summaries(view: BoardView) -> list[dict]:
    """The open events with how many villages their daily reporting would concern (the board asks
    before it makes that many villages owe a report)."""
    events = [e for e in open_events(view) if e.status == CaseStatus.OPEN]
    townships = (select(Incident.event_id, Incident.township_code)
                 .where(Incident.event_id.in_([e.id for e in events])).distinct().subquery())
    villages = dict(db.session.execute(
        select(townships.c.event_id, func.count(Division.code))
        .join(Division, and_(Division.township_code == townships.c.township_code, Division.level == "village"))
        .group_by(townships.c.event_id)).all()) if events else {}
    return [{"id": e.id, "name": e.name, "hazard": e.hazard, "daily_report": e.daily_report,
             "county_code": e.county_code, "villages": villages.get(e.id, 0),
             "township_due": e.started_at + TOWNSHIP_REPORT_DUE, "county_due": e.started_at + COUNTY_REPORT_DUE,
             "county_reported_at": e.county_reported_at,
             "county_reported_by": e.county_reported_by.name if e.county_reported_by else None} for e in events]


def intake_status(now: datetime) -> dict:
    """How far the processing of inbound SMS is behind (the whole service, not one county): the
    board's figures lag by that much, and a county office should know it."""
    count, oldest = intake_backlog()
    return {"backlog": count, "oldest_seconds": (now - oldest).total_seconds() if oldest is not None else 0.0}


def daily_report_status(view: BoardView) -> dict[str, dict]:
    """For every township of an open daily-report event in scope: villages reported today / silent.

    SPEC §4.1: every village of the event's townships owes one report (nil included) per
    calendar day, so "reported" is any report received since local midnight.
    """
    if view._daily is None:
        view._daily = _cached_daily_status(view)
    return view._daily


_DAILY_CACHE: dict[tuple, dict] = {}
_DAILY_CACHE_SIZE = 64


def _cached_daily_status(view: BoardView) -> dict[str, dict]:
    """The 5,000-village answer only changes with a new report, a new day or a daily-report
    event switched on or off, so it is kept (per process) under exactly that key (the newest
    report's id and time, so a restored or truncated database cannot hit an old entry); the key
    costs a few index look-ups. An open board re-renders on every change it sees."""
    daily_events = tuple(db.session.scalars(
        select(Event.id).where(Event.status == CaseStatus.OPEN, Event.daily_report.is_(True),
                               exercise_clause(Event.exercise_id, view.exercise_id)).order_by(Event.id)))
    if not daily_events:
        return {}
    latest = db.session.execute(select(func.max(Report.id), func.max(Report.received_at))).one()
    key = (view.person.division_code, view.exercise_id, daily_events, view.today_start(), tuple(latest),
           db.session.scalar(select(func.count(Division.code))))
    found = _DAILY_CACHE.get(key)
    if found is None:
        found = _daily_report_status(view)
        if len(_DAILY_CACHE) >= _DAILY_CACHE_SIZE:
            _DAILY_CACHE.pop(next(iter(_DAILY_CACHE)))
        _DAILY_CACHE[key] = found
    return found


def _daily_report_status(view: BoardView) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for _code, name, township, reported in daily_villages(view):
        entry = out.setdefault(township, {"reported": [], "silent": []})
        entry["reported" if reported else "silent"].append(name)
    return out


def daily_villages(view: BoardView) -> list[tuple[str, str, str, bool]]:
    """(code, name, township code, reported today) of every village in scope that owes today's
    report: the villages of the townships of an open daily-report event (SPEC §4.1)."""
    daily_events = select(Event.id).where(Event.status == CaseStatus.OPEN, Event.daily_report.is_(True),
                                          exercise_clause(Event.exercise_id, view.exercise_id))
    townships = select(func.distinct(Incident.township_code)).where(
        Incident.event_id.in_(daily_events), *view.incident_filter(active_only=False))
    villages = db.session.execute(
        select(Division.code, Division.name, Division.township_code)
        .where(Division.level == "village", Division.township_code.in_(townships),
               scope_clause(view.person, Division.code))
        .order_by(Division.township_code, Division.code)).all()
    if not villages:
        return []
    reported = set(db.session.scalars(
        select(func.distinct(Report.village_code)).join(Division, Division.code == Report.village_code)
        .where(Division.township_code.in_(townships), Report.received_at >= view.today_start(),
               *view.report_filter())))
    return [(code, name, township, code in reported) for code, name, township in villages]


# -- per-township roll-up --------------------------------------------------------------------

def township_rollup(view: BoardView) -> dict:
    """The official roll-up: one row per township (totals, reporting, last report, overdue)."""
    if view._rollup is None:
        view._rollup = _township_rollup(view)
    return view._rollup


def _township_rollup(view: BoardView) -> dict:
    agg = {r.township_code: r for r in db.session.execute(
        select(Incident.township_code, func.count(Incident.id).label("incidents"),
               func.count(Incident.id).filter(Incident.status == CaseStatus.OPEN).label("open_incidents"),
               func.count(func.distinct(Incident.village_code)).label("villages"),
               func.max(Incident.last_report_at).label("last_report_at"), *_sums())
        .where(*view.incident_filter()).group_by(Incident.township_code))}
    esc = db.session.execute(
        select(Division.township_code, func.count(Escalation.id),
               func.count(Escalation.id).filter(Escalation.deadline_at < view.now))
        .outerjoin(Division, Division.code == Escalation.village_code)
        .where(Escalation.status == EscalationStatus.OPEN, *view.escalation_filter())
        .group_by(Division.township_code)).all()
    overdue = {t: n for t, _open, n in esc if t is not None}
    daily = daily_report_status(view)
    codes = set(agg) | set(daily) | {t for t, n in overdue.items() if n}
    if view.person.division.level in ("county", "township"):
        codes |= {d.code for d in below(view.person.division, "township")}
    codes.discard(None)
    names = dict(db.session.execute(select(Division.code, Division.name).where(Division.code.in_(codes))).all())
    village_counts = dict(db.session.execute(
        select(Division.township_code, func.count(Division.code))
        .where(Division.level == "village", Division.township_code.in_(codes))
        .group_by(Division.township_code)).all())
    rows, total = [], {k: None for k in INDICATOR_KEYS}
    counters = ("incidents", "open_incidents", "villages", "reported", "silent", "overdue", "village_count")
    total.update({k: 0 for k in counters}, last_report_at=None)
    for code in sorted(codes):
        a = agg.get(code)
        d = daily.get(code, {"reported": [], "silent": []})
        row = {"code": code, "name": names.get(code, code), "incidents": a.incidents if a else 0,
               "open_incidents": a.open_incidents if a else 0,
               "villages": a.villages if a else 0, "last_report_at": a.last_report_at if a else None,
               "village_count": village_counts.get(code, 0), "daily": code in daily,
               "reported_names": d["reported"], "silent_names": d["silent"],
               "reported": len(d["reported"]), "silent": len(d["silent"]), "overdue": overdue.get(code, 0)}
        for k in INDICATOR_KEYS:
            row[k] = getattr(a, k) if a else None
            if row[k] is not None:
                total[k] = (total[k] or 0) + row[k]
        for k in counters:
            total[k] += row[k]
        last = row["last_report_at"]
        if last and (total["last_report_at"] is None or last > total["last_report_at"]):
            total["last_report_at"] = last
        rows.append(row)
    return {"rows": rows, "total": total, "escalations_open": sum(r[1] for r in esc),
            "escalations_overdue": sum(r[2] for r in esc)}


def indicator_headers() -> list[tuple[str, str, str]]:
    """(key, 中文, unit) in the national order."""
    return [(k, INDICATORS[k][0], INDICATORS[k][1]) for k in INDICATOR_KEYS]


def open_events(view: BoardView) -> list[Event]:
    """Events the viewer can filter on: any with an incident in scope (newest first)."""
    if view._events is None:
        view._events = _events(view)
    return view._events


def _events(view: BoardView) -> list[Event]:
    return list(db.session.scalars(
        select(Event).where(Event.id.in_(select(Incident.event_id).where(*view.incident_filter(active_only=False))))
        .order_by(Event.started_at.desc()).limit(50)))


def townships_in_scope(view: BoardView) -> list[tuple[str, str]]:
    """(code, name) for the township filter: the roll-up's townships (all of a county's; the
    active ones for a city or the province)."""
    return [(r["code"], r["name"]) for r in township_rollup(view)["rows"]]


def events_in_scope_clause(view: BoardView):
    """The events the viewer may see (`reporter.access`), of the real world or the exercise chosen."""
    return and_(event_visible_clause(view.person), exercise_clause(Event.exercise_id, view.exercise_id))
