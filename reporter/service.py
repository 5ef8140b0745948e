"""Database work for reports, incidents and events (SPEC §4), and the JSON shapes of §8.3.

Everything here runs inside the caller's transaction and never commits: a flow decides when
the whole change (message, report, incident, event, outbox rows, audit) becomes visible.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import joinedload

from core.exercises import exercise_clause
from core.extensions import db
from core.indicators import HAZARDS, INDICATORS, MAX_VALUE
from core.models import Division
from core.refusals import Refusal
from reporter.models import CaseStatus, InboundMessage, Incident, Outcome, Report

EVENT_WINDOW = timedelta(days=3)
LATE_AFTER = timedelta(hours=2)
ACTIVITY_GRAIN = timedelta(minutes=1)
PEOPLE_KEYS = ("affected", "deaths", "missing", "injured", "relocated", "need_aid")
DECREASE_KEYS = ("deaths", "missing", "houses_collapsed")
_ID_RE = re.compile(r"^\s*[Rr]?(\d{1,9})\s*$")


class ReportRefused(Refusal):
    """A report that cannot be stored as sent; the message (Chinese) goes back to the sender."""


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


# "Stored, not yet filed", written as a literal: a prepared statement's generic plan cannot use the
# partial index `ix_inbound_messages_pending` for `outcome = $1`, only for `outcome = 'pending'`.
IS_PENDING = InboundMessage.outcome == literal_column(f"'{Outcome.PENDING.value}'")


def intake_backlog() -> tuple[int, datetime | None]:
    """Inbound messages stored and not yet handled: (how many, when the oldest arrived)."""
    count, oldest = db.session.execute(select(func.count(InboundMessage.id), func.min(InboundMessage.received_at))
                                       .where(IS_PENDING)).one()
    return count or 0, oldest


def hazard_name(hazard: str | None) -> str:
    return HAZARDS.get(hazard or "", hazard or "")


def open_incidents_stmt(village_code: str, exercise_id: int | None):
    return select(Incident).where(Incident.village_code == village_code, Incident.status == CaseStatus.OPEN,
                                  exercise_clause(Incident.exercise_id, exercise_id)).order_by(Incident.id)


def open_incidents(village_code: str, exercise_id: int | None, hazard: str | None = None) -> list[Incident]:
    stmt = open_incidents_stmt(village_code, exercise_id).options(joinedload(Incident.event))
    if hazard is not None:
        stmt = stmt.where(Incident.hazard == hazard)
    return list(db.session.scalars(stmt))


def waiting_stmt(village_code: str):
    """The village's SMS reports stored and not yet filed by the intake processor, oldest first."""
    return (select(InboundMessage.id).join(Report, Report.id == InboundMessage.report_id)
            .where(IS_PENDING, Report.village_code == village_code)
            .order_by(InboundMessage.id))


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
