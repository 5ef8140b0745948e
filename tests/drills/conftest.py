"""Drill fixtures: rows made directly (until the reporter/dispatch paths exist) and a live server."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from core.extensions import db
from dispatch.models import Escalation
from messaging.models import OutboundSms
from reporter.models import InboundMessage, Incident, Report


@pytest.fixture
def drill_rows():
    """add(village, exercise_id, minutes, kind=…) → a message, report (and incident, E1) as the
    reporter and dispatch would store them."""
    def add(village, exercise_id, minutes: float, *, kind="initial", body=None, start=None, outcome="report",
            escalate=False, ack_after: float | None = None, sms_status="sent", **figures):
        from core.models import utcnow

        at = (start or utcnow()) + timedelta(minutes=minutes)
        message = InboundMessage(sid="SM" + uuid.uuid4().hex, from_phone="+8613800000000",
                                 body=body or f"演练 初报 洪涝 转移{figures.get('relocated', 1)}",
                                 received_at=at, outcome=outcome, exercise_id=exercise_id,
                                 review_status="pending" if outcome == "unparsed" else "none")
        db.session.add(message)
        if outcome != "report":
            db.session.commit()
            return message
        incident = Incident(village_code=village.code, township_code=village.township_code,
                            county_code=village.county_code, hazard="flood", exercise_id=exercise_id,
                            opened_at=at, last_report_at=at, report_count=1)
        incident.set_indicators(figures)
        db.session.add(incident)
        db.session.flush()
        report = Report(kind=kind, hazard="flood", village_code=village.code, township_code=village.township_code,
                        county_code=village.county_code, message_id=message.id, incident_id=incident.id,
                        exercise_id=exercise_id, received_at=at)
        report.set_indicators(figures)
        db.session.add(report)
        db.session.flush()
        if escalate:
            esc = Escalation(rule="E1", level="township", division_code=village.township_code,
                             village_code=village.code, report_id=report.id, incident_id=incident.id,
                             created_at=at, deadline_at=at + timedelta(minutes=30), exercise_id=exercise_id,
                             status="acknowledged" if ack_after is not None else "open",
                             acknowledged_at=at + timedelta(minutes=ack_after) if ack_after is not None else None)
            db.session.add(esc)
            db.session.flush()
            db.session.add(OutboundSms(to_phone="+8613900000000", body="【演练】【灾情】…", purpose="escalation",
                                       escalation_id=esc.id, report_id=report.id, status=sms_status,
                                       created_at=at, sent_at=at + timedelta(seconds=0.5), exercise_id=exercise_id))
        db.session.commit()
        return report
    return add


