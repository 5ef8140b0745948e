"""Isolation (SPEC §7): what happens inside an exercise never shows in real figures, exports,
escalations, CAP output or the review queue; with ?exercise=<id> it does. Everything goes
through the real webhook and the real pages and API."""

from __future__ import annotations

from sqlalchemy import select

from core.extensions import db
from dispatch.models import Escalation
from drills import flows
from messaging.models import OutboundSms
from reporter.models import Event, InboundMessage
from tests.conftest import csrf_token


def reply(response) -> str:
    return response.get_data(as_text=True)


def test_a_drill_never_changes_real_views(app, client, tree, make_person, login, api_token, send_sms):
    app.config["E3_DEATHS_MISSING"] = 10
    officer = make_person("officer_a", tree.village)
    drill_officer = make_person("officer_a", tree.village2)
    township = make_person("township", tree.township)
    county = make_person("county", tree.county)
    city = make_person("city", tree.city)
    province = make_person("province", tree.province)
    headers = api_token(county)

    real = send_sms(officer.phone, "初报 洪涝 受灾100 转移40")
    assert real.status_code == 200 and "【演练】" not in reply(real)
    exercise = flows.start_exercise(tree.county, "flood")
    drill = send_sms(drill_officer.phone, "演练 初报 洪涝 死亡12 转移5000")
    assert "【演练】" in reply(drill)
    junk = send_sms(drill_officer.phone, "演练 洪捞 <b>xx</b>")
    assert "【演练】" in reply(junk)
    drill_msg = db.session.scalar(select(InboundMessage).where(InboundMessage.body.like("演练 初报%")))
    assert drill_msg.exercise_id == exercise.id and drill_msg.outcome == "report"

    # API lists: real records only without ?exercise, the drill's with it
    for route in ("reports", "incidents", "events", "escalations"):
        real_items = client.get(f"/api/v1/{route}", headers=headers).get_json()["items"]
        drill_items = client.get(f"/api/v1/{route}?exercise={exercise.id}", headers=headers).get_json()["items"]
        assert real_items and all(i.get("exercise_id") is None for i in real_items), route
        assert drill_items and all(i.get("exercise_id") == exercise.id for i in drill_items), route
        assert not {i["id"] for i in real_items} & {i["id"] for i in drill_items}, route
    reports = client.get("/api/v1/reports", headers=headers).get_json()["items"]
    assert [r["village_code"] for r in reports] == [tree.village.code]

    # the real review queue does not hold the drill's unreadable message
    queue = client.get("/api/v1/review-queue", headers=headers).get_json()["items"]
    assert all("洪捞" not in m["body"] for m in queue)
    drill_queue = client.get(f"/api/v1/review-queue?exercise={exercise.id}", headers=headers).get_json()["items"]
    assert any("洪捞" in m["body"] for m in drill_queue)

    # real escalations: the drill's skip-level E3 never reaches city or province (outside the
    # county exercise); every drill SMS carries the prefix
    drill_sms = db.session.scalars(select(OutboundSms).where(OutboundSms.exercise_id == exercise.id)).all()
    assert drill_sms and all(s.body.startswith("【演练】") for s in drill_sms)
    assert not {s.to_phone for s in drill_sms} & {city.phone, province.phone}
    assert township.phone in {s.to_phone for s in drill_sms}
    real_sms = db.session.scalars(select(OutboundSms).where(OutboundSms.exercise_id.is_(None))).all()
    assert all("死亡12" not in s.body and not s.body.startswith("【演练】") for s in real_sms)
    assert not db.session.scalars(select(Escalation).where(Escalation.exercise_id == exercise.id,
                                                           Escalation.level.in_(("city", "province")))).all()

    # the board: real totals, exports and CAP are untouched; the drill view is bannered
    login(county)
    summary = client.get("/board/summary.json").get_json()
    assert summary["exercise_id"] is None
    totals = summary["summary"]["totals"]
    assert totals.get("relocated") == 40 and not totals.get("deaths")
    drill_totals = client.get(f"/board/summary.json?exercise={exercise.id}").get_json()["summary"]["totals"]
    assert drill_totals["deaths"] == 12 and drill_totals["relocated"] == 5000
    csv_real = client.get("/board/export/townships.csv").get_data(as_text=True)
    assert "5000" not in csv_real and "40" in csv_real
    assert "5000" in client.get(f"/board/export/townships.csv?exercise={exercise.id}").get_data(as_text=True)
    board = client.get("/board").get_data(as_text=True)
    assert "演练 EXERCISE" not in board
    assert "演练 EXERCISE" in client.get(f"/board?exercise={exercise.id}").get_data(as_text=True)
    review_page = client.get("/board/review").get_data(as_text=True)
    assert "洪捞" not in review_page

    real_event = db.session.scalar(select(Event).where(Event.exercise_id.is_(None)))
    drill_event = db.session.scalar(select(Event).where(Event.exercise_id == exercise.id))
    cap_real = client.get(f"/board/events/{real_event.id}/cap.xml").get_data(as_text=True)
    assert "<status>Actual</status>" in cap_real and "Exercise" not in cap_real
    assert client.get(f"/board/events/{drill_event.id}/cap.xml").status_code == 404
    cap_drill = client.get(f"/board/events/{drill_event.id}/cap.xml?exercise={exercise.id}").get_data(as_text=True)
    assert "<status>Exercise</status>" in cap_drill

    # archived: still there for its report, still never in real views
    flows.end_exercise(exercise)
    flows.archive_exercise(exercise)
    assert "5000" not in client.get("/board/export/townships.csv").get_data(as_text=True)
    assert [r["village_code"] for r in client.get("/api/v1/reports", headers=headers).get_json()["items"]] == \
        [tree.village.code]
    assert client.get(f"/drills/{exercise.id}/report").status_code == 200
    assert client.get(f"/api/v1/reports?exercise={exercise.id}", headers=headers).get_json()["items"]
    assert csrf_token(client, "/drills")


def test_live_drill_prefix_without_a_running_exercise(app, client, tree, make_person, send_sms):
    officer = make_person("officer_a", tree.village)
    response = send_sms(officer.phone, "演练 初报 洪涝 转移30")
    assert response.status_code == 200
    assert "当前没有进行中的演练" in reply(response)
    message = db.session.scalar(select(InboundMessage))
    assert message is not None and message.body == "演练 初报 洪涝 转移30"  # kept
    assert message.report_id is None and message.exercise_id is None
    from reporter.models import Report

    assert db.session.scalar(select(Report.id)) is None


def test_live_drill_in_one_county_does_not_capture_another(app, client, tree, make_person, send_sms):
    exercise = flows.start_exercise(tree.county, "flood")
    outsider = make_person("officer_a", tree.other_village)
    inside = make_person("officer_a", tree.village3)
    assert "【演练】" in reply(send_sms(inside.phone, "演练 零报告"))
    send_sms(outsider.phone, "演练 零报告")
    rows = dict(db.session.execute(select(InboundMessage.from_phone, InboundMessage.exercise_id)).all())
    assert rows == {inside.phone: exercise.id, outsider.phone: None}
