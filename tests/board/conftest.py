"""Board fixtures: rows written directly (as the reporter/dispatch parts would write them)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.extensions import db
from core.models import utcnow
from dispatch.models import Escalation
from reporter.models import Event, InboundMessage, Incident, Report


class Rows:
    """Builders for events, incidents with their latest report, escalations and messages."""

    def event(self, county, hazard="flood", *, exercise_id=None, daily=False, name=None) -> Event:
        ev = Event(county_code=county.code, hazard=hazard, name=name or f"2026-11-29 {county.name} 洪涝",
                   exercise_id=exercise_id, daily_report=daily)
        db.session.add(ev)
        db.session.commit()
        return ev

    def incident(self, village, event=None, *, hazard="flood", figures=None, narrative=None, author=None,
                 flags=(), exercise_id=None, status="open", kind="initial",
                 received_at=None) -> tuple[Incident, Report]:
        at = received_at or utcnow()
        inc = Incident(village_code=village.code, township_code=village.township_code,
                       county_code=village.county_code, hazard=hazard, status=status,
                       event_id=event.id if event else None, exercise_id=exercise_id, flags=list(flags),
                       opened_at=at, last_report_at=at, report_count=1)
        inc.set_indicators(figures or {})
        db.session.add(inc)
        db.session.flush()
        rep = self.report(inc, figures=figures, narrative=narrative, author=author, flags=flags, kind=kind,
                          received_at=at)
        return inc, rep

    def report(self, incident, *, figures=None, narrative=None, author=None, flags=(), kind="update",
               received_at=None) -> Report:
        at = received_at or utcnow()
        village = incident.village
        rep = Report(kind=kind, hazard=incident.hazard, village_code=incident.village_code,
                     township_code=incident.township_code, county_code=incident.county_code,
                     author_id=author.id if author else None, narrative=narrative, channel="sms",
                     flags=list(flags), incident_id=incident.id, event_id=incident.event_id,
                     exercise_id=incident.exercise_id, received_at=at, report_date=at.date())
        rep.set_indicators(figures or {})
        db.session.add(rep)
        db.session.flush()
        incident.latest_report_id = rep.id
        incident.last_report_at = at
        if figures:
            incident.set_indicators(figures)
        db.session.commit()
        assert village is not None
        return rep

    def escalation(self, incident, recipients, *, rule="E1", level="township", overdue=False, status="open",
                   report=None) -> Escalation:
        now = utcnow()
        esc = Escalation(rule=rule, level=level, division_code=incident.township_code,
                         village_code=incident.village_code,
                         report_id=report.id if report else incident.latest_report_id,
                         incident_id=incident.id, event_id=incident.event_id, status=status,
                         created_at=now - timedelta(minutes=40 if overdue else 1),
                         deadline_at=now + timedelta(minutes=-10 if overdue else 29),
                         exercise_id=incident.exercise_id)
        esc.recipients = list(recipients)
        db.session.add(esc)
        db.session.commit()
        return esc

    def message(self, body, *, person=None, outcome="unparsed", exercise_id=None, phone="+8613999990000",
                division=None):
        """A queued message; without a person, `division` is where the webhook placed it (None: nowhere)."""
        m = InboundMessage(sid=f"SM{utcnow().timestamp()}{body[:3]}".replace(".", ""), from_phone=person.phone
                           if person else phone, body=body, outcome=outcome, review_status="pending",
                           person_id=person.id if person else None, exercise_id=exercise_id,
                           division_code=division.code if division is not None else None)
        db.session.add(m)
        db.session.commit()
        return m


@pytest.fixture
def rows() -> Rows:
    return Rows()


