"""CAP 1.2 (OASIS Common Alerting Protocol) XML for one event, built from the figures in scope.

Built with lxml so that every user-supplied string is escaped by the serializer. The choices
(category, urgency, severity, certainty) are derived from the figures with the same thresholds
as the escalation rules (SPEC §5), so the CAP severity agrees with what the board shows.
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree
from sqlalchemy import func, select

from board.query import BoardView, severity
from core.extensions import db
from core.indicators import HAZARDS, INDICATOR_KEYS, INDICATORS, format_figures
from core.localtime import local
from core.models import Division
from reporter.models import CaseStatus, Event, Incident, Report, ReportStatus

NS = "urn:oasis:names:tc:emergency:cap:1.2"
CATEGORY = {"flood": "Met", "drought": "Met", "typhoon": "Met", "wind_hail": "Met", "cold": "Met", "snow": "Met",
            "sandstorm": "Met", "earthquake": "Geo", "geological": "Geo", "marine": "Met", "fire": "Fire",
            "biological": "Env", "other": "Other"}
SEVERITY = {4: "Extreme", 3: "Severe", 2: "Moderate", 1: "Minor", 0: "Unknown"}
CIRCLE_KM = 2.0  # a village is drawn as a 2 km circle around its registered point


def cap_time(dt: datetime) -> str:
    """CAP wants `YYYY-MM-DDThh:mm:ss+08:00` (no `Z`, no fractions)."""
    return local(dt).replace(microsecond=0).isoformat()


def _el(parent, name: str, text=None):
    node = etree.SubElement(parent, f"{{{NS}}}{name}")
    if text is not None:
        node.text = str(text)
    return node


def event_cap(view: BoardView, event: Event) -> bytes:
    """The CAP alert for `event`, restricted to the incidents the viewer may see."""
    rows = db.session.execute(
        select(Incident, Division.name, Division.lon, Division.lat)
        .join(Division, Division.code == Incident.village_code)
        .where(Incident.event_id == event.id, *view.incident_filter(active_only=False))
        .order_by(Division.code)).all()
    totals: dict[str, float] = {}
    for incident, *_ in rows:
        for key, value in incident.indicators.items():
            totals[key] = totals.get(key, 0) + value
    accepted = db.session.scalar(select(func.count(Report.id)).where(
        Report.event_id == event.id, Report.status == ReportStatus.ACCEPTED, *view.report_filter())) or 0
    county = db.session.get(Division, event.county_code)
    sender = f"zaibao.{event.county_code}"
    base_id = f"zaibao-{event.county_code}-event-{event.id}"
    now = view.now
    updated = event.last_activity_at and (event.last_activity_at - event.started_at).total_seconds() > 1

    alert = etree.Element(f"{{{NS}}}alert", nsmap={None: NS})
    _el(alert, "identifier", f"{base_id}-{now.strftime('%Y%m%d%H%M%S')}" if updated else base_id)
    _el(alert, "sender", sender)
    _el(alert, "sent", cap_time(now))
    _el(alert, "status", "Exercise" if event.exercise_id is not None else "Actual")
    _el(alert, "msgType", "Update" if updated else "Alert")
    _el(alert, "source", "Zaibao 灾报")
    _el(alert, "scope", "Restricted")
    _el(alert, "restriction", "应急管理部门内部使用 / emergency management offices only")
    if event.exercise_id is not None:
        _el(alert, "note", f"演练 EXERCISE {event.exercise_id}")
    if updated:
        _el(alert, "references", f"{sender},{base_id},{cap_time(event.started_at)}")
    _el(alert, "incidents", f"event-{event.id}")

    info = _el(alert, "info")
    _el(info, "language", "zh-CN")
    _el(info, "category", CATEGORY.get(event.hazard, "Other"))
    _el(info, "event", HAZARDS.get(event.hazard, event.hazard))
    _el(info, "responseType", "Evacuate" if totals.get("relocated") else "Monitor")
    _el(info, "urgency", "Immediate" if event.status == CaseStatus.OPEN else "Past")
    _el(info, "severity", SEVERITY[severity(totals)])
    _el(info, "certainty", "Observed" if accepted else "Likely")
    _el(info, "eventCode")  # filled below (valueName/value pairs)
    code = info[-1]
    _el(code, "valueName", "zaibao:hazard")
    _el(code, "value", event.hazard)
    _el(info, "effective", cap_time(event.started_at))
    _el(info, "senderName", f"{county.name if county else event.county_code}应急管理局（灾报）")
    _el(info, "headline", event.name)
    described = format_figures(totals) or "暂无数字"
    _el(info, "description", f"{event.name}：涉灾村{len(rows)}个。{described}")
    for key in INDICATOR_KEYS:
        if key in totals:
            param = _el(info, "parameter")
            _el(param, "valueName", f"{key} {INDICATORS[key][0]}({INDICATORS[key][1]})")
            value = totals[key]
            _el(param, "value", int(value) if float(value).is_integer() else round(value, 2))
    for incident, village, lon, lat in rows:
        area = _el(info, "area")
        _el(area, "areaDesc", village)
        if lon is not None and lat is not None:
            _el(area, "circle", f"{lat:.5f},{lon:.5f} {CIRCLE_KM}")
        geocode = _el(area, "geocode")
        _el(geocode, "valueName", "GB/T 2260 statistical division code")
        _el(geocode, "value", incident.village_code)
    return etree.tostring(alert, xml_declaration=True, encoding="UTF-8", pretty_print=True)
