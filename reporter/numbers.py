"""Inbound numbers owned by divisions: where a stranger's SMS is scoped by the number it was sent to.

A county (or any division) may own the numbers its people text: a long number (Twilio's `To`),
a service number (10690…), or the 扩展码 appended to a shared one (Aliyun's `dest_code`,
Tencent's `extend`, which the intake receives as `To`). An unregistered sender's message to
such a number is scoped to its owner (reporter.attribution) instead of province staff only.

Numbers are kept normalised (`normalise_number`): phone numbers in E.164, anything else as its
digits. A message's number is matched by the longest registered prefix, so a county owning
service number 106900001234 also owns what arrives at 10690000123401 (its extension 01),
unless a township owns that extension itself.
"""

from __future__ import annotations

import re
import unicodedata

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from core import audit
from core.extensions import db
from core.models import Division, Person
from core.people import try_normalise_phone
from core.scope import can_access, scope_clause
from reporter.models import InboundNumber

MIN_PREFIX = 3


class NumberProblem(ValueError):
    """Why a number cannot be assigned or removed, worded for the person who tried (localised)."""


def normalise_number(raw: str | None) -> str:
    """E.164 for a phone number, else its digits ('+86 10 1234 5678' and '+861012345678' agree;
    '10690 0001 234' → '106900001234'); '' when nothing is left."""
    text = unicodedata.normalize("NFKC", raw or "").strip()
    if text.startswith(("+", "00")) or re.fullmatch(r"1[3-9]\d{9}", text.replace(" ", "").replace("-", "")):
        phone = try_normalise_phone(text)
        if phone:
            return phone
    return re.sub(r"\D", "", text)[:40]


def division_for_number(to: str | None) -> str | None:
    """The division owning the number a message was sent to (longest registered prefix), or None."""
    number = normalise_number(to)
    if len(number) < MIN_PREFIX:
        return None
    prefixes = [number[:n] for n in range(MIN_PREFIX, len(number) + 1)]
    return db.session.scalar(select(InboundNumber.division_code).where(InboundNumber.number.in_(prefixes))
                             .order_by(func.length(InboundNumber.number).desc()).limit(1))


def numbers_in_scope(person: Person) -> list[InboundNumber]:
    return list(db.session.scalars(select(InboundNumber).where(scope_clause(person, InboundNumber.division_code))
                                   .order_by(InboundNumber.division_code, InboundNumber.number)))


def assign(raw: str, division_code: str, *, actor: Person | str, note: str | None = None) -> InboundNumber:
    """Give `division_code` the number (moving it from a division the actor may also manage);
    audited, the caller commits. A person assigns only within their scope (a CLI actor is trusted)."""
    number = normalise_number(raw)
    if len(number) < MIN_PREFIX:
        raise NumberProblem(_l("号码或扩展码至少3位数字"))
    division = db.session.get(Division, division_code)
    if division is None or division.level == "village":
        raise NumberProblem(_l("请选择县、乡镇或以上的单位"))
    if isinstance(actor, Person) and not can_access(actor, division):
        raise NumberProblem(_l("只能为本辖区的单位设置号码"))
    row = db.session.scalar(select(InboundNumber).where(InboundNumber.number == number))
    before = None
    if row is not None:
        if isinstance(actor, Person) and not can_access(actor, row.division_code):
            raise NumberProblem(_l("该号码已属于其他辖区"))
        before = {"division_code": row.division_code, "note": row.note}
        row.division_code, row.note = division.code, (note or "").strip()[:200] or row.note
    else:
        row = InboundNumber(number=number, division_code=division.code, note=(note or "").strip()[:200] or None,
                            created_by_id=actor.id if isinstance(actor, Person) else None)
        db.session.add(row)
    audit.record("inbound_number.assign", "inbound_number", number, actor=actor, before=before,
                 after={"division_code": division.code, "note": row.note})
    return row


def remove(raw: str, *, actor: Person | str) -> None:
    """Take the number away from its division (audited; the caller commits)."""
    number = normalise_number(raw)
    row = db.session.scalar(select(InboundNumber).where(InboundNumber.number == number))
    if row is None or (isinstance(actor, Person) and not can_access(actor, row.division_code)):
        raise NumberProblem(_l("没有这个号码"))
    audit.record("inbound_number.remove", "inbound_number", number, actor=actor,
                 before={"division_code": row.division_code, "note": row.note})
    db.session.delete(row)
