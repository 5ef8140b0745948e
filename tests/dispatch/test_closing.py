"""Closing an incident (or an event) settles the escalations still waiting for it: no E4 later
texts the level above about something a responder already closed, and the board stops asking
for an acknowledgement. Acknowledged and escalated escalations keep their outcome."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.extensions import db
from core.models import AuditEntry, Person, utcnow
from dispatch import flows, overdue
from dispatch.models import Escalation
from messaging.models import OutboundSms
from reporter.models import Event, Incident, Report
from tests.conftest import csrf_token


def sms_to(person) -> list[str]:
    return [m.body for m in db.session.scalars(select(OutboundSms).where(
        OutboundSms.to_phone == person.phone).order_by(OutboundSms.id))]


def _audit(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def _expire(*escalations) -> None:
    for esc in escalations:
        db.session.get(Escalation, esc.id).deadline_at = utcnow() - timedelta(seconds=1)
    db.session.commit()


def _close(person, incident, note="水已退"):
    from reporter import review

    return review.close_incident(person, incident, note)


def _escalations(**where) -> list[Escalation]:
    db.session.expire_all()
    return list(db.session.scalars(select(Escalation).filter_by(**where).order_by(Escalation.id)))


# ---- the workflow ------------------------------------------------------------------------

def test_closing_settles_the_open_e1_and_its_deadline_does_nothing(tree, staff, report_in):
    _r, incident, [e1] = report_in(tree.village, staff.officer_a, relocated=3)
    _close(staff.county, incident)
    [esc] = _escalations()
    assert (esc.status, esc.note, esc.acknowledged_at) == ("closed", "事件已关闭（涿州应急局）", None)
    [entry] = _audit("escalations.close")
    assert (entry.entity, entry.entity_id, entry.actor_id) == ("incident", str(incident.id), staff.county.id)
    assert entry.after["escalations"] == [f"E{e1.id}"]

    _expire(e1)
    assert overdue.escalate_if_overdue(e1.id) is None and overdue.sweep_overdue() == 0
    assert _escalations(rule="E4") == [] and sms_to(staff.county) == []
    assert _escalations()[0].status == "closed"


def test_acknowledged_stays_acknowledged_and_the_other_level_closes(tree, staff, report_in):
    _r, incident, [town, county] = report_in(tree.village, staff.officer_a, missing=1)
    flows.acknowledge_by_sms(staff.township, town.id, None)
    db.session.commit()
    _close(staff.township, incident)
    town_after, county_after = _escalations()
    assert (town_after.status, town_after.acknowledged_by_id, town_after.note) == (
        "acknowledged", staff.township.id, None)
    assert (county_after.status, county_after.note) == ("closed", "事件已关闭（码头镇值班）")
    assert _audit("escalations.close")[0].after["escalations"] == [f"E{county.id}"]


def test_escalated_keeps_its_outcome_and_its_e4_closes(tree, staff, report_in):
    _r, incident, [e1] = report_in(tree.village, staff.officer_a, relocated=3)
    _expire(e1)
    child = overdue.escalate_if_overdue(e1.id)
    assert len(sms_to(staff.county)) == 1
    _close(staff.county, incident)
    parent, e4 = _escalations()
    assert (parent.status, e4.id, e4.status) == ("escalated", child.id, "closed")
    _expire(e4)
    assert overdue.escalate_if_overdue(e4.id) is None and sms_to(staff.city) == []
    assert len(sms_to(staff.county)) == 1  # the E4 sent before the close, nothing since


def test_overdue_with_nobody_above_closes_keeping_why_it_was_overdue(tree, staff, report_in):
    _r, incident, escalations = report_in(tree.village, staff.officer_a, relocated=20000)
    province = escalations[-1]
    _expire(province)
    assert overdue.escalate_if_overdue(province.id) is None
    assert db.session.get(Escalation, province.id).status == "overdue"
    _close(staff.province, incident)
    assert {e.status for e in _escalations()} == {"closed"}
    after = db.session.get(Escalation, province.id)
    assert after.note == "超时未确认，无更高一级；事件已关闭（河北应急厅）"


def test_acknowledging_after_the_close_changes_nothing(tree, staff, report_in):
    _r, incident, [e1] = report_in(tree.village, staff.officer_a, relocated=3)
    _close(staff.township, incident)
    assert flows.acknowledge_by_sms(staff.township, e1.id, None) == f"E{e1.id}无需确认。"
    assert flows.acknowledge_by_sms(staff.township, None, None).startswith("暂无待确认的通知")
    db.session.commit()
    assert _escalations()[0].status == "closed" and _audit("escalation.acknowledge") == []


def test_other_incidents_keep_their_escalations(tree, staff, report_in):
    _r, incident, [mine] = report_in(tree.village, staff.officer_a, relocated=3)
    _r, _other, [theirs] = report_in(tree.village2, staff.officer_a, relocated=4)
    _close(staff.county, incident)
    assert [(e.id, e.status) for e in _escalations()] == [(mine.id, "closed"), (theirs.id, "open")]


def test_final_report_closes_the_incident_but_leaves_escalations_waiting(client, send_sms, tree, staff):
    """核报 is the officer saying the situation is over, not a responder having seen it: the
    township's unacknowledged E1 still goes up at its deadline (a deliberate choice)."""
    assert send_sms(staff.officer_a.phone, "初报 洪涝 转移3").status_code == 200
    assert send_sms(staff.officer_a.phone, "核报 洪涝 转移3").status_code == 200
    db.session.rollback()
    [incident] = db.session.scalars(select(Incident)).all()
    assert incident.status == "closed"
    assert [e.status for e in _escalations()] == ["open"] and _audit("escalations.close") == []


def test_closing_an_event_settles_its_incidents_escalations(tree, staff, send_sms, make_person):
    """Nothing closes an event yet (no route); the dispatch side is ready for whatever will."""
    neighbour = make_person("officer_a", tree.village2, name="李A")
    for phone in (staff.officer_a.phone, neighbour.phone):
        assert send_sms(phone, "初报 洪涝 转移3").status_code == 200
    db.session.rollback()
    [event] = db.session.scalars(select(Event)).all()
    first, second = _escalations()
    flows.acknowledge(staff.township, first, "web")
    settled = flows.on_event_closed(event, actor=staff.county)
    db.session.commit()
    assert [e.id for e in settled] == [second.id]
    assert [e.status for e in _escalations()] == ["acknowledged", "closed"]
    [entry] = _audit("escalations.close")
    assert (entry.entity, entry.entity_id) == ("event", str(event.id))


# ---- the board and the API ---------------------------------------------------------------

def test_closing_on_the_board_removes_it_from_the_unacknowledged(client, send_sms, tree, staff, login):
    assert send_sms(staff.officer_a.phone, "初报 洪涝 转移3").status_code == 200
    db.session.rollback()
    [e1] = _escalations()
    incident = db.session.get(Incident, e1.incident_id)
    ack_form = f'action="/board/escalations/{e1.id}/ack"'
    login(staff.county)
    assert client.get("/board/summary.json").get_json()["summary"]["escalations_open"] == 1
    assert ack_form in client.get("/board").get_data(as_text=True)

    response = client.post(f"/board/incidents/{incident.id}/close",
                           data={"csrf_token": csrf_token(client, "/board"), "next": "/board", "note": "水已退"})
    assert response.status_code == 302
    assert client.get("/board/summary.json").get_json()["summary"]["escalations_open"] == 0
    html = client.get("/board").get_data(as_text=True)
    assert ack_form not in html and "灾情已结束" in html
    # A page opened before the close still has the button: pressing it says why nothing happens.
    client.post(f"/board/escalations/{e1.id}/ack", data={"csrf_token": csrf_token(client, "/board"), "next": "/board"})
    assert f"E{e1.id} 已关闭，无需确认。" in client.get("/board").get_data(as_text=True)
    [e1] = _escalations()
    assert (e1.status, e1.note) == ("closed", "事件已关闭（涿州应急局）")
    assert len(_audit("escalations.close")) == 1 and len(_audit("incident.close")) == 1


def test_closing_through_the_api_closes_its_escalations(client, send_sms, tree, staff, api_token):
    assert send_sms(staff.officer_a.phone, "初报 洪涝 失踪1 转移3").status_code == 200
    db.session.rollback()
    report = db.session.scalar(select(Report))
    headers = api_token(staff.township)
    waiting = client.get("/api/v1/escalations?status=open", headers=api_token(staff.county)).get_json()["items"]
    assert len(waiting) == 2
    response = client.post(f"/api/v1/incidents/{report.incident_id}/close", json={"note": "水已退"}, headers=headers)
    assert response.status_code == 200 and response.get_json()["status"] == "closed"
    county = api_token(staff.county)
    assert client.get("/api/v1/escalations?status=open", headers=county).get_json()["items"] == []
    for item in client.get("/api/v1/escalations?status=closed", headers=county).get_json()["items"]:
        assert item["note"] == "事件已关闭（码头镇值班）" and item["overdue"] is False


# ---- races (PostgreSQL: SQLite has one writer at a time) ---------------------------------------

def _postgres_only():
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time: there is no race to lose")


def _in_thread(app, fn, results: list, errors: list) -> threading.Thread:
    def run():
        with app.app_context():  # its own session and connection
            try:
                results.append(fn())
            except Exception as exc:  # reported by the test
                errors.append(repr(exc))
                db.session.rollback()
            finally:
                db.session.remove()
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_deadline_pass_leaves_a_close_in_progress_alone_and_then_finds_nothing(app, tree, staff, report_in):
    """The pass does not wait behind the incident's lock (a close, an intake batch): it skips
    that escalation, and the next pass, after the close committed, finds it closed."""
    _postgres_only()
    _r, incident, [e1] = report_in(tree.village, staff.officer_a, relocated=3)
    _expire(e1)
    incident = db.session.get(Incident, incident.id)
    incident.status, incident.closed_at = "closed", utcnow()
    flows.on_incident_closed(incident, actor=staff.county)  # not committed yet
    results, errors = [], []
    thread = _in_thread(app, overdue.sweep_overdue, results, errors)
    thread.join(timeout=10)
    assert not thread.is_alive(), "the pass waited for the close"
    assert errors == [] and results == [0]
    db.session.commit()
    assert overdue.sweep_overdue() == 0
    assert [e.status for e in _escalations()] == ["closed"] and sms_to(staff.county) == []


def test_acknowledgement_racing_the_close_one_of_them_wins(app, tree, staff, report_in):
    _postgres_only()
    _r, incident, [e1] = report_in(tree.village, staff.officer_a, relocated=3)
    ids = {"township": staff.township.id, "county": staff.county.id, "esc": e1.id, "incident": incident.id}
    barrier = threading.Barrier(2)

    def ack():
        township = db.session.get(Person, ids["township"])
        barrier.wait(timeout=20)
        reply = flows.acknowledge_by_sms(township, ids["esc"], None)
        db.session.commit()
        return reply

    def close():
        from reporter import review as reporter_review

        county, closing = db.session.get(Person, ids["county"]), db.session.get(Incident, ids["incident"])
        barrier.wait(timeout=20)
        reporter_review.close_incident(county, closing, None)
        return "closed"

    results, errors = [], []
    threads = [_in_thread(app, ack, results, errors), _in_thread(app, close, results, errors)]
    for thread in threads:
        thread.join(timeout=30)
    assert errors == [] and len(results) == 2
    [esc] = _escalations()
    reply = next(r for r in results if r != "closed")
    acks, closes = _audit("escalation.acknowledge"), _audit("escalations.close")
    if esc.status == "acknowledged":
        assert len(acks) == 1 and closes == [] and reply.startswith(f"已确认E{esc.id}")
    else:
        assert esc.status == "closed" and acks == [] and len(closes) == 1 and reply == f"E{esc.id}无需确认。"


def test_close_during_an_e4_in_progress_also_closes_the_new_e4(app, tree, staff, report_in):
    """The E4 job has claimed the escalation and written its E4 (not yet committed) when a
    responder closes the incident: the close waits for it (the incident's row lock, taken first
    by both) and then closes the new E4 as well, so no deadline is left running. The job is
    held mid-transaction by a pause after its outbox INSERT (a driver event, not a mock)."""
    _postgres_only()
    from sqlalchemy import event

    _r, incident, [e1] = report_in(tree.village, staff.officer_a, relocated=3)
    _expire(e1)
    ids = {"esc": e1.id, "incident": incident.id, "county": staff.county.id}
    paused = threading.Event()

    def pause_after_outbox_insert(_conn, _cursor, statement, *_args):
        if statement.startswith("INSERT INTO outbound_sms") and not paused.is_set():
            paused.set()
            time.sleep(1.0)

    def e4():
        event.listen(db.engine, "after_cursor_execute", pause_after_outbox_insert)
        try:
            return overdue.escalate_if_overdue(ids["esc"])
        finally:
            event.remove(db.engine, "after_cursor_execute", pause_after_outbox_insert)

    results, errors = [], []
    thread = _in_thread(app, e4, results, errors)
    assert paused.wait(timeout=20), "the E4 job never reached its outbox"
    _close(db.session.get(Person, ids["county"]), db.session.get(Incident, ids["incident"]))
    thread.join(timeout=30)
    assert errors == [] and results[0] is not None
    assert [(e.rule, e.status) for e in _escalations()] == [("E1", "escalated"), ("E4", "closed")]
