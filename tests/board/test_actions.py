"""Board actions through the real flows (reporter.review, dispatch.flows): each audited once."""

from __future__ import annotations

from sqlalchemy import select

from core.extensions import db
from core.models import AuditEntry
from dispatch.models import Escalation
from messaging.models import OutboundSms
from reporter.models import Event, InboundMessage, Incident, Report
from tests.conftest import csrf_token


def _post(client, path, data=None):
    return client.post(path, data={"csrf_token": csrf_token(client, "/board"), "next": "/board", **(data or {})})


def _audit(action):
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_acknowledge_from_board(client, tree, make_person, login, rows):
    ev = rows.event(tree.county)
    inc, _ = rows.incident(tree.village, ev, figures={"deaths": 1})
    responder = make_person("township", tree.township, name="赵镇长")
    esc = rows.escalation(inc, [responder])
    login(responder)
    response = _post(client, f"/board/escalations/{esc.id}/ack")
    assert response.status_code == 302 and response.headers["Location"] == "/board"
    db.session.expire_all()
    esc = db.session.get(Escalation, esc.id)
    assert esc.status == "acknowledged" and esc.acknowledged_by_id == responder.id and esc.ack_channel == "web"
    assert len(_audit("escalation.acknowledge")) == 1
    html = client.get("/board").get_data(as_text=True)
    assert f"已确认 E{esc.id}" in html and "确认人" in html


def test_acknowledging_from_a_stale_board_says_who_has_it(client, tree, make_person, login, rows):
    """Two responders have the board open; the county acknowledges first. The township's click
    on its stale page must not be told "已确认" as if it had it: it is told who has, and nothing
    is recorded in its name."""
    ev = rows.event(tree.county)
    inc, _ = rows.incident(tree.village, ev, figures={"deaths": 1})
    township = make_person("township", tree.township, name="赵镇长")
    county = make_person("county", tree.county, name="钱局长")
    esc = rows.escalation(inc, [township])
    login(county)
    _post(client, f"/board/escalations/{esc.id}/ack")
    login(township)
    _post(client, f"/board/escalations/{esc.id}/ack")
    html = client.get("/board").get_data(as_text=True)
    assert f"E{esc.id} 已由钱局长确认，无需重复。" in html
    db.session.expire_all()
    assert db.session.get(Escalation, esc.id).acknowledged_by_id == county.id
    assert [e.actor_id for e in _audit("escalation.acknowledge")] == [county.id]


def test_accept_and_return_with_reason(client, tree, make_person, login, rows):
    ev = rows.event(tree.county)
    officer = make_person("officer_a", tree.village)
    _inc, rep = rows.incident(tree.village, ev, figures={"deaths": 1}, author=officer)
    _inc2, rep2 = rows.incident(tree.village2, ev, figures={"relocated": 10}, author=officer)
    login(make_person("county", tree.county))
    assert _post(client, f"/board/reports/{rep.id}/review", {"action": "accept"}).status_code == 302
    assert _post(client, f"/board/reports/{rep2.id}/review",
                 {"action": "return", "reason": "转移人数与乡镇核实不符"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Report, rep.id).status == "accepted"
    returned = db.session.get(Report, rep2.id)
    assert returned.status == "returned" and returned.review_note == "转移人数与乡镇核实不符"
    sms = db.session.scalars(select(OutboundSms).where(OutboundSms.to_phone == officer.phone)).all()
    assert any("转移人数与乡镇核实不符" in s.body for s in sms)
    assert len(_audit("report.accept")) == 1 and len(_audit("report.return")) == 1
    html = client.get("/board?review=returned").get_data(as_text=True)
    assert "李庄村" in html and "王庄村</b>" not in html


def test_close_incident_and_daily_report(client, tree, make_person, login, rows):
    ev = rows.event(tree.county)
    inc, _ = rows.incident(tree.village, ev, figures={"relocated": 3})
    login(make_person("county", tree.county))
    assert _post(client, f"/board/incidents/{inc.id}/close", {"note": "水已退"}).status_code == 302
    assert _post(client, f"/board/events/{ev.id}/daily", {"on": "1"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Incident, inc.id).status == "closed"
    assert db.session.get(Event, ev.id).daily_report is True
    assert len(_audit("incident.close")) == 1 and len(_audit("event.daily_report")) == 1
    # Closing twice is a clear message, not an error page.
    _post(client, f"/board/incidents/{inc.id}/close", {"note": ""})
    assert "该事件已关闭" in client.get("/board").get_data(as_text=True)


def test_township_may_not_require_daily_reports(client, tree, make_person, login, rows):
    ev = rows.event(tree.county)
    rows.incident(tree.village, ev, figures={"relocated": 3})
    login(make_person("township", tree.township))
    assert "要求每日报告" not in client.get("/board").get_data(as_text=True)
    assert _post(client, f"/board/events/{ev.id}/daily", {"on": "1"}).status_code == 403


def test_review_queue_convert_and_dismiss(client, tree, make_person, login, rows):
    officer = make_person("officer_a", tree.village)
    garbled = rows.message("水很大 快来", person=officer)
    stranger = rows.message("我是王庄村的，村里进水了", phone="+8613700004444", outcome="unknown_sender",
                            division=tree.village)
    login(make_person("county", tree.county))
    html = client.get("/board/review").get_data(as_text=True)
    assert "水很大 快来" in html and "村里进水了" in html
    assert _post(client, f"/board/messages/{garbled.id}/convert",
                 {"village_code": tree.village.code, "text": "初报 洪涝 转移30"}).status_code == 302
    assert _post(client, f"/board/messages/{stranger.id}/dismiss", {"note": "已电话核实，重复"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(InboundMessage, garbled.id).review_status == "converted"
    assert db.session.get(InboundMessage, stranger.id).review_status == "dismissed"
    report = db.session.scalar(select(Report).where(Report.message_id == garbled.id))
    assert report.village_code == tree.village.code and report.relocated == 30
    assert len(_audit("message.convert")) == 1 and len(_audit("message.dismiss")) == 1
    assert "水很大" not in client.get("/board/review").get_data(as_text=True)
    assert "<b>王庄村</b>" in client.get("/board").get_data(as_text=True)


def test_convert_with_unreadable_text_explains(client, tree, make_person, login, rows):
    msg = rows.message("???", person=make_person("officer_a", tree.village))
    login(make_person("county", tree.county))
    _post(client, f"/board/messages/{msg.id}/convert", {"village_code": tree.village.code, "text": "你好"})
    assert "无法识别为灾情报告" in client.get("/board/review").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(InboundMessage, msg.id).review_status == "pending"


def test_an_escalation_with_nobody_above_reads_as_such_not_as_a_raw_status(client, tree, make_person, login, rows):
    ev = rows.event(tree.county)
    inc, _ = rows.incident(tree.village, ev, figures={"deaths": 1})
    responder = make_person("county", tree.county, name="县值班")
    esc = rows.escalation(inc, [responder], level="county", overdue=True, status="overdue")
    login(responder)
    html = client.get("/board").get_data(as_text=True)
    assert f"<b>E{esc.id}</b>" in html and "超时无人确认" in html and "· overdue" not in html


def test_a_county_ends_an_event_from_the_board_and_a_township_may_not(client, tree, make_person, login, rows):
    ev = rows.event(tree.county)
    inc, _ = rows.incident(tree.village, ev, figures={"relocated": 30})
    township = make_person("township", tree.township, name="镇值班")
    esc = rows.escalation(inc, [township])
    login(township)
    assert _post(client, f"/board/events/{ev.id}/close").status_code == 403
    county = make_person("county", tree.county, name="县值班")
    login(county)
    assert "结束并关闭其全部灾情" in client.get("/board").get_data(as_text=True)  # in view, not folded away
    response = _post(client, f"/board/events/{ev.id}/close", {"note": "水退了 <b>"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Event, ev.id).status == "closed"
    assert db.session.get(Incident, inc.id).status == "closed"
    assert db.session.get(Escalation, esc.id).status == "closed"
    assert len(_audit("event.close")) == 1
    html = client.get("/board").get_data(as_text=True)
    assert "灾害过程已结束" in html and "水退了 <b>" not in html
