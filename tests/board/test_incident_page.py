"""The incident page (/board/incidents/<id>, SPEC §11.1): a village's whole history for the county."""

from __future__ import annotations

from sqlalchemy import select

from core.extensions import db
from dispatch.models import Escalation
from reporter.models import Incident, Report


def test_the_whole_history_of_an_incident(client, tree, make_person, login, send_sms):
    officer = make_person("officer_a", tree.village, name="王官员")
    make_person("township", tree.township, name="码头镇值班")
    make_person("county", tree.county, name="涿州应急局")
    send_sms(officer.phone, "初报 洪涝 转移30 失踪1 <script>alert(1)</script>")
    first = db.session.scalar(select(Report).order_by(Report.id))
    send_sms(officer.phone, f"更正 R{first.id} 转移35")
    send_sms(officer.phone, "续报 转移50 村东大堤加固")
    incident = db.session.scalar(select(Incident))
    escalations = db.session.scalars(select(Escalation).order_by(Escalation.id)).all()

    login(make_person("county", tree.county, name="县值班员"))
    board = client.get("/board").get_data(as_text=True)
    assert f"/board/incidents/{incident.id}" in board  # linked from the board's rows
    html = client.get(f"/board/incidents/{incident.id}").get_data(as_text=True)
    assert f"R{first.id}" in html and "初报" in html and "续报" in html and "王官员" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html  # the SMS, escaped
    assert "更正" in html and "35" in html  # the correction, before and after
    for esc in escalations:
        assert f"E{esc.id}" in html
    assert "码头镇值班" in html and "report.create" in html and "report.correct" in html
    assert 'name="reason"' in html  # the viewer may review: the forms are there


def test_outside_the_viewers_area_it_does_not_exist(client, tree, make_person, login, rows):
    event = rows.event(tree.county)
    incident, _ = rows.incident(tree.village, event, figures={"relocated": 3})
    login(make_person("county", tree.other_county))
    assert client.get(f"/board/incidents/{incident.id}").status_code == 404
    assert client.get("/board/incidents/999999").status_code == 404


def test_a_drill_incident_only_with_its_exercise(client, tree, make_person, login, rows):
    from core.exercises import Exercise

    exercise = Exercise(name="演练", division_code=tree.county.code, scenario="flood", status="running")
    db.session.add(exercise)
    db.session.commit()
    incident, _ = rows.incident(tree.village, rows.event(tree.county, exercise_id=exercise.id),
                                figures={"relocated": 3}, exercise_id=exercise.id)
    login(make_person("county", tree.county))
    assert client.get(f"/board/incidents/{incident.id}").status_code == 404
    assert client.get(f"/board/incidents/{incident.id}?exercise={exercise.id}").status_code == 200


def test_the_live_feed_names_rules_instead_of_codes(client, tree, make_person, login, rows):
    """The live chips read "E10 E2 前屯村": an escalation id next to a rule code, both written E<n>."""
    event = rows.event(tree.county)
    incident, _ = rows.incident(tree.village, event, figures={"deaths": 1})
    login(make_person("county", tree.county))
    cursor = client.get("/board/changes").get_json()["cursor"]
    esc = rows.escalation(incident, [], rule="E2")
    items = client.get(f"/board/changes?since={cursor}").get_json()["items"]
    [chip] = [i for i in items if i["type"] == "escalation"]
    assert chip["id"] == f"E{esc.id}" and chip["rule"] == "有伤亡"
