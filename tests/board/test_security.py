"""Escaping of what officers sent, scope of every action (IDOR), CSRF."""

from __future__ import annotations

import re

import pytest
from lxml import etree

from core.extensions import db
from dispatch.models import Escalation
from reporter.models import Event, InboundMessage, Incident, Report
from tests.conftest import csrf_token

NASTY = ['<script>alert("x")</script>', '"><img src=x onerror=alert(1)>', "河水进村</td><td>伪造"]


@pytest.mark.parametrize("body", NASTY)
def test_sms_text_is_escaped_everywhere(client, tree, make_person, login, rows, body):
    ev = rows.event(tree.county)
    officer = make_person("officer_a", tree.village)
    rows.incident(tree.village, ev, figures={"deaths": 1}, narrative=body, author=officer)
    rows.message(body, person=officer)
    rows.message(body, phone="+8613700001111", outcome="unknown_sender", division=tree.village)
    login(make_person("county", tree.county))
    for path in ("/board", "/board/review"):
        html = client.get(path).get_data(as_text=True)
        assert body not in html, path
        assert "<script>alert" not in html and "<img src=x" not in html and "</td><td>伪造" not in html
    html = client.get("/board/review").get_data(as_text=True)
    assert html.count(body.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")) >= 2
    # Map popup data and GeoJSON: JSON strings (the browser puts them in textContent).
    marker = client.get("/board/map.json").get_json()["markers"][0]
    response = client.get(f"/board/incidents/{marker[0]}.json")
    assert response.get_json()["narrative"] == body
    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/board/export/incidents.geojson").get_json()["features"][0]["properties"]["narrative"] == body
    # CAP: the XML parser gets the text back intact (it was escaped, not injected).
    doc = etree.fromstring(client.get(f"/board/events/{ev.id}/cap.xml").data)
    assert not [el for el in doc.iter() if isinstance(el.tag, str) and el.tag.endswith(("script", "img", "td"))]


def test_csp_forbids_inline_script_on_board(client, tree, make_person, login):
    login(make_person("county", tree.county))
    response = client.get("/board")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    assert not re.search(r"<script>(?!</script>)", html)  # every script has a src


@pytest.fixture
def other_township_objects(tree, make_person, rows):
    """Records in 东城坊镇 (township2) and in another county, targeted by a 码头镇 user."""
    ev = rows.event(tree.county)
    inc, rep = rows.incident(tree.village3, ev, figures={"deaths": 1})
    esc = rows.escalation(inc, [make_person("township", tree.township2)])
    officer3 = make_person("officer_a", tree.village3)
    msg = rows.message("看不懂的短信", person=officer3)
    unknown = rows.message("陌生号码", phone="+8613700002222", outcome="unknown_sender", division=tree.village3)
    foreign_ev = rows.event(tree.other_county)
    return {"event": ev, "incident": inc, "report": rep, "escalation": esc, "message": msg, "unknown": unknown,
            "foreign_event": foreign_ev}


def _post(client, path, data=None):
    token = csrf_token(client, "/board")
    return client.post(path, data={"csrf_token": token, **(data or {})})


def test_township_cannot_act_on_another_township(client, tree, make_person, login, other_township_objects):
    o = other_township_objects
    login(make_person("township", tree.township))
    attempts = [
        (f"/board/escalations/{o['escalation'].id}/ack", {}),
        (f"/board/reports/{o['report'].id}/review", {"action": "accept"}),
        (f"/board/reports/{o['report'].id}/review", {"action": "return", "reason": "x"}),
        (f"/board/incidents/{o['incident'].id}/close", {"note": "x"}),
        (f"/board/events/{o['foreign_event'].id}/daily", {"on": "1"}),
        (f"/board/messages/{o['message'].id}/convert", {"village_code": tree.village.code, "text": "洪涝 死亡1"}),
        (f"/board/messages/{o['message'].id}/dismiss", {"note": "x"}),
        (f"/board/messages/{o['unknown'].id}/dismiss", {"note": "x"}),
        (f"/board/messages/{o['unknown'].id}/convert", {"village_code": tree.village.code, "text": "洪涝 死亡1"}),
        ("/board/escalations/99999/ack", {}),
    ]
    for path, data in attempts:
        assert _post(client, path, data).status_code == 404, path
    # A township sees its county's event but only the county office may require daily reports.
    assert _post(client, f"/board/events/{o['event'].id}/daily", {"on": "1"}).status_code in (403, 404)
    db.session.expire_all()
    assert db.session.get(Escalation, o["escalation"].id).status == "open"
    assert db.session.get(Report, o["report"].id).status == "received"
    assert db.session.get(Incident, o["incident"].id).status == "open"
    assert db.session.get(Event, o["event"].id).daily_report is False
    assert db.session.get(InboundMessage, o["message"].id).review_status == "pending"


def test_township_cannot_read_another_township(client, tree, make_person, login, other_township_objects):
    o = other_township_objects
    login(make_person("township", tree.township))
    assert "看不懂的短信" not in client.get("/board/review").get_data(as_text=True)
    assert "陌生号码" not in client.get("/board/review").get_data(as_text=True)
    assert client.get(f"/board/events/{o['foreign_event'].id}/cap.xml").status_code == 404
    assert client.get(f"/board?event={o['event'].id}&township={tree.township2.code}").get_data(
        as_text=True).count("东河村") == 0


def test_county_cannot_convert_into_a_village_of_another_county(client, tree, make_person, login, rows):
    msg = rows.message("陌生号码", phone="+8613700003333", outcome="unknown_sender", division=tree.village)
    login(make_person("county", tree.county))
    response = _post(client, f"/board/messages/{msg.id}/convert",
                     {"village_code": tree.other_village.code, "text": "洪涝 死亡1"})
    assert response.status_code == 403


def test_csrf_required_on_every_action(client, tree, make_person, login, rows):
    ev = rows.event(tree.county)
    inc, rep = rows.incident(tree.village, ev, figures={"deaths": 1})
    esc = rows.escalation(inc, [make_person("township", tree.township)])
    msg = rows.message("?", person=make_person("officer_a", tree.village))
    login(make_person("county", tree.county))
    for path in (f"/board/escalations/{esc.id}/ack", f"/board/reports/{rep.id}/review",
                 f"/board/incidents/{inc.id}/close", f"/board/events/{ev.id}/daily",
                 f"/board/messages/{msg.id}/convert", f"/board/messages/{msg.id}/dismiss"):
        assert client.post(path, data={"action": "accept", "note": "x", "on": "1"}).status_code == 400, path
    db.session.expire_all()
    assert db.session.get(Escalation, esc.id).status == "open"


def test_return_needs_a_reason(client, tree, make_person, login, rows):
    ev = rows.event(tree.county)
    _inc, rep = rows.incident(tree.village, ev, figures={"deaths": 1})
    login(make_person("county", tree.county))
    response = _post(client, f"/board/reports/{rep.id}/review", {"action": "return", "reason": "  "})
    assert response.status_code == 302
    assert "请填写原因" in client.get("/board").get_data(as_text=True)
    response = _post(client, f"/board/reports/{rep.id}/review", {"action": "delete"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Report, rep.id).status == "received"
