"""A small seeded simulated drill against a real server (werkzeug in a thread) and a real
worker: its evaluation figures are checked against numbers computed here from the stored rows."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from sqlalchemy import func, select

from core.exercises import Exercise, running_exercise_for
from core.extensions import db
from core.models import Person
from dispatch.models import Escalation
from drills import evaluation, metrics, service
from drills.evaluation import HEADINGS
from drills.models import ExerciseVillage, SyntheticRecord
from reporter.models import Event, InboundMessage, Report
from shelters.models import OccupancyRecord, Shelter
from tests.conftest import _division

SPEED = 1200.0  # the 6-hour flood in 18 s


def build_plan_for(exercise: Exercise):
    """The plan the runner played (a pure function of the participants, scenario and seed)."""
    from drills.scenario import Village, build_plan

    rows = service.participants(exercise)
    return build_plan([Village(r.village_code, r.village_name, r.township_code, "130681000000") for r in rows],
                      exercise.scenario, exercise.seed)


def test_seeded_simulated_drill(app, tree, live_server, start_worker, tmp_path):
    for n in (2, 3, 4):
        _division(f"13068110200{n}", tree.township2, f"河{n}村", "village")
    shelter = Shelter(code="S1", name="王庄小学", level="village", shelter_class="emergency", type="school",
                      division_code=tree.village.code, lon=115.91, lat=39.41, capacity=200, status="open")
    db.session.add(shelter)
    db.session.commit()
    # default deadlines (30 min, E5 from 12:00 local): the exercise's ×1200 clock scales them
    app.config.update(ESCALATION_SWEEP_SECONDS=1.0)
    start_worker(ESCALATION_SWEEP_SECONDS=1, OUTBOX_SWEEP_SECONDS=1, SILENCE_SWEEP_SECONDS=1)

    result = app.test_cli_runner().invoke(args=[
        "drill", "run", "--county", tree.county.code, "--scenario", "flood", "--seed", "25", "--speed", str(SPEED),
        "--url", live_server, "--no-progress", "--concurrency", "4"])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("exercise ")
    exercise = db.session.get(Exercise, int(last.split()[1]))
    assert exercise.mode == "simulated" and exercise.seed == 25 and exercise.status == "ended"
    stats = exercise.settings["stats"]
    assert stats["errors"] == 0 and stats["unprefixed"] == 0 and stats["sent"] == stats["replies"] > 0

    # every message went through the webhook, inside the exercise
    drill_messages = db.session.scalar(select(func.count()).select_from(InboundMessage)
                                       .where(InboundMessage.exercise_id == exercise.id))
    assert drill_messages == stats["sent"]
    assert db.session.scalar(select(func.count()).select_from(InboundMessage)
                             .where(InboundMessage.exercise_id.is_(None))) == 0
    # synthetic officers were made (the tree has none) and are inactive again afterwards
    phones = db.session.scalars(select(SyntheticRecord.ref).where(SyntheticRecord.kind == "person")).all()
    assert len(phones) >= 6 + 2 + 1
    assert not db.session.scalars(select(Person).where(Person.phone.in_(phones), Person.active.is_(True))).all()

    # independent figures from the stored rows
    start = datetime.fromisoformat(exercise.settings["scenario_start"])
    codes = db.session.scalars(select(ExerciseVillage.village_code)
                               .where(ExerciseVillage.exercise_id == exercise.id)).all()
    assert len(codes) == 6
    first = {code: (at - start).total_seconds() * SPEED for code, at in db.session.execute(
        select(Report.village_code, func.min(Report.received_at)).where(Report.exercise_id == exercise.id)
        .group_by(Report.village_code))}
    acks = [((a - c).total_seconds() * SPEED, level) for level, c, a in db.session.execute(
        select(Escalation.level, Escalation.created_at, Escalation.acknowledged_at)
        .where(Escalation.exercise_id == exercise.id, Escalation.acknowledged_at.is_not(None),
               Escalation.rule.in_(("E1", "E2", "E3", "E4"))))]
    rules = dict(db.session.execute(select(Escalation.rule, func.count()).where(
        Escalation.exercise_id == exercise.id).group_by(Escalation.rule)).all())

    f = metrics.evaluate(**evaluation.load_inputs(exercise))
    assert f["villages"] == 6 and f["reported"] == len(first)
    assert f["within_1h"] == sum(1 for t in first.values() if t <= 3600)
    assert f["within_2h"] == sum(1 for t in first.values() if t <= 7200)
    if first:
        assert f["time_to_report"]["village"]["median_min"] == round(float(np.median(list(first.values()))) / 60, 1)
        assert f["time_to_report"]["village"]["p90_min"] == round(
            float(np.percentile(list(first.values()), 90)) / 60, 1)
    for level in {lv for _d, lv in acks}:
        delays = [d for d, lv in acks if lv == level]
        assert f["time_to_ack"][level]["median_min"] == round(float(np.median(delays)) / 60, 1)
    assert {e["rule"]: e["count"] for e in f["escalations_by_rule"]} == rules
    assert {v["code"] for v in f["silent"]} == set(codes) - set(first)
    # seed 25: 码头镇's responder never answers (E4 to the county, which acknowledges), one
    # officer mistypes the hazard (review queue)
    assert rules.get("E1", 0) >= 1 and rules.get("E4", 0) >= 1
    assert f["time_to_ack"]["county"]["acknowledged"] >= 1
    assert f["review"]["count"] >= 1 and any("灾灾" in body for body in f["review"]["examples"])
    # 2 h in, the simulated county office turned on daily reporting (through the API): the
    # silent villages were reminded (E5), and the one that answers reminders then reported
    assert db.session.scalar(select(func.count()).select_from(Event).where(
        Event.exercise_id == exercise.id, Event.daily_report.is_(True))) >= 1
    assert rules.get("E5", 0) >= 1 and stats["reminded"] >= 1
    woken = [code for code, b in build_plan_for(exercise).behaviour.items() if b == "reminded"]
    assert woken and all(code in first for code in woken)
    # the token the simulator made to play the county office is revoked
    from core.models import ApiToken

    assert db.session.scalars(select(ApiToken.revoked)).all() == [True]
    # shelter use: the drill's occupancy history, never the shelter's real occupancy
    peak = db.session.scalar(select(func.max(OccupancyRecord.occupancy_after))
                             .where(OccupancyRecord.exercise_id == exercise.id))
    assert peak and f["shelters"] == [{"code": "S1", "name": "王庄小学", "capacity": 200, "peak": peak,
                                       "use": round(peak / 200, 4)}]
    db.session.refresh(shelter)
    assert shelter.occupancy == 0 and shelter.status == "open"
    assert stats["acks"] >= 1

    out = tmp_path / "report.html"
    report = app.test_cli_runner().invoke(args=["drill", "report", str(exercise.id), "--output", str(out)])
    assert report.exit_code == 0, report.output
    html = out.read_text(encoding="utf-8")
    assert all(h in html for h in HEADINGS) and "模拟演练" in html
    assert running_exercise_for(tree.village) is None


def test_a_second_run_is_refused_and_leaves_the_running_drill_alone(app, tree, live_server, make_person):
    running = service.create(tree.county, "flood", mode="simulated")
    db.session.commit()
    officer = make_person("officer_a", tree.village, phone="+8619900000001")
    db.session.add(SyntheticRecord(kind="person", ref=officer.phone))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["drill", "run", "--county", tree.county.code, "--scenario", "flood",
                                                "--url", live_server, "--no-progress"])
    assert result.exit_code == 1 and f"#{running.id}" in result.output
    db.session.expire_all()
    assert officer.active and db.session.scalar(select(func.count()).select_from(Exercise)) == 1


def test_run_refuses_a_server_that_does_not_answer(app, tree):
    result = app.test_cli_runner().invoke(args=["drill", "run", "--county", tree.county.code, "--scenario", "flood",
                                                "--url", "http://127.0.0.1:9", "--no-progress"])
    assert result.exit_code == 1 and "does not answer" in result.output
    assert db.session.scalar(select(func.count()).select_from(Exercise)) == 0
