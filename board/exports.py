"""Exports of the board: the township roll-up (XLSX statistics form, CSV) and incident GeoJSON.

The roll-up is what the county sends upward, so its headers are the national Chinese names
with units whatever the interface language. Text cells are written as text: a village name
starting with `=` must not become a formula in the recipient's Excel.
"""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import aliased

from board.query import BoardView, figure_columns, figures_of, indicator_headers, severity, township_rollup
from core.extensions import db
from core.indicators import HAZARDS
from core.localtime import local_text
from core.models import Division
from reporter.models import Incident, Report

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe_text(value: str) -> str:
    """Neutralise formula injection in CSV opened in Excel (XLSX cells are typed as text instead)."""
    return "'" + value if value and value.startswith(FORMULA_START) else value


def rollup_table(view: BoardView) -> tuple[list[str], list[list], list]:
    """Header, rows and the total row of the township roll-up, as plain values."""
    data = township_rollup(view)
    header = ["乡镇（街道）"] + [f"{name}（{unit}）" for _k, name, unit in indicator_headers()] + [
        "涉灾村数（个）", "应报村数（个）", "已报村数（个）", "未报村数（个）", "未报村名单", "最近报告时间",
        "超时未确认（条）"]

    def line(name: str, row: dict) -> list:
        figures = [row[k] for k, _n, _u in indicator_headers()]
        return ([name] + figures + [
            row["villages"], row["reported"] + row["silent"] if row.get("daily", True) else None,
            row["reported"], row["silent"], "、".join(row.get("silent_names", [])),
            local_text(row["last_report_at"]), row["overdue"]])

    rows = [line(r["name"], r) for r in data["rows"]]
    total = line("合计", {**data["total"], "silent_names": []})
    return header, rows, total


def title(view: BoardView) -> str:
    drill = "【演练】" if view.exercise else ""
    return f"{drill}{view.person.division.name}自然灾害情况统计表（乡镇汇总）"


def rollup_csv(view: BoardView) -> bytes:
    header, rows, total = rollup_table(view)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for values in rows + [total]:
        writer.writerow([_safe_text(v) if isinstance(v, str) else v for v in values])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: Excel then reads UTF-8


def rollup_xlsx(view: BoardView) -> bytes:
    """A statistics form: title row, unit/date row, header, one row per township, total row."""
    header, rows, total = rollup_table(view)
    return statistics_xlsx("乡镇汇总", title(view), [
        (1, f"填报单位：{view.person.division.name}"), (5, "计量单位：人、间、公顷、万元"),
        (10, f"统计时间：{local_text(view.now)}（北京时间）")], header, rows, total)


def statistics_xlsx(sheet: str, heading: str, info: list[tuple[int, str]], header: list[str], rows: list[list],
                    total: list) -> bytes:
    """The layout of the official statistics forms: a merged title row, a row of `info` cells
    (column, text: unit, reporting unit, time), the header, the rows and a bold total row."""
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    ncols = len(header)
    thin = Side(style="thin", color="888888")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    ws.cell(row=1, column=1, value=heading).font = Font(bold=True, size=14)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=ncols)
    ws.cell(row=1, column=1).alignment = Alignment(horizontal="center")
    for column, text in info:
        ws.cell(row=2, column=column, value=text).data_type = "s"
    for c, text in enumerate(header, start=1):
        cell = ws.cell(row=3, column=c, value=text)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, horizontal="center", vertical="center")
        cell.border = border
    for r, values in enumerate(rows + [total], start=4):
        for c, value in enumerate(values, start=1):
            cell = ws.cell(row=r, column=c, value=value)
            cell.border = border
            if isinstance(value, str):
                cell.data_type = "s"  # never a formula
        if values is total:
            for c in range(1, ncols + 1):
                ws.cell(row=r, column=c).font = Font(bold=True)
    ws.row_dimensions[3].height = 48
    ws.column_dimensions["A"].width = 16
    for c in range(2, ncols + 1):
        ws.column_dimensions[get_column_letter(c)].width = 12
    ws.freeze_panes = "B4"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def incidents_geojson(view: BoardView) -> dict:
    """RFC 7946 FeatureCollection of the active incidents in scope (null geometry when the
    village has no coordinates: the incident is still listed)."""
    township = aliased(Division)
    latest = aliased(Report)
    rows = db.session.execute(
        select(Incident.id, Incident.village_code, Incident.township_code, Incident.hazard, Incident.status,
               Incident.event_id, Incident.flags, Incident.latest_report_id, Incident.opened_at,
               Incident.last_report_at, Incident.exercise_id, Division.name, Division.lon, Division.lat,
               township.name, latest.narrative, latest.status, *figure_columns())
        .join(Division, Division.code == Incident.village_code)
        .outerjoin(township, township.code == Incident.township_code)
        .outerjoin(latest, latest.id == Incident.latest_report_id)
        .where(*view.incident_filter()).order_by(Incident.id)).all()
    features = []
    for row in rows:
        (iid, village_code, township_code, hazard, status, event_id, flags, latest_id, opened_at, last_at,
         exercise_id, village, lon, lat, township_name, narrative, review) = row[:17]
        values = figures_of(row, 17)
        features.append({
            "type": "Feature", "id": iid,
            "geometry": {"type": "Point", "coordinates": [lon, lat]} if lon is not None and lat is not None else None,
            "properties": {
                "incident_id": iid, "village_code": village_code, "village_name": village,
                "township_code": township_code, "township_name": township_name,
                "hazard": hazard, "hazard_name": HAZARDS.get(hazard, hazard),
                "status": status, "event_id": event_id, "indicators": values,
                "severity": severity(values), "flags": list(flags or []),
                "latest_report_id": f"R{latest_id}" if latest_id else None,
                "review_status": review, "narrative": narrative,
                "opened_at": opened_at.isoformat(), "last_report_at": last_at.isoformat(),
                "exercise_id": exercise_id,
            }})
    return {"type": "FeatureCollection", "features": features}
