"""Incident list (filters, sorting, escalation state), the map layer and the live-change feed."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import String, cast, desc, func, nulls_last, or_, select
from sqlalchemy.orm import aliased, lazyload, selectinload

from board.labels import FLAG_LABELS, HAZARD_LABELS, INDICATOR_LABELS, KIND_LABELS, RULE_LABELS
from board.query import BoardView, figure_columns, severity
from core.extensions import db
from core.indicators import HAZARDS, INDICATOR_KEYS
from core.models import Boundary, Division, Person
from dispatch.models import Escalation
from reporter.models import Incident, Report
from shelters.service import board_layer

PER_PAGE = 50
FLAGS = ("decrease", "implausible", "late")
REVIEW_STATES = ("received", "accepted", "returned", "corrected")
SORTS = ("recent", "severity", "relocated", "affected", "village", "township", "opened")
# Changes older than this are not replayed to a board that was asleep: it reloads its data.
ACK_OVERLAP = timedelta(seconds=10)


@dataclass
class Filters:
    township: str = ""
    hazard: str = ""
    event: str = ""
    status: str = "open"
    flag: str = ""
    review: str = ""
    q: str = ""
    sort: str = "recent"
    page: int = 1

    @classmethod
    def from_args(cls, args) -> Filters:
        """Unknown values are ignored (a bad bookmark shows everything, not an error)."""
        f = cls(**{k: (args.get(k) or "").strip()[:100] for k in
                   ("township", "hazard", "event", "flag", "review", "q")})
        f.status = args.get("status", "open") if args.get("status", "open") in ("open", "closed", "all") else "open"
        f.sort = args.get("sort") if args.get("sort") in SORTS else "recent"
        f.hazard = f.hazard if f.hazard in HAZARDS else ""
        f.flag = f.flag if f.flag in FLAGS else ""
        f.review = f.review if f.review in REVIEW_STATES else ""
        f.event = f.event if f.event.isdigit() else ""
        f.township = f.township if f.township.isdigit() else ""
        page = args.get("page", "1")
        f.page = min(int(page), 10_000) if page.isdigit() and int(page) > 0 else 1
        return f

    def args(self, extra: dict | None = None, **override) -> dict:
        """Query arguments reproducing this view (for pager links), with `extra` (exercise) added."""
        values = {k: getattr(self, k) for k in ("township", "hazard", "event", "status", "flag", "review", "q",
                                                 "sort", "page")}
        values.update(override)
        values.update(extra or {})
        return {k: v for k, v in values.items() if v not in ("", None) and not (k == "page" and v == 1)}


def list_incidents(view: BoardView, f: Filters) -> tuple[list[dict], int]:
    """One page of incidents with their latest report and escalation state."""
    latest = aliased(Report)
    township = aliased(Division)
    stmt = (select(Incident, Division.name, Division.lon, Division.lat, township.name, latest)
            .join(Division, Division.code == Incident.village_code)
            .outerjoin(township, township.code == Incident.township_code)
            .outerjoin(latest, latest.id == Incident.latest_report_id)
            .where(*view.incident_filter(active_only=False))
            # names come from the explicit joins: skip the models' joined-eager village (and parent)
            .options(lazyload(Incident.village), lazyload(latest.village)))
    if f.status != "all":
        stmt = stmt.where(Incident.status == f.status)
    if f.township:
        stmt = stmt.where(Incident.township_code == f.township)
    if f.hazard:
        stmt = stmt.where(Incident.hazard == f.hazard)
    if f.event:
        stmt = stmt.where(Incident.event_id == int(f.event))
    if f.flag:
        token = f'"{f.flag}"'
        stmt = stmt.where(or_(cast(Incident.flags, String).contains(token), cast(latest.flags, String).contains(token)))
    if f.review:
        stmt = stmt.where(latest.status == f.review)
    if f.q:
        q = f.q
        conds = [Division.name.contains(q, autoescape=True), latest.narrative.contains(q, autoescape=True),
                 township.name.contains(q, autoescape=True)]
        if q[:1] in "Rr" and q[1:].isdigit():
            conds.append(Incident.latest_report_id == int(q[1:]))
        stmt = stmt.where(or_(*conds))
    total = db.session.scalar(select(func.count()).select_from(stmt.with_only_columns(Incident.id).subquery()))
    dm = func.coalesce(Incident.deaths, 0) + func.coalesce(Incident.missing, 0)
    order = {
        "recent": [desc(Incident.last_report_at)],
        "severity": [desc(dm), desc(func.coalesce(Incident.injured, 0)), desc(func.coalesce(Incident.relocated, 0))],
        "relocated": [nulls_last(desc(Incident.relocated))],
        "affected": [nulls_last(desc(Incident.affected))],
        "village": [Division.name],
        "township": [Incident.township_code, Division.name],
        "opened": [desc(Incident.opened_at)],
    }[f.sort]
    rows = db.session.execute(stmt.order_by(*order, desc(Incident.id))
                              .limit(PER_PAGE).offset((f.page - 1) * PER_PAGE)).all()
    escalations = escalation_state([r[0].id for r in rows])
    items = []
    for incident, village, lon, lat, township_name, report in rows:
        values = incident.indicators
        items.append({
            "incident": incident, "village": village, "township": township_name or "", "lon": lon, "lat": lat,
            "report": report, "figures": values, "severity": severity(values),
            "flags": sorted(set(incident.flags or []) | set((report.flags or []) if report else [])),
            "escalations": escalations.get(incident.id, []),
        })
    return items, total or 0


def escalation_state(incident_ids: list[int]) -> dict[int, list[Escalation]]:
    """Escalations of these incidents, newest first, with recipients and acknowledger loaded."""
    if not incident_ids:
        return {}
    out: dict[int, list[Escalation]] = defaultdict(list)
    for e in db.session.scalars(
            select(Escalation).where(Escalation.incident_id.in_(incident_ids))
            .options(selectinload(Escalation.recipients), selectinload(Escalation.acknowledged_by))
            .order_by(Escalation.id.desc())):
        out[e.incident_id].append(e)
    return out


# -- map ---------------------------------------------------------------------------------

def map_layer(view: BoardView) -> dict:
    """Markers only: [incident id, lat, lon, severity, open (1/0)] — 5,000 of them stay a small,
    quick download. What a popup shows is fetched when it is opened (`incident_popup`)."""
    rows = db.session.execute(
        select(Incident.id, Division.lat, Division.lon, Incident.status, *figure_columns())
        .join(Division, Division.code == Incident.village_code)
        .where(*view.incident_filter(), Division.lat.is_not(None))
        .order_by(Incident.id)).all()
    markers = [[row[0], round(row[1], 5), round(row[2], 5), severity(dict(zip(INDICATOR_KEYS, row[4:], strict=True))),
                1 if row[3] == "open" else 0] for row in rows]
    return {"markers": markers, "outline": outlines(view)}


def incident_popup(view: BoardView, incident_id: int) -> dict | None:
    """One incident for its map popup (None when not visible to the viewer). Plain data: the
    browser puts every string in textContent."""
    township = aliased(Division)
    latest = aliased(Report)
    row = db.session.execute(
        select(Incident, Division.name, township.name, latest.id, latest.kind, latest.status, latest.narrative)
        .join(Division, Division.code == Incident.village_code)
        .outerjoin(township, township.code == Incident.township_code)
        .outerjoin(latest, latest.id == Incident.latest_report_id)
        .where(Incident.id == incident_id, *view.incident_filter(active_only=False))
        .options(lazyload(Incident.village))).first()
    if row is None:
        return None
    incident, village, township_name, report_id, kind, review, narrative = row
    values = incident.indicators
    return {"id": incident.id, "village": village, "township": township_name or "",
            "hazard": str(HAZARD_LABELS.get(incident.hazard, incident.hazard)),
            "figures": [f"{INDICATOR_LABELS[k]} {int(v) if float(v).is_integer() else round(v, 2)}"
                        for k, v in values.items()],
            "severity": severity(values), "status": incident.status,
            "flags": [str(FLAG_LABELS.get(f, f)) for f in incident.flags or []],
            "report": f"R{report_id}" if report_id else None, "kind": str(KIND_LABELS.get(kind, kind or "")),
            "narrative": narrative or ""}


def outlines(view: BoardView) -> list[dict]:
    """County outlines (GeoJSON geometries) for the viewer's county, or the counties in scope."""
    division = view.person.division
    if division.level in ("county", "township", "village"):
        codes = [division.county_code or division.code]
    else:
        codes = select(Division.code).where(Division.level == "county", getattr(Division, f"{division.level}_code")
                                            == division.code)
        if division.level == "province":
            codes = codes.where(Division.code.in_(select(func.distinct(Incident.county_code))
                                                  .where(*view.incident_filter())))
    return [b.geometry for b in db.session.scalars(select(Boundary).where(Boundary.division_code.in_(codes)))]


def shelter_layer(view: BoardView) -> dict:
    """The shelters part's layer (fill, stale); an empty layer until that part is installed."""
    return board_layer(view.person, view.exercise_id)


# -- live changes ------------------------------------------------------------------------

def make_cursor(view: BoardView) -> str:
    """`<last report id>.<last escalation id>.<epoch ms>`: where the next poll starts."""
    r = db.session.scalar(select(func.max(Report.id))) or 0
    e = db.session.scalar(select(func.max(Escalation.id))) or 0
    return f"{r}.{e}.{int(view.now.timestamp() * 1000)}"


def parse_cursor(raw: str | None) -> tuple[int, int, datetime] | None:
    try:
        r, e, t = (raw or "").split(".")
        return int(r), int(e), datetime.fromtimestamp(int(t) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def changes(view: BoardView, raw_cursor: str | None, limit: int = 20) -> dict:
    """What happened since the cursor: new reports, new escalations, acknowledgements.

    Three indexed range queries (ids for inserts, acknowledged_at for acks). Acks are looked
    up with an overlap so a transaction that committed late is still seen; the browser keeps
    the keys it has shown and counts only new ones.
    """
    cursor = parse_cursor(raw_cursor)
    new_cursor = make_cursor(view)
    if cursor is None:
        return {"cursor": new_cursor, "items": [], "counts": {"reports": 0, "escalations": 0, "acks": 0}}
    last_r, last_e, since = cursor
    items = []
    reports = db.session.execute(
        select(Report.id, Report.kind, Report.hazard, Division.name, Report.received_at)
        .join(Division, Division.code == Report.village_code)
        .where(Report.id > last_r, *view.report_filter()).order_by(Report.id.desc()).limit(limit)).all()
    n_reports = db.session.scalar(select(func.count(Report.id)).where(Report.id > last_r, *view.report_filter()))
    for rid, kind, hazard, village, at in reports:
        items.append({"key": f"R{rid}", "type": "report", "id": f"R{rid}", "village": village,
                      "hazard": HAZARDS.get(hazard or "", hazard or ""), "kind": kind, "at": at.isoformat()})
    escs = db.session.execute(
        select(Escalation.id, Escalation.rule, Escalation.village_code, Escalation.created_at)
        .where(Escalation.id > last_e, *view.escalation_filter()).order_by(Escalation.id.desc()).limit(limit)).all()
    n_escs = db.session.scalar(select(func.count(Escalation.id)).where(Escalation.id > last_e,
                                                                        *view.escalation_filter()))
    names = _names({e.village_code for e in escs})
    for eid, rule, village_code, at in escs:
        items.append({"key": f"E{eid}", "type": "escalation", "id": f"E{eid}", "code": rule,
                      "rule": str(RULE_LABELS.get(rule, rule)),
                      "village": names.get(village_code, ""), "at": at.isoformat()})
    acks = db.session.execute(
        select(Escalation.id, Escalation.acknowledged_at, Person.name)
        .outerjoin(Person, Person.id == Escalation.acknowledged_by_id)
        .where(Escalation.acknowledged_at > since - ACK_OVERLAP, *view.escalation_filter())
        .order_by(Escalation.acknowledged_at.desc()).limit(limit)).all()
    for eid, at, who in acks:
        items.append({"key": f"ack:E{eid}", "type": "ack", "id": f"E{eid}", "by": who or "", "at": at.isoformat()})
    return {"cursor": new_cursor, "items": items,
            "counts": {"reports": n_reports or 0, "escalations": n_escs or 0, "acks": len(acks)}}


def _names(codes: set) -> dict[str, str]:
    codes = {c for c in codes if c}
    if not codes:
        return {}
    return dict(db.session.execute(select(Division.code, Division.name).where(Division.code.in_(codes))).all())
