"""JSON API (SPEC §8.3): exact shapes, filters, pagination, scope, review, the review queue."""

from __future__ import annotations

from sqlalchemy import select

from core.extensions import db
from core.models import AuditEntry
from messaging.models import OutboundSms
from reporter.models import InboundMessage
from tests.reporter.conftest import reports, twiml_text

# SPEC §8.3, and "processing" (issue 12): stored and answered, not yet filed by the intake processor.
REPORT_FIELDS = {"id", "kind", "hazard", "village_code", "village_name", "author_phone", "indicators", "narrative",
                 "status", "flags", "incident_id", "event_id", "exercise_id", "received_at", "processing"}
MESSAGE_FIELDS = {"sid", "from", "body", "received_at", "outcome", "report_id", "exercise_id"}


def test_message_and_report_shapes(client, send_sms, officer, county_staff, api_token, tree):
    twiml_text(send_sms(officer.phone, "初报 洪涝 死亡0 失踪1 转移120 堤坝漏水", sid="SM-shape"))
    headers = api_token(county_staff)
    msg = client.get("/api/v1/messages/SM-shape", headers=headers).get_json()
    [report] = reports()
    assert set(msg) == MESSAGE_FIELDS
    assert msg["outcome"] == "report" and msg["report_id"] == f"R{report.id}" and msg["from"] == officer.phone
    data = client.get(f"/api/v1/reports/R{report.id}", headers=headers).get_json()
    assert set(data) == REPORT_FIELDS
    assert data["id"] == f"R{report.id}" and data["village_name"] == "王庄村"
    assert data["indicators"] == {"deaths": 0, "missing": 1, "relocated": 120}  # absent ones omitted
    assert data["author_phone"] == officer.phone and data["exercise_id"] is None
    assert client.get(f"/api/v1/reports/{report.id}", headers=headers).get_json() == data


def test_filters_pagination_and_bad_values(client, officer, officer2, county_staff, api_token, send_sms, tree):
    for n in range(3):
        twiml_text(send_sms(officer.phone, f"洪涝 转移{n + 1}", sid=f"SM-f{n}"))
    twiml_text(send_sms(officer2.phone, "初报 地震 受伤1", sid="SM-quake"))
    headers = api_token(county_staff)
    page = client.get("/api/v1/reports?limit=2", headers=headers).get_json()
    assert len(page["items"]) == 2 and page["next"]
    rest = client.get(f"/api/v1/reports?limit=2&cursor={page['next']}", headers=headers).get_json()
    assert len(rest["items"]) == 2 and rest["next"] is None
    ids = [i["id"] for i in page["items"] + rest["items"]]
    assert len(set(ids)) == 4
    quake = client.get("/api/v1/reports?hazard=earthquake", headers=headers).get_json()["items"]
    assert [i["village_code"] for i in quake] == [tree.village2.code]
    assert len(client.get(f"/api/v1/reports?village={tree.village.code}&kind=update", headers=headers)
               .get_json()["items"]) == 2
    assert len(client.get("/api/v1/reports?message_sid=SM-f0", headers=headers).get_json()["items"]) == 1
    assert client.get("/api/v1/reports?since=2000-01-01", headers=headers).get_json()["items"]
    for bad in ("kind=maybe", "hazard=meteor", "status=x", "since=yesterday", "village=12", "exercise=abc",
                "cursor=!!", "limit=0"):
        response = client.get(f"/api/v1/reports?{bad}", headers=headers)
        assert response.status_code == 400, bad
        assert set(response.get_json()["error"]) == {"code", "message"}
    incidents = client.get("/api/v1/incidents?status=open", headers=headers).get_json()["items"]
    assert {i["hazard"] for i in incidents} == {"flood", "earthquake"}
    assert incidents[0]["latest_report_id"].startswith("R")
    events = client.get("/api/v1/events", headers=headers).get_json()["items"]
    assert sorted(e["name"][11:] for e in events) == ["涿州市 地震", "涿州市 洪涝"]


def test_scope_hides_other_counties(client, send_sms, officer, tree, make_person, api_token):
    twiml_text(send_sms(officer.phone, "初报 洪涝 转移3", sid="SM-scope"))
    [report] = reports()
    outsider = make_person("county", tree.other_county)
    headers = api_token(outsider)
    assert client.get(f"/api/v1/reports/R{report.id}", headers=headers).status_code == 404
    assert client.get("/api/v1/reports", headers=headers).get_json()["items"] == []
    assert client.get("/api/v1/incidents", headers=headers).get_json()["items"] == []
    assert client.get("/api/v1/events", headers=headers).get_json()["items"] == []
    assert client.get("/api/v1/messages/SM-scope", headers=headers).status_code == 404
    assert client.get(f"/api/v1/reports/R{report.id}").status_code == 401
    # A township responder sees its county's event through its own incidents.
    township = make_person("township", tree.township)
    assert len(client.get("/api/v1/events", headers=api_token(township)).get_json()["items"]) == 1


def test_exercise_filter(client, send_sms, officer, county_staff, api_token, tree):
    from core.exercises import Exercise

    exercise = Exercise(name="演练", division_code=tree.county.code, scenario="flood")
    db.session.add(exercise)
    db.session.commit()
    twiml_text(send_sms(officer.phone, "演练 初报 洪涝 转移3", sid="SM-ex"))
    headers = api_token(county_staff)
    assert client.get("/api/v1/reports", headers=headers).get_json()["items"] == []
    items = client.get(f"/api/v1/reports?exercise={exercise.id}", headers=headers).get_json()["items"]
    assert len(items) == 1 and items[0]["exercise_id"] == exercise.id


def test_review_accept_and_return(client, send_sms, officer, township_staff, officer2, api_token):
    twiml_text(send_sms(officer.phone, "初报 洪涝 转移3", sid="SM-rev"))
    [report] = reports()
    url = f"/api/v1/reports/R{report.id}/review"
    assert client.post(url, json={"action": "return"}, headers=api_token(township_staff)).status_code == 422
    assert client.post(url, json={"action": "accept"}, headers=api_token(officer2)).status_code in (403, 404)
    response = client.post(url, json={"action": "return", "reason": "转移人数与乡镇统计不符"},
                           headers=api_token(township_staff))
    assert response.status_code == 200 and response.get_json()["status"] == "returned"
    db.session.rollback()
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "report.return"))
    assert entry.actor_id == township_staff.id and entry.after["review_note"] == "转移人数与乡镇统计不符"
    response = client.post(url, json={"action": "accept"}, headers=api_token(township_staff))
    assert response.get_json()["status"] == "accepted"
    assert client.post(url, json={"action": "delete"}, headers=api_token(township_staff)).status_code == 422
    assert client.post(url, data="not json", headers=api_token(township_staff)).status_code == 400


def test_review_queue_convert_and_dismiss(client, send_sms, officer, county_staff, township_staff, api_token, tree):
    twiml_text(send_sms("+8613900000009", "王庄村 大水 冲走两人", sid="SM-q1"))
    twiml_text(send_sms(officer.phone, "🌊🌊", sid="SM-q2"))
    headers = api_token(county_staff)
    queue = client.get("/api/v1/review-queue", headers=headers).get_json()["items"]
    assert {m["sid"] for m in queue} == {"SM-q1", "SM-q2"}
    # a township reads its own officers' queued messages (not strangers'), and converts nothing
    township_queue = client.get("/api/v1/review-queue", headers=api_token(township_staff)).get_json()["items"]
    assert [m["sid"] for m in township_queue] == ["SM-q2"]
    assert client.post("/api/v1/messages/SM-q2/convert", json={"village_code": tree.village.code, "text": "x"},
                       headers=api_token(township_staff)).status_code == 403
    bad = client.post("/api/v1/messages/SM-q1/convert", json={"village_code": tree.village.code, "text": "你好"},
                      headers=headers)
    assert bad.status_code == 422
    body = {"village_code": tree.village.code, "text": "初报 洪涝 失踪2 有人被冲走"}
    response = client.post("/api/v1/messages/SM-q1/convert", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    report = response.get_json()
    assert report["indicators"] == {"missing": 2} and report["author_phone"] is None
    db.session.rollback()
    converted = db.session.scalar(select(InboundMessage).where(InboundMessage.sid == "SM-q1"))
    assert converted.review_status == "converted" and f"R{converted.report_id}" == report["id"]
    assert client.post("/api/v1/messages/SM-q1/dismiss", json={}, headers=headers).status_code == 422
    response = client.post("/api/v1/messages/SM-q2/dismiss", json={"note": "误发"}, headers=headers)
    assert response.status_code == 200 and response.get_json()["review_status"] == "dismissed"
    assert client.get("/api/v1/review-queue", headers=headers).get_json()["items"] == []
    db.session.rollback()
    assert db.session.scalar(select(InboundMessage).where(InboundMessage.sid == "SM-q2")) is not None


def test_close_incident_and_daily_report(client, send_sms, officer, township_staff, county_staff, api_token):
    twiml_text(send_sms(officer.phone, "初报 洪涝 转移3", sid="SM-c1"))
    incident_id = reports()[0].incident_id
    event_id = reports()[0].event_id
    response = client.post(f"/api/v1/incidents/{incident_id}/close", json={"note": "水已退"},
                           headers=api_token(township_staff))
    assert response.status_code == 200 and response.get_json()["status"] == "closed"
    assert client.post(f"/api/v1/incidents/{incident_id}/close", json={},
                       headers=api_token(township_staff)).status_code == 422
    url = f"/api/v1/events/{event_id}/daily-report"
    assert client.post(url, json={"on": True}, headers=api_token(township_staff)).status_code == 403
    assert client.post(url, json={"on": "yes"}, headers=api_token(county_staff)).status_code == 400
    data = client.post(url, json={"on": True}, headers=api_token(county_staff)).get_json()
    assert data["daily_report"] is True and data["daily_report_since"]


def test_closing_an_event_closes_its_incidents_and_settles_what_waits(client, send_sms, officer, officer2,
                                                                      township_staff, county_staff, api_token):
    """A county office ends the flood: both villages' incidents close, the townships' E1s stop
    waiting (no E4 later), daily reporting stops; a township may not; twice is refused."""
    from dispatch.models import Escalation
    from reporter.models import Event, Incident

    twiml_text(send_sms(officer.phone, "初报 洪涝 转移3", sid="SM-ev1"))
    twiml_text(send_sms(officer2.phone, "初报 洪涝 转移5", sid="SM-ev2"))
    event_id = reports()[0].event_id
    assert reports()[1].event_id == event_id
    client.post(f"/api/v1/events/{event_id}/daily-report", json={"on": True}, headers=api_token(county_staff))
    url = f"/api/v1/events/{event_id}/close"
    assert client.post(url, json={}, headers=api_token(township_staff)).status_code == 403
    db.session.rollback()
    assert db.session.get(Event, event_id).status == "open"  # the refusal changed nothing
    response = client.post(url, json={"note": "洪水已退"}, headers=api_token(county_staff))
    assert response.status_code == 200
    data = response.get_json()
    assert data["status"] == "closed" and data["daily_report"] is False
    db.session.rollback()
    assert {i.status for i in db.session.scalars(select(Incident).where(Incident.event_id == event_id))} == {"closed"}
    waiting = db.session.scalars(select(Escalation).where(Escalation.event_id == event_id,
                                                          Escalation.status == "open")).all()
    assert waiting == []
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "event.close"))
    assert entry.after["note"] == "洪水已退" and len(entry.after["incidents_closed"]) == 2
    again = client.post(url, json={}, headers=api_token(county_staff))
    assert again.status_code == 422 and "已结束" in again.get_json()["error"]["message"]
    # the next report from the county starts a new event
    twiml_text(send_sms(officer.phone, "初报 洪涝 转移2", sid="SM-ev3"))
    assert reports()[-1].event_id != event_id


def test_return_queues_sms_to_the_author_when_dispatch_does(client, send_sms, officer, township_staff, api_token):
    """The return is announced (reporter.events.report_returned); dispatch answers with the E6 SMS."""
    twiml_text(send_sms(officer.phone, "初报 洪涝 转移3", sid="SM-e6"))
    [report] = reports()
    client.post(f"/api/v1/reports/R{report.id}/review", json={"action": "return", "reason": "请补充受灾人口"},
                headers=api_token(township_staff))
    db.session.rollback()
    rows = list(db.session.scalars(select(OutboundSms).where(OutboundSms.purpose == "returned")))
    assert all(r.to_phone == officer.phone for r in rows)


def test_openapi_lists_the_routes(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/messages/{sid}", "/api/v1/reports", "/api/v1/reports/{report_id}",
                 "/api/v1/reports/{report_id}/review", "/api/v1/review-queue", "/api/v1/messages/{sid}/convert",
                 "/api/v1/messages/{sid}/dismiss", "/api/v1/incidents", "/api/v1/incidents/{incident_id}/close",
                 "/api/v1/events", "/api/v1/events/{event_id}/daily-report", "/api/v1/events/{event_id}/close"):
        assert path in paths, path
    assert "status" in [p["name"] for p in paths["/api/v1/reports"]["get"]["parameters"]]


def test_since_without_a_zone_is_local_time(client, officer, county_staff, api_token):
    from datetime import UTC, datetime

    from reporter.intake import receive_sms

    at = datetime(2026, 7, 30, 17, 0, tzinfo=UTC)  # 2026-07-31 01:00 in Asia/Shanghai
    receive_sms({"MessageSid": "SM-since", "From": officer.phone, "Body": "初报 洪涝 转移3"}, received_at=at)
    headers = api_token(county_staff)
    assert len(client.get("/api/v1/reports?since=2026-07-31", headers=headers).get_json()["items"]) == 1
    assert client.get("/api/v1/reports?since=2026-07-31T02:00", headers=headers).get_json()["items"] == []
    assert len(client.get("/api/v1/reports?since=2026-07-30T16:59:00Z", headers=headers).get_json()["items"]) == 1


def test_the_api_writes_chinese_as_chinese(client, tree, make_person, api_token):
    response = client.get("/api/v1/me", headers=api_token(make_person("county", tree.county, name="涿州应急局")))
    assert "涿州应急局" in response.get_data(as_text=True) and "\\u" not in response.get_data(as_text=True)
