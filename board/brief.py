"""The daily brief (灾情简报): one A4 page per office and day — the page a county office sends up
every morning. Totals and the change since the start of the day, the townships, the escalations
still waiting, the silent villages, the shelters in use; as a print view and as PDF."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from board import silence
from board.query import BoardView, figure_columns, figures_of, summary, township_rollup
from core.extensions import db
from core.indicators import INDICATOR_KEYS
from reporter.models import Incident, Report
from shelters import service as shelter_service


@dataclass
class Brief:
    summary: dict
    rollup: dict
    since_day_start: dict       # key → change of the active incidents' totals since local midnight
    new_incidents: int
    reports_today: int
    silent: list
    shelters_in_use: list


def build(view: BoardView) -> Brief:
    start = view.today_start()
    active = view.incident_filter()
    latest_before = (select(Report.incident_id, func.max(Report.id).label("report_id"))
                     .where(Report.received_at < start, Report.incident_id.in_(select(Incident.id).where(*active)))
                     .group_by(Report.incident_id).subquery())
    before = db.session.execute(
        select(*[func.sum(getattr(Report, k)) for k in INDICATOR_KEYS])
        .join(latest_before, latest_before.c.report_id == Report.id)).one()
    now = db.session.execute(select(*[func.sum(c) for c in figure_columns()]).where(*active)).one()
    then, current = figures_of(before, 0), figures_of(now, 0)
    change = {k: current.get(k, 0) - then.get(k, 0) for k in INDICATOR_KEYS if k in current or k in then}
    new_incidents = db.session.scalar(select(func.count(Incident.id)).where(*active, Incident.opened_at >= start)) or 0
    reports_today = db.session.scalar(select(func.count(Report.id)).where(
        *view.report_filter(), Report.received_at >= start)) or 0
    shelters = [(s, st) for s, st in shelter_service.filtered(view.person, exercise_id=view.exercise_id)
                if st.occupancy]
    return Brief(summary(view), township_rollup(view), change, new_incidents, reports_today,
                 silence.silent_villages(view), shelters)
