"""Silence (E5): daily-report events, reminders to officer A, then B, then the township."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.extensions import db
from dispatch.models import Escalation
from messaging.models import OutboundSms
from reporter.models import Event, Incident, Report

NOON = datetime(2026, 7, 30, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai


@pytest.fixture
def daily_event(tree, staff):
    """A daily-report flood event with an incident in 王庄村 (so 码头镇 owes reports)."""
    event = Event(county_code=tree.county.code, hazard="flood", name="2026-07-29 涿州市 洪涝", daily_report=True)
    db.session.add(event)
    db.session.flush()
    db.session.add(Incident(village_code=tree.village.code, township_code=tree.township.code,
                            county_code=tree.county.code, hazard="flood", event_id=event.id, flags=[]))
    db.session.commit()
    return event


def texts(person):
    return [m.body for m in db.session.scalars(select(OutboundSms).where(OutboundSms.to_phone == person.phone))]


def report_at(village, when, kind="nil"):
    db.session.add(Report(kind=kind, village_code=village.code, township_code=village.township_code,
                          county_code=village.county_code, received_at=when, flags=[]))
    db.session.commit()


def test_steps_a_then_b_then_township_each_once(daily_event, tree, staff, make_person):
    from dispatch.silence import sweep_silence

    li_a = make_person("officer_a", tree.village2, name="李A")
    report_at(tree.village, NOON - timedelta(hours=3))  # 王庄村 sent a nil report this morning
    report_at(tree.village2, NOON - timedelta(days=1))  # 李庄村 only yesterday
    assert sweep_silence(NOON - timedelta(minutes=1)) == 0  # before 12:00: nothing
    assert sweep_silence(NOON + timedelta(minutes=1)) == 1  # 李庄村: officer A
    assert sweep_silence(NOON + timedelta(minutes=2)) == 0  # same step never twice
    assert texts(li_a) == ['【零报告提醒】李庄村今天(7月30日)尚未报送灾情。无灾情请回复"零报告"，有灾情请按格式报送。']
    assert texts(staff.officer_a) == []
    assert sweep_silence(NOON + timedelta(minutes=20)) == 0  # B is due 30 min after A
    assert sweep_silence(NOON + timedelta(minutes=32)) == 1  # B step (李庄村 has no officer B: recorded)
    assert sweep_silence(NOON + timedelta(minutes=63)) == 1  # township
    assert sweep_silence(NOON + timedelta(minutes=90)) == 0
    assert texts(staff.township) == ["【零报告提醒】码头镇今天(7月30日)有1个村未报送：李庄村。请督促报送(含零报告)。"]
    steps = db.session.scalars(select(Escalation).where(Escalation.rule == "E5").order_by(Escalation.id)).all()
    assert [(e.level, e.village_code, e.status) for e in steps] == [
        ("village", tree.village2.code, "closed"), ("village", tree.village2.code, "closed"),
        ("township", tree.village2.code, "closed")]
    assert "无B岗信息员" in steps[1].note


def test_a_report_after_the_reminder_stops_the_chain(daily_event, tree, staff):
    from dispatch.silence import sweep_silence

    assert sweep_silence(NOON + timedelta(minutes=1)) == 2  # 王庄村 officer A; 李庄村 (no officers) recorded
    assert len(texts(staff.officer_a)) == 1
    report_at(tree.village, NOON + timedelta(minutes=10))
    sweep_silence(NOON + timedelta(minutes=40))
    sweep_silence(NOON + timedelta(minutes=80))
    assert texts(staff.officer_b) == []
    assert all("王庄村" not in t for t in texts(staff.township))


def test_events_not_daily_and_other_townships_are_left_alone(daily_event, tree, staff, make_person):
    from dispatch.silence import sweep_silence

    daily_event.daily_report = False
    db.session.commit()
    east = make_person("officer_a", tree.village3)
    assert sweep_silence(NOON + timedelta(hours=2)) == 0
    daily_event.daily_report = True
    db.session.commit()
    sweep_silence(NOON + timedelta(minutes=5))
    assert texts(east) == []  # 东城坊镇 has no incident in the event


def test_a_simulated_drill_reminds_on_its_own_clock(tree, staff, make_person):
    """A ×60 drill at 01:00 local: due as soon as its county office turns daily reporting on
    (not at 12:00), steps 30 scenario minutes = 30 wall seconds apart, and "today" is the
    exercise, even across local midnight."""
    from core.exercises import Exercise
    from dispatch.silence import sweep_silence

    start = datetime(2026, 7, 30, 15, 59, tzinfo=UTC)  # 23:59 local
    exercise = Exercise(name="推演", division_code=tree.county.code, scenario="flood", mode="simulated",
                        settings={"speed": 60}, started_at=start)
    db.session.add(exercise)
    db.session.flush()
    event = Event(county_code=tree.county.code, hazard="flood", name="演练 洪涝", daily_report=True,
                  exercise_id=exercise.id)
    db.session.add(event)
    db.session.flush()
    db.session.add(Incident(village_code=tree.village.code, township_code=tree.township.code,
                            county_code=tree.county.code, hazard="flood", event_id=event.id, flags=[],
                            exercise_id=exercise.id))
    db.session.commit()
    li_a = make_person("officer_a", tree.village2, name="李A")
    report_at(tree.village, start + timedelta(seconds=10))
    db.session.scalars(select(Report)).one().exercise_id = exercise.id
    db.session.commit()

    at = start + timedelta(minutes=2)  # 00:01 local, the next calendar day
    assert sweep_silence(at) == 1  # 李庄村 officer A at once; 王庄村 reported within the exercise
    assert [t.startswith("【演练】【零报告提醒】李庄村") for t in texts(li_a)] == [True]
    assert sweep_silence(at + timedelta(seconds=20)) == 0
    assert sweep_silence(at + timedelta(seconds=31)) == 1  # B, 30 scenario minutes later
    assert sweep_silence(at + timedelta(seconds=62)) == 1  # the township
    assert sweep_silence(at + timedelta(minutes=10)) == 0
    assert db.session.scalar(select(Escalation.exercise_id).where(Escalation.rule == "E5").limit(1)) == exercise.id


def test_two_sweeps_at_once_take_each_step_once(app, daily_event, tree, staff, make_person):
    """Two workers' E5 sweeps read the same steps as due (Redis down: no lease keeps them apart);
    the second's batch meets the first's unique keys, falls back to one at a time and skips them."""
    import threading

    from sqlalchemy import event as sa_event

    from dispatch.silence import sweep_silence
    from tests.dispatch.test_closing import _in_thread, _postgres_only

    _postgres_only()
    li_a = make_person("officer_a", tree.village2, name="李A")
    both_read = threading.Barrier(2)

    def after_reading_done(_conn, _cursor, statement, *_args):
        if "escalations.dedupe_key" in statement and statement.lstrip().startswith("SELECT"):
            both_read.wait(timeout=20)

    sa_event.listen(db.engine, "after_cursor_execute", after_reading_done)
    try:
        results, errors = [], []
        threads = [_in_thread(app, lambda: sweep_silence(NOON + timedelta(minutes=1)), results, errors)
                   for _ in range(2)]
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sa_event.remove(db.engine, "after_cursor_execute", after_reading_done)
    assert errors == [] and sorted(results) == [0, 2]
    assert len(texts(staff.officer_a)) == 1 and len(texts(li_a)) == 1
    assert len(db.session.scalars(select(Escalation).where(Escalation.rule == "E5")).all()) == 2
