"""Exercises: start / end / archive from the CLI and the page, the exercises API, scope, CSRF, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.exercises import Exercise, running_exercise_for
from core.extensions import db
from core.models import AuditEntry
from drills import flows, service
from drills.models import ExerciseVillage
from tests.conftest import csrf_token


def cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args), catch_exceptions=False)


def test_cli_start_end_archive(app, tree):
    result = cli(app, "drill", "start", "--county", tree.county.code, "--scenario", "flood")
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("exercise ")
    exercise_id = int(result.output.strip().splitlines()[-1].split()[1])
    exercise = service.get(exercise_id)
    assert exercise.status == "running" and exercise.mode == "live" and "涿州市" in exercise.name
    assert running_exercise_for(tree.village) == exercise
    assert running_exercise_for(tree.other_village) is None
    participants = db.session.scalars(select(ExerciseVillage.village_code).where(
        ExerciseVillage.exercise_id == exercise_id)).all()
    assert sorted(participants) == sorted([tree.village.code, tree.village2.code, tree.village3.code])

    again = app.test_cli_runner().invoke(args=["drill", "start", "--division", tree.city.code, "--scenario", "flood"])
    assert again.exit_code == 1 and "已有进行中的演练" in again.output
    assert cli(app, "drill", "archive", str(exercise_id)).exit_code == 1  # running: end first

    assert cli(app, "drill", "end", str(exercise_id)).exit_code == 0
    db.session.expire_all()
    assert service.get(exercise_id).status == "ended" and running_exercise_for(tree.village) is None
    assert cli(app, "drill", "end", str(exercise_id)).exit_code == 1
    assert cli(app, "drill", "archive", str(exercise_id)).exit_code == 0
    actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.exercise_id == exercise_id)
                                 .order_by(AuditEntry.id)).all()
    assert actions == ["exercise.start", "exercise.end", "exercise.archive"]


def test_cli_refuses_bad_input(app, tree):
    runner = app.test_cli_runner()
    assert "not a county" in runner.invoke(args=["drill", "start", "--county", tree.township.code,
                                                 "--scenario", "flood"]).output
    assert "no division" in runner.invoke(args=["drill", "start", "--county", "999999999999",
                                                "--scenario", "flood"]).output
    assert runner.invoke(args=["drill", "start", "--county", tree.county.code, "--scenario", "volcano"]).exit_code == 2
    result = runner.invoke(args=["drill", "start", "--division", tree.township.code, "--scenario", "flood"])
    assert result.exit_code == 1 and "县、市或省" in result.output
    assert "no exercise" in runner.invoke(args=["drill", "end", "4242"]).output
    assert db.session.scalar(select(Exercise.id)) is None


def test_page_start_and_end_with_csrf_scope_and_audit(client, tree, make_person, login):
    county = make_person("county", tree.county)
    login(county)
    page = client.get("/drills")
    assert page.status_code == 200 and "开始演练" in page.get_data(as_text=True)
    token = csrf_token(client, "/drills")
    # no CSRF token: refused, nothing started
    no_token = client.post("/drills/start", data={"division_code": tree.county.code, "scenario": "flood"})
    assert no_token.status_code == 400
    assert db.session.scalar(select(Exercise.id)) is None
    # another county: out of scope
    response = client.post("/drills/start", data={"division_code": tree.other_county.code, "scenario": "flood",
                                                  "csrf_token": token}, follow_redirects=True)
    assert "不在您的管辖范围内" in response.get_data(as_text=True)
    response = client.post("/drills/start", data={"division_code": tree.county.code, "scenario": "typhoon",
                                                  "name": "<script>x</script>", "csrf_token": token},
                           follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "已开始" in html and "<script>x</script>" not in html and "&lt;script&gt;" in html
    exercise = db.session.scalar(select(Exercise))
    assert exercise.scenario == "typhoon" and exercise.created_by_id == county.id
    assert client.post(f"/drills/{exercise.id}/end", data={}).status_code == 400
    client.post(f"/drills/{exercise.id}/end", data={"csrf_token": token})
    db.session.expire_all()
    assert exercise.status == "ended"
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "exercise.end"))
    assert entry.actor_id == county.id and entry.exercise_id == exercise.id


def test_township_responder_may_not_start_or_end(client, tree, make_person, login):
    township = make_person("township", tree.township)
    exercise = flows.start_exercise(tree.county, "flood")
    login(township)
    token = csrf_token(client, "/drills")
    assert "开始演练" not in client.get("/drills").get_data(as_text=True)
    assert client.post(f"/drills/{exercise.id}/end", data={"csrf_token": token}).status_code == 404
    with pytest.raises(PermissionError, match="县级及以上"):
        flows.end_exercise(exercise, actor=township)
    db.session.rollback()
    db.session.expire_all()
    assert exercise.status == "running"
    other = make_person("county", tree.other_county)
    client.post("/logout", data={"csrf_token": token})
    login(other)
    token = csrf_token(client, "/drills")
    assert client.post(f"/drills/{exercise.id}/end", data={"csrf_token": token}).status_code == 404


def test_exercises_api_is_scoped_and_newest_first(client, tree, make_person, api_token):
    first = flows.start_exercise(tree.county, "flood")
    flows.end_exercise(first)
    second = flows.start_exercise(tree.county, "earthquake", name="第二次")
    elsewhere = flows.start_exercise(tree.other_county, "flood")
    response = client.get("/api/v1/exercises", headers=api_token(make_person("county", tree.county)))
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert [i["id"] for i in items] == [second.id, first.id]
    assert set(items[0]) == {"id", "name", "division_code", "scenario", "status", "started_at", "ended_at"}
    assert items[0]["name"] == "第二次" and items[0]["ended_at"] is None and items[1]["status"] == "ended"
    province = client.get("/api/v1/exercises", headers=api_token(make_person("province", tree.province)))
    assert {i["id"] for i in province.get_json()["items"]} == {first.id, second.id, elsewhere.id}
    assert client.get("/api/v1/exercises").status_code == 401
    bad = client.get("/api/v1/exercises?status=nope", headers=api_token(make_person("city", tree.city)))
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "bad_request"
    assert "/api/v1/exercises" in client.get("/api/v1/openapi.json").get_json()["paths"]


def test_a_province_drill_is_visible_to_the_county_taking_part(client, tree, make_person, api_token, login):
    exercise = flows.start_exercise(tree.province, "earthquake")
    items = client.get("/api/v1/exercises", headers=api_token(make_person("county", tree.county))).get_json()["items"]
    assert [i["id"] for i in items] == [exercise.id]
    assert running_exercise_for(tree.other_village) == exercise
    # its report names every village of the province: for province staff only
    login(make_person("county", tree.county, phone="+8613912340000"))
    assert client.get(f"/drills/{exercise.id}/report").status_code == 404


def test_running_exercise_at_a_past_moment(tree):
    from datetime import timedelta

    exercise = flows.start_exercise(tree.county, "flood")
    flows.end_exercise(exercise)
    during = exercise.started_at + (exercise.ended_at - exercise.started_at) / 2
    assert running_exercise_for(tree.village) is None
    assert running_exercise_for(tree.village, at=during) == exercise  # a replayed message
    assert running_exercise_for(tree.village, at=exercise.started_at - timedelta(minutes=1)) is None
    assert running_exercise_for(tree.village, at=exercise.ended_at + timedelta(seconds=1)) is None
    assert running_exercise_for(tree.other_village, at=during) is None
