"""Relocation plan pages: `/shelters/plan/<event_id>` (the board links here), CSV/XLSX, send by SMS."""

from __future__ import annotations

import csv
import io

from flask import Response, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from core.auth import staff_required
from core.extensions import db
from shelters import plans
from shelters.forms import PlanSendForm
from shelters.views import bp

# The CSV/XLSX files are for Chinese offices' spreadsheets: always Chinese. The page follows
# the viewer's language (the same words, translatable).
HEADERS = ("乡镇", "村", "村代码", "避难场所编号", "避难场所名称", "安置人数", "距离(公里)")
UNPLACED_HEADERS = ("乡镇", "村", "村代码", "未安置人数", "原因")
REASONS = {"no_location": "村和乡镇均未登记坐标", "no_room": "附近避难场所空位不足"}
PAGE_HEADERS = (_l("乡镇"), _l("村"), _l("村代码"), _l("避难场所编号"), _l("避难场所名称"), _l("安置人数"),
                _l("距离(公里)"))
PAGE_UNPLACED_HEADERS = (_l("乡镇"), _l("村"), _l("村代码"), _l("未安置人数"), _l("原因"))
PAGE_REASONS = {"no_location": _l("村和乡镇均未登记坐标"), "no_room": _l("附近避难场所空位不足")}


def _csv_cell(value):
    """Text a spreadsheet would run as a formula (=, +, -, @) is prefixed with ' (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _append(sheet, row: tuple) -> None:
    """Append a row with every text cell stored as text, never as a formula."""
    sheet.append(row)
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"


def _plan(event_id: int) -> plans.Plan:
    try:
        return plans.relocation_plan(event_id, current_user)
    except plans.PlanError:
        abort(404)


def _table(plan: plans.Plan, reasons: dict = REASONS) -> tuple[list[tuple], list[tuple]]:
    rows = [(r.township_name, r.village_name, r.village_code, r.shelter_code, r.shelter_name, r.people,
             round(r.distance_m / 1000, 2)) for r in plan.rows]
    unplaced = []
    for code, count in sorted(plan.unplaced.items()):
        village = plan.villages.get(code)
        township = village.parent.name if village is not None and village.parent else ""
        reason = reasons["no_location" if code in plan.no_location else "no_room"]
        unplaced.append((township, village.name if village else code, code, count, reason))
    return rows, unplaced


@bp.get("/plan/<int:event_id>")
@staff_required
def plan(event_id: int):
    result = _plan(event_id)
    rows, unplaced = _table(result, PAGE_REASONS)
    return render_template("shelters/plan.html", plan=result, rows=rows, unplaced=unplaced,
                           headers=PAGE_HEADERS, unplaced_headers=PAGE_UNPLACED_HEADERS, form=PlanSendForm(),
                           texts=plans.plan_sms_texts(result),
                           exercise_banner=f"#{result.exercise_id}" if result.exercise_id else None)


@bp.get("/plan/<int:event_id>.csv")
@staff_required
def plan_csv(event_id: int):
    rows, unplaced = _table(_plan(event_id))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    writer.writerows([[_csv_cell(v) for v in row] for row in rows])
    if unplaced:
        writer.writerow(())
        writer.writerow(UNPLACED_HEADERS)
        writer.writerows([[_csv_cell(v) for v in row] for row in unplaced])
    # UTF-8 with BOM: Excel on Chinese Windows opens it without garbling.
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename=relocation-plan-{event_id}.csv"})


@bp.get("/plan/<int:event_id>.xlsx")
@staff_required
def plan_xlsx(event_id: int):
    from openpyxl import Workbook

    result = _plan(event_id)
    rows, unplaced = _table(result)
    book = Workbook()
    sheet = book.active
    sheet.title = "安置方案"
    _append(sheet, HEADERS)
    for row in rows:
        _append(sheet, row)
    missing = book.create_sheet("未安置")
    _append(missing, UNPLACED_HEADERS)
    for row in unplaced:
        _append(missing, row)
    out = io.BytesIO()
    book.save(out)
    return Response(out.getvalue(),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename=relocation-plan-{event_id}.xlsx"})


@bp.post("/plan/<int:event_id>/send")
@staff_required
def plan_send(event_id: int):
    form = PlanSendForm()
    if not form.validate_on_submit():
        abort(400)
    result = _plan(event_id)
    sent = plans.send_plan(result, current_user)
    db.session.commit()
    flash(_("已向各村信息员发送安置方案短信 %(n)s 条。", n=sent), "ok")
    return redirect(url_for("shelters.plan", event_id=event_id), 303)
