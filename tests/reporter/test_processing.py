"""The intake processor: the webhook stores and answers, the processor files (reporter.processing).

What an officer and a county office would notice: the reply is the same whether the report was
filed at once or after a backlog; a follow-up never overtakes its initial report; nothing is
lost or doubled when a processor dies; a stored report shows as being processed, never with
missing figures.
"""

from __future__ import annotations

import re
import threading
import uuid
from datetime import timedelta

from sqlalchemy import func, select

from core.exercises import Exercise
from core.extensions import db
from core.models import AuditEntry, Person, utcnow
from dispatch.models import Escalation
from messaging.models import OutboundSms
from reporter import processing
from reporter.models import Event, InboundMessage, Incident, Report
from tests.conftest import _truncate_all, build_tree
from tests.reporter.conftest import reports, twiml_text

# A recorded mix: initial reports, a follow-up from the village's other officer with more
# casualties, one with fewer (decrease flag), a final report, a nil report while an incident is
# open, a skip-level figure, an implausible one, a correction, a drill message and help.
MIX = [
    ("a1", "初报 洪涝 失踪1 转移30"),
    ("v2", "初报 洪涝 转移20"),
    ("b1", "续报 洪涝 失踪2 转移40"),
    ("v3", "初报 洪涝 死亡12 转移12000"),
    ("a1", "续报 失踪0 转移45"),
    ("v2", "核报 洪涝 转移25"),
    ("v3", "零报告"),
    ("a1", "更正 R1 失踪3"),
    ("v2", "演练 初报 洪涝 转移5"),
    ("b1", "续报 受伤5 转移400000"),
    ("v3", "帮助"),
]


def _people(tree, make_person) -> dict[str, Person]:
    return {
        "a1": make_person("officer_a", tree.village, phone="+8613800001001", name="王A"),
        "b1": make_person("officer_b", tree.village, phone="+8613800001002", name="王B"),
        "v2": make_person("officer_a", tree.village2, phone="+8613800001003", name="李A"),
        "v3": make_person("officer_a", tree.village3, phone="+8613800001004", name="东A"),
        "t1": make_person("township", tree.township, phone="+8613800001005", name="码头镇"),
        "t2": make_person("township", tree.township2, phone="+8613800001006", name="东城坊镇"),
        "c": make_person("county", tree.county, phone="+8613800001007", name="涿州"),
    }


def _drill(tree) -> None:
    db.session.add(Exercise(name="涿州防汛演练", division_code=tree.county.code, scenario="flood",
                            status="running", started_at=utcnow() - timedelta(minutes=5)))
    db.session.commit()


def _mask(text: str | None) -> str | None:
    """Escalation ids differ when incidents are filed in another order; the texts must not."""
    return re.sub(r"E\d+", "E#", text) if text else text


def snapshot() -> dict:
    """Everything the mix produced, keyed by what does not depend on filing order."""
    db.session.rollback()
    first_report = dict(db.session.execute(select(Report.incident_id, func.min(Report.id))
                                           .group_by(Report.incident_id)).all())
    incident_key = {i.id: (i.village_code, i.hazard, first_report.get(i.id))
                    for i in db.session.scalars(select(Incident))}
    event_key = {e.id: (e.county_code, e.hazard, e.name, e.exercise_id) for e in db.session.scalars(select(Event))}
    return {
        "messages": sorted((m.sid[-4:], m.outcome, m.reply, m.report_id, m.review_status)
                           for m in db.session.scalars(select(InboundMessage))),
        "reports": [(r.id, r.kind, r.hazard, r.village_code, r.indicators, r.flags, r.status, r.exercise_id,
                     incident_key.get(r.incident_id), event_key.get(r.event_id)) for r in reports()],
        "incidents": sorted((incident_key[i.id], i.indicators, i.status, i.report_count, i.latest_report_id,
                             sorted(i.flags or []), event_key.get(i.event_id))
                            for i in db.session.scalars(select(Incident))),
        "events": sorted(event_key.values(), key=repr),
        "escalations": sorted((e.rule, e.level, e.division_code, e.status, e.report_id, e.exercise_id,
                               incident_key.get(e.incident_id), sorted(p.phone for p in e.recipients))
                              for e in db.session.scalars(select(Escalation))),
        "outbox": sorted((s.to_phone, _mask(s.body), s.purpose, s.report_id, s.exercise_id)
                         for s in db.session.scalars(select(OutboundSms))),
        "audit": sorted((a.action, a.entity, a.entity_id if a.entity == "report" else "", a.actor, a.exercise_id)
                        for a in db.session.scalars(select(AuditEntry))),
    }


def _run_mix(app, send_sms, people, *, deferred: bool) -> list[str]:
    app.config["INTAKE_DEFERRED"] = deferred
    replies = [twiml_text(send_sms(people[who].phone, body, sid=f"SM-mix-{n:04d}", filed=not deferred))
               for n, (who, body) in enumerate(MIX)]
    if deferred:
        processing.drain()
    return replies


def test_a_backlog_filed_later_gives_what_filing_at_once_gives(app, send_sms, make_person):
    """Equivalence: the recorded mix sent while nothing is filed (a backlog the processor takes in
    one batch, village by village) ends exactly as the same mix filed message by message."""
    try:
        tree = build_tree()
        people = _people(tree, make_person)
        _drill(tree)
        at_once = _run_mix(app, send_sms, people, deferred=False)
        expected = snapshot()

        _truncate_all(app)
        tree = build_tree()
        people = _people(tree, make_person)
        _drill(tree)
        later = _run_mix(app, send_sms, people, deferred=True)
        got = snapshot()
    finally:
        app.config["INTAKE_DEFERRED"] = True
    assert later == at_once
    for part in expected:
        assert got[part] == expected[part], part
    # and the mix did exercise what it claims to
    assert {"decrease", "implausible"} <= {f for r in got["reports"] for f in r[5]}
    assert {"E1", "E2", "E3"} <= {e[0] for e in got["escalations"]}
    assert any(r[7] is not None for r in got["reports"])   # the drill report
    assert any(r[1] == "nil" and r[5] == ["open_incident"] for r in got["reports"])


def test_a_stored_report_is_answered_and_shown_as_being_processed(send_sms, officer, client, county_staff,
                                                                  api_token):
    reply = twiml_text(send_sms(officer.phone, "初报 洪涝 失踪1 转移30", sid="SM-wait", filed=False))
    assert reply.startswith("已收到初报R1(洪涝 王庄村): 失踪1 转移30。")
    [report] = reports()
    assert report.relocated == 30 and report.missing == 1 and report.incident_id is None
    stored = db.session.scalar(select(InboundMessage).where(InboundMessage.sid == "SM-wait"))
    assert stored.outcome == "pending" and stored.report_id == report.id
    shown = client.get("/api/v1/reports/R1", headers=api_token(county_staff)).get_json()
    assert shown["status"] == "received" and shown["processing"] is True
    assert shown["indicators"] == {"missing": 1, "relocated": 30}
    assert db.session.scalar(select(func.count(OutboundSms.id))) == 0  # nobody alerted yet

    assert processing.drain() == 1
    [incident] = db.session.scalars(select(Incident)).all()
    assert incident.indicators == {"missing": 1, "relocated": 30} and incident.latest_report_id == report.id
    assert client.get("/api/v1/reports/R1", headers=api_token(county_staff)).get_json()["processing"] is False
    assert db.session.scalar(select(InboundMessage.outcome).where(InboundMessage.sid == "SM-wait")) == "report"
    assert db.session.scalar(select(func.count(OutboundSms.id)).where(OutboundSms.purpose == "alert")) >= 1


def test_a_follow_up_never_overtakes_its_initial_report(send_sms, officer, make_person, tree):
    """The village's other officer texts before the first report is filed: the request files the
    waiting one first, so the second is a 续报 of the same incident."""
    other = make_person("officer_b", tree.village, name="王B")
    send_sms(officer.phone, "初报 洪涝 转移30", filed=False)
    reply = twiml_text(send_sms(other.phone, "洪涝 转移50", filed=False))
    assert reply.startswith("已收到续报R2")
    processing.drain()
    [incident] = db.session.scalars(select(Incident)).all()
    assert incident.report_count == 2 and incident.relocated == 50 and incident.latest_report_id == 2
    assert [r.kind for r in reports()] == ["initial", "update"]


def test_a_correction_waits_for_its_report(send_sms, officer):
    send_sms(officer.phone, "初报 洪涝 失踪1 转移30", filed=False)
    reply = twiml_text(send_sms(officer.phone, "更正 R1 失踪2", filed=False))
    assert reply.startswith("已更正R1")
    [incident] = db.session.scalars(select(Incident)).all()
    assert incident.missing == 2 and incident.report_count == 1
    assert processing.drain() == 0  # filed by the correction's request, once


def _villages(tree, count: int) -> list:
    """`count` more villages of the tree's township (committed)."""
    from core.models import Division

    villages = [Division(code=f"130681101{n:03d}", parent_code=tree.township.code, name=f"{n}村", level="village",
                         province_code=tree.province.code, city_code=tree.city.code, county_code=tree.county.code,
                         township_code=tree.township.code) for n in range(100, 100 + count)]
    db.session.add_all(villages)
    db.session.commit()
    return villages


def test_two_processors_on_one_backlog_file_each_message_once(app, send_sms, tree, make_person):
    """Two processors (threads with their own connections) race over a backlog of reports from 30
    villages of one county, all opening the same event: every message filed once, one event."""
    for village in _villages(tree, 30):
        send_sms(make_person("officer_a", village).phone, "初报 洪涝 失踪1 转移10", filed=False)
    app.config["INTAKE_BATCH"] = 8  # several batches each, so the two interleave
    done = []

    def run() -> None:
        with app.app_context():
            done.append(processing.drain())

    try:
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        app.config["INTAKE_BATCH"] = 200
    db.session.rollback()
    assert sum(done) == 30 and len(done) == 2
    assert db.session.scalar(select(func.count(InboundMessage.id)).where(InboundMessage.outcome == "pending")) == 0
    incidents = db.session.scalars(select(Incident)).all()
    assert len(incidents) == 30 and all(i.report_count == 1 for i in incidents)
    assert len({i.event_id for i in incidents}) == 1
    assert db.session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.action == "report.create")) == 30


def test_two_officers_of_one_village_at_once(app, tree, make_person, live_server):
    """Both officers of a village text within milliseconds: one initial report, one follow-up."""
    import requests

    from messaging.gateway import sign
    from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL

    a = make_person("officer_a", tree.village)
    b = make_person("officer_b", tree.village)
    replies: list[str] = []
    start = threading.Barrier(2)

    def post(phone: str) -> None:
        form = {"MessageSid": "SM" + uuid.uuid4().hex, "From": phone, "To": "+8610690000",
                "Body": "洪涝 转移30"}
        headers = {"X-Twilio-Signature": sign(PUBLIC_BASE_URL + "/sms/inbound", form, AUTH_TOKEN)}
        start.wait()
        replies.append(requests.post(live_server + "/sms/inbound", data=form, headers=headers, timeout=30).text)

    threads = [threading.Thread(target=post, args=(p.phone,)) for p in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    processing.drain()
    assert sorted("初报" in r for r in replies) == [False, True]
    [incident] = db.session.scalars(select(Incident)).all()
    assert incident.report_count == 2


def test_a_batchs_alerts_reach_redis_after_it_commits_in_shared_jobs(app, send_sms, tree, make_person):
    """Six villages' reports filed in one batch: their township alerts are handed to Redis when
    the batch commits, in shared send jobs. Handed over as each message's savepoint was released,
    they were six single jobs queued before the rows were committed: a worker quick enough found
    no row and the alert waited for the outbox sweep."""
    from core.queue import queue

    make_person("township", tree.township, phone="+8613800002001", name="码头镇")
    for village in _villages(tree, 6):
        send_sms(make_person("officer_a", village).phone, "初报 洪涝 转移10", filed=False)
    queue("alerts").empty()
    assert processing.drain() == 6
    jobs = queue("alerts").job_ids
    assert len(jobs) == 1 and "sms-batch-" in jobs[0], jobs
    assert db.session.scalar(select(func.count(OutboundSms.id)).where(OutboundSms.purpose == "alert")) == 6
