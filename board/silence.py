"""The silence panel (the board issue): the villages that owe today's report and have sent nothing,
with whom to call (officers A and B) and which reminders (E5) went out when — a call list for the
night shift, sortable and exportable as XLSX."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import select

from board.query import BoardView, daily_villages
from core.extensions import db
from core.localtime import local_text
from core.models import Division, Person
from core.roles import OFFICER_ROLES, Role
from dispatch.models import Escalation

SORTS = ("township", "village", "reminders")
STEP_NAMES = {"a": "信息员A", "b": "信息员B", "township": "乡镇"}


@dataclass
class SilentVillage:
    code: str
    name: str
    township: str
    officer_a: Person | None = None
    officer_b: Person | None = None
    reminders: list[tuple[str, datetime]] = field(default_factory=list)  # (step, when), oldest first


def silent_villages(view: BoardView, sort: str = "township") -> list[SilentVillage]:
    silent = [(code, name, township) for code, name, township, reported in daily_villages(view) if not reported]
    if not silent:
        return []
    codes = [code for code, _n, _t in silent]
    townships = dict(db.session.execute(select(Division.code, Division.name).where(
        Division.code.in_({t for _c, _n, t in silent}))).all())
    rows = {code: SilentVillage(code, name, townships.get(township, "")) for code, name, township in silent}
    for person in db.session.scalars(select(Person).where(
            Person.division_code.in_(codes), Person.role.in_(OFFICER_ROLES), Person.active.is_(True))
            .order_by(Person.id)):
        slot = "officer_a" if person.role == Role.OFFICER_A else "officer_b"
        if getattr(rows[person.division_code], slot) is None:
            setattr(rows[person.division_code], slot, person)
    for village_code, key, created in db.session.execute(select(
            Escalation.village_code, Escalation.dedupe_key, Escalation.created_at).where(
            Escalation.rule == "E5", Escalation.village_code.in_(codes), Escalation.created_at >= view.today_start(),
            *view.escalation_filter()).order_by(Escalation.created_at)):
        rows[village_code].reminders.append(((key or "").rsplit(":", 1)[-1], created))
    ordered = list(rows.values())
    if sort == "village":
        ordered.sort(key=lambda v: v.name)
    elif sort == "reminders":
        ordered.sort(key=lambda v: (-len(v.reminders), v.township, v.name))
    return ordered


def call_list_xlsx(view: BoardView, villages: list[SilentVillage]) -> bytes:
    """The same list as a sheet to ring through (phones as text, never numbers or formulas)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "今日未报村"
    header = ["乡镇", "村", "信息员A", "电话A", "信息员B", "电话B", "已发提醒"]
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for v in villages:
        reminders = "；".join(f"{STEP_NAMES.get(step, step)} {local_text(at, '%H:%M')}" for step, at in v.reminders)
        values = [v.township, v.name, v.officer_a.name if v.officer_a else "", v.officer_a.phone if v.officer_a else "",
                  v.officer_b.name if v.officer_b else "", v.officer_b.phone if v.officer_b else "", reminders]
        ws.append(values)
        for cell in ws[ws.max_row]:
            cell.data_type = "s"
    for column, width in zip("ABCDEFG", (14, 16, 12, 16, 12, 16, 30), strict=True):
        ws.column_dimensions[column].width = width
    out = BytesIO()
    wb.save(out)
    return out.getvalue()
