"""The escalations API (SPEC §8.3), scope and bad input; delivery updates."""

from __future__ import annotations

from core.exercises import Exercise
from core.extensions import db


def test_list_filters_and_scope(client, api_token, tree, staff, report_in, make_person):
    report_in(tree.village, staff.officer_a, deaths=1)            # E2 township + county
    report_in(tree.village3, staff.officer_a, relocated=3)        # E1 to 东城坊镇 (nobody there) → county
    headers = api_token(staff.county)
    items = client.get("/api/v1/escalations", headers=headers).get_json()["items"]
    assert len(items) == 4
    assert {i["rule"] for i in items} == {"E1", "E2"}
    only = client.get("/api/v1/escalations?rule=e2&level=county", headers=headers).get_json()["items"]
    assert [(i["rule"], i["level"], i["village_code"]) for i in only] == [("E2", "county", tree.village.code)]
    by_town = client.get(f"/api/v1/escalations?township={tree.township2.code}", headers=headers).get_json()
    assert {i["village_code"] for i in by_town["items"]} == {tree.village3.code}
    # the township responder of 码头镇 sees only its villages
    mine = client.get("/api/v1/escalations", headers=api_token(staff.township)).get_json()["items"]
    assert {i["village_code"] for i in mine} == {tree.village.code}
    # another county sees nothing
    stranger = make_person("county", tree.other_county)
    assert client.get("/api/v1/escalations", headers=api_token(stranger)).get_json()["items"] == []


def test_pagination(client, api_token, tree, staff, report_in):
    for n in range(5):
        report_in(tree.village, staff.officer_a, relocated=n + 1)
    headers = api_token(staff.county)
    page = client.get("/api/v1/escalations?limit=2", headers=headers).get_json()
    seen = [i["id"] for i in page["items"]]
    while page["next"]:
        page = client.get(f"/api/v1/escalations?limit=2&cursor={page['next']}", headers=headers).get_json()
        seen += [i["id"] for i in page["items"]]
    assert len(seen) == 5 == len(set(seen))


def test_one_escalation_shape(client, api_token, tree, staff, report_in):
    report, incident, [esc] = report_in(tree.village, staff.officer_a, relocated=120)
    headers = api_token(staff.township)
    for ref in (f"E{esc.id}", str(esc.id), f"e{esc.id}"):
        body = client.get(f"/api/v1/escalations/{ref}", headers=headers).get_json()
        assert body["id"] == f"E{esc.id}"
    assert body["rule"] == "E1" and body["report_id"] == f"R{report.id}" and body["incident_id"] == incident.id
    assert body["status"] == "open" and body["deadline_at"] and body["acknowledged_at"] is None
    assert body["recipients"] == [{"name": "码头镇值班", "phone": staff.township.phone, "role": "township"}]
    assert body["sms"][0]["to"] == staff.township.phone and body["sms"][0]["status"] == "pending"
    assert body["exercise_id"] is None


def test_ack_over_api(client, api_token, tree, staff, report_in, make_person):
    _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=3)
    neighbour = make_person("township", tree.township2)
    denied = client.post(f"/api/v1/escalations/E{esc.id}/ack", headers=api_token(neighbour))
    assert denied.status_code == 403 and denied.get_json()["error"]["code"] == "forbidden"
    officer = client.post(f"/api/v1/escalations/E{esc.id}/ack", headers=api_token(staff.officer_a))
    assert officer.status_code == 403
    headers = api_token(staff.township)
    first = client.post(f"/api/v1/escalations/E{esc.id}/ack", headers=headers)
    assert first.status_code == 200
    body = first.get_json()
    assert body["status"] == "acknowledged" and body["acknowledged_by"]["name"] == "码头镇值班"
    again = client.post(f"/api/v1/escalations/{esc.id}/ack", headers=headers)
    assert again.status_code == 200 and again.get_json()["acknowledged_at"] == body["acknowledged_at"]


def test_bad_input(client, api_token, tree, staff):
    headers = api_token(staff.county)
    for query in ("status=nonsense", "rule=E9", "level=galaxy", "since=yesterday", "exercise=abc",
                  "village=12", "county=<script>", "limit=0", "limit=100000", "cursor=garbage",
                  "township=1' OR '1'='1"):
        response = client.get(f"/api/v1/escalations?{query}", headers=headers)
        assert response.status_code == 400, query
        assert "error" in response.get_json()
    for ref in ("E99999", "X1", "E", "🙂", "1" * 40):
        assert client.get(f"/api/v1/escalations/{ref}", headers=headers).status_code == 404, ref
        assert client.post(f"/api/v1/escalations/{ref}/ack", headers=headers).status_code == 404, ref
    assert client.get("/api/v1/escalations").status_code == 401
    assert client.get("/api/v1/escalations", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_exercise_records_apart(client, api_token, tree, staff, report_in):
    exercise = Exercise(name="演练", division_code=tree.county.code, scenario="flood")
    db.session.add(exercise)
    db.session.commit()
    report_in(tree.village, staff.officer_a, relocated=3, exercise_id=exercise.id)
    report_in(tree.village2, staff.officer_a, relocated=3)
    headers = api_token(staff.county)
    real = client.get("/api/v1/escalations", headers=headers).get_json()["items"]
    drill = client.get(f"/api/v1/escalations?exercise={exercise.id}", headers=headers).get_json()["items"]
    assert [i["village_code"] for i in real] == [tree.village2.code]
    assert [(i["village_code"], i["exercise_id"]) for i in drill] == [(tree.village.code, exercise.id)]


def test_list_filters_take_any_case_and_name_the_choices_when_wrong(client, tree, staff, report_in, api_token):
    report_in(tree.village, staff.officer_a, relocated=3)
    headers = api_token(staff.county)
    shouting = client.get("/api/v1/escalations?status= OPEN ", headers=headers).get_json()["items"]
    assert shouting and shouting == client.get("/api/v1/escalations?status=open", headers=headers).get_json()["items"]
    bad = client.get("/api/v1/escalations?status=waiting", headers=headers)
    assert bad.status_code == 400 and "open" in bad.get_json()["error"]["message"]
