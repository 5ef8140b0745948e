"""Dispatch fixtures: responders on every level, reports made directly (no reporter needed),
and worker settings that run the safety-net sweeps every second."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from core.extensions import db
from core.indicators import INDICATOR_KEYS
from core.models import Division, Person
from dispatch import flows
from reporter import events
from reporter.models import Incident, Report

# Worker environment: sweeps every second, short backoff, a dead claim noticed after 5 s.
FAST = {"OUTBOX_SWEEP_SECONDS": 1, "OUTBOX_GRACE_SECONDS": 1, "ESCALATION_SWEEP_SECONDS": 1,
        "SMS_RETRY_BASE_SECONDS": 0.3, "SMS_RETRY_MAX_SECONDS": 2, "SMS_STALE_SENDING_SECONDS": 5,
        "SILENCE_SWEEP_SECONDS": 3600}


@dataclass
class Staff:
    officer_a: Person
    officer_b: Person
    township: Person       # 码头镇 responder
    county: Person         # 涿州市
    city: Person           # 保定市
    province: Person       # 河北省


@pytest.fixture
def staff(tree, make_person) -> Staff:
    return Staff(
        officer_a=make_person("officer_a", tree.village, name="王A"),
        officer_b=make_person("officer_b", tree.village, name="王B"),
        township=make_person("township", tree.township, name="码头镇值班"),
        county=make_person("county", tree.county, name="涿州应急局"),
        city=make_person("city", tree.city, name="保定应急局"),
        province=make_person("province", tree.province, name="河北应急厅"),
    )


@pytest.fixture
def report_in():
    """Save a report the way the reporter does (flushed Report + Incident), announce it
    (`reporter.events.report_saved`, which dispatch receives) in the same transaction and commit.
    Returns (report, incident, the escalations dispatch opened)."""
    def make(village: Division, author: Person | None = None, *, kind: str = "initial", hazard: str = "flood",
             incident: Incident | None = None, exercise_id: int | None = None, commit: bool = True, **figures):
        previous = None
        if incident is None:
            incident = Incident(village_code=village.code, township_code=village.township_code,
                                county_code=village.county_code, hazard=hazard, exercise_id=exercise_id,
                                report_count=0, flags=[])
            db.session.add(incident)
        else:
            previous = {k: getattr(incident, k) for k in INDICATOR_KEYS}
        incident.set_indicators(figures)
        incident.report_count = (incident.report_count or 0) + 1
        report = Report(kind=kind, hazard=hazard, village_code=village.code, township_code=village.township_code,
                        county_code=village.county_code, author_id=author.id if author else None, channel="sms",
                        exercise_id=exercise_id, flags=[])
        report.set_indicators(figures)
        db.session.add(report)
        db.session.flush()
        report.incident_id = incident.id
        incident.latest_report_id = report.id
        db.session.flush()
        answers = dict(events.report_saved.send(report, incident=incident, previous=previous))
        escalations = answers[flows.on_report_saved]
        if commit:
            db.session.commit()
        return report, incident, escalations
    return make


@pytest.fixture
def fast_worker(start_worker):
    """A real `flask worker` with fast sweeps. Killed (-9) at the end of the test: its Redis
    database is flushed anyway, and a warm shutdown costs seconds per test."""
    started = []

    def start(name: str | None = None, **env):
        worker = start_worker(name, **{**FAST, **env})
        started.append(worker)
        return worker
    yield start
    for worker in started:
        worker.kill()


def wait_until_blocked(app, statement: str, what: str, timeout: float = 30) -> None:
    """Until PostgreSQL shows another backend waiting on a row lock while running `statement…`:
    how a test forces an interleaving (it holds the lock uncommitted, then commits)."""
    observer = create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=NullPool)
    try:
        deadline = time.monotonic() + timeout
        while True:
            with observer.connect() as conn:
                if conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                     "AND query ILIKE :q"), {"q": statement + "%"}).scalar():
                    return
            assert time.monotonic() < deadline, f"{what} never reached the row"
            time.sleep(0.05)
    finally:
        observer.dispose()
