"""What the reporter says and records about a report: the officer's confirmation (SPEC §3.3),
the flag wording, the audited snapshot, and the JSON shapes of SPEC §8.3 (the board reuses them).
"""

from __future__ import annotations

from datetime import date, datetime

from core.indicators import REPORT_KINDS, format_figures
from core.models import Division
from reporter.models import COUNTY_REPORT_DUE, Event, InboundMessage, Incident, Report
from reporter.saving import placed
from reporter.service import hazard_name


def report_snapshot(report: Report) -> dict:
    """The audited state of a report (before/after)."""
    return {"kind": report.kind, "hazard": report.hazard, "village_code": report.village_code,
            "indicators": report.indicators, "narrative": report.narrative, "status": report.status,
            "flags": list(report.flags or []), "incident_id": report.incident_id, "event_id": report.event_id,
            "review_note": report.review_note}


def confirmation_text(report: Report, *, flagged_note: str | None = None, village: Division | None = None) -> str:
    """`已收到初报R1203(洪涝 王庄村): 死亡0 失踪1 …。有误请回复: 更正 R1203 死亡1` (SPEC §3.3).
    `village`: the report's, when the report row is not in the session (`reporter.express`)."""
    kind = REPORT_KINDS.get(report.kind, report.kind)
    figures = format_figures(report.indicators) or "情况已记录"
    place = (village or report.village).name
    text = f"已收到{kind}{report.public_id}({hazard_name(report.hazard)} {place}): {figures}。"
    if report.flags:
        text += f"{flagged_note or flag_text(report.flags)}，请核实；有误请回复: 更正 {report.public_id} 死亡1"
    else:
        text += f"有误请回复: 更正 {report.public_id} 死亡1"
    if report.kind == "final":  # a final report closes its incident (opened for it if need be)
        text = text.replace("。有误", "。事件已结案。有误", 1)
    return text


def with_problems(reply: str, problems: list[str]) -> str:
    """A reply with the parts the grammar had to ignore named, so the officer can resend them."""
    return reply + "注意: " + "；".join(problems) if problems else reply


def nil_received_text(report: Report, village: Division) -> str:
    """A new nil report; from a village whose incident is still open (flagged): which is true?"""
    if "open_incident" in (report.flags or []):
        return (f"已收到{village.name}今日零报告{report.public_id}，但本村仍有未结束的灾情。"
                f"如灾情已结束请发送: 核报；如有新情况请发送: 续报 及数字。")
    return f"已收到{village.name}今日零报告{report.public_id}，谢谢。"


def nil_repeat_text(report: Report, village: Division) -> str:
    """A second nil report the same day: the first one stands."""
    return f"{village.name}今日零报告已收到({report.public_id})，无需重复发送。"


def flag_text(flags: list[str]) -> str:
    names = {"decrease": "数字比上次减少且无说明", "implausible": "数字异常", "late": "初报超过2小时",
             "open_incident": "零报告但仍有未结束灾情"}
    return "、".join(names.get(f, f) for f in flags)


# ---- JSON shapes (SPEC §8.3) -----------------------------------------------------------------

def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def serialize_report(report: Report) -> dict:
    return {"id": report.public_id, "kind": report.kind, "hazard": report.hazard,
            "village_code": report.village_code, "village_name": report.village.name if report.village else None,
            "author_phone": report.author.phone if report.author else None,
            "indicators": report.indicators, "narrative": report.narrative, "status": report.status,
            "flags": list(report.flags or []), "incident_id": report.incident_id, "event_id": report.event_id,
            "exercise_id": report.exercise_id, "received_at": _iso(report.received_at),
            # stored and answered, not yet filed by the intake processor (its figures are final)
            "processing": not placed(report)}


def serialize_incident(incident: Incident) -> dict:
    return {"id": incident.id, "village_code": incident.village_code,
            "village_name": incident.village.name if incident.village else None,
            "township_code": incident.township_code, "county_code": incident.county_code,
            "hazard": incident.hazard, "status": incident.status, "indicators": incident.indicators,
            "flags": list(incident.flags or []), "event_id": incident.event_id,
            "report_count": incident.report_count,
            "latest_report_id": f"R{incident.latest_report_id}" if incident.latest_report_id else None,
            "opened_at": _iso(incident.opened_at), "last_report_at": _iso(incident.last_report_at),
            "closed_at": _iso(incident.closed_at), "exercise_id": incident.exercise_id}


def serialize_event(event: Event) -> dict:
    return {"id": event.id, "name": event.name, "county_code": event.county_code,
            "county_name": event.county.name if event.county else None, "hazard": event.hazard,
            "status": event.status, "started_at": _iso(event.started_at),
            "last_activity_at": _iso(event.last_activity_at), "closed_at": _iso(event.closed_at),
            "daily_report": bool(event.daily_report), "daily_report_since": _iso(event.daily_report_since),
            "county_report_due_at": _iso(event.started_at + COUNTY_REPORT_DUE if event.started_at else None),
            "county_reported_at": _iso(event.county_reported_at),
            "exercise_id": event.exercise_id}


def serialize_message(message: InboundMessage) -> dict:
    return {"sid": message.sid, "from": message.from_phone, "body": message.body,
            "received_at": _iso(message.received_at), "outcome": message.outcome,
            "report_id": f"R{message.report_id}" if message.report_id else None,
            "exercise_id": message.exercise_id}
