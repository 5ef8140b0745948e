"""The county's 初报 table for one event (灾害过程): what the county office sends the city within
2 hours (SPEC §0), in the layout of the township roll-up's statistics form (`exports.statistics_xlsx`),
one row per township of the event's incidents that the viewer may see, and a total.

Every incident of the event counts, closed ones too: a village whose incident already ended by
a 核报 still belongs in the county's figures for the disaster process.
"""

from __future__ import annotations

from sqlalchemy import func, select

from board.exports import statistics_xlsx
from board.query import BoardView, indicator_headers
from core.exercises import exercise_clause
from core.extensions import db
from core.indicators import HAZARDS, INDICATOR_KEYS
from core.localtime import local_text
from core.models import Division
from core.scope import scope_clause
from reporter.models import Event, Incident


def county_report_table(view: BoardView, event: Event) -> tuple[list[str], list[list], list]:
    """Header, one row per township (figures the officers gave; none given: empty) and the total."""
    sums = [func.sum(getattr(Incident, k)).label(k) for k in INDICATOR_KEYS]
    rows = db.session.execute(
        select(Incident.township_code, Division.name, func.count(func.distinct(Incident.village_code)), *sums)
        .outerjoin(Division, Division.code == Incident.township_code)
        .where(Incident.event_id == event.id, scope_clause(view.person, Incident.village_code),
               exercise_clause(Incident.exercise_id, view.exercise_id))
        .group_by(Incident.township_code, Division.name).order_by(Incident.township_code)).all()
    header = ["乡镇（街道）"] + [f"{name}（{unit}）" for _k, name, unit in indicator_headers()] + ["涉灾村数（个）"]
    body, total = [], [None] * len(INDICATOR_KEYS)
    villages = 0
    for code, name, count, *figures in rows:
        body.append([name or code] + list(figures) + [count])
        villages += count
        total = [t if f is None else (t or 0) + f for t, f in zip(total, figures, strict=True)]
    return header, body, ["合计"] + total + [villages]


def county_report_xlsx(view: BoardView, event: Event) -> bytes:
    header, rows, total = county_report_table(view, event)
    drill = "【演练】" if view.exercise else ""
    hazard = HAZARDS.get(event.hazard, event.hazard)
    return statistics_xlsx("县级初报", f"{drill}{event.name} 自然灾害情况统计表（初报）", [
        (1, f"填报单位：{view.person.division.name}"), (4, f"灾种：{hazard}"),
        (6, f"灾害发生时间：{local_text(event.started_at)}"), (10, "计量单位：人、间、公顷、万元"),
        (13, f"统计时间：{local_text(view.now)}（北京时间）")], header, rows, total)
