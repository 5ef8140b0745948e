"""The express path (reporter.express): an officer's SMS report or nil report stored and planned
in three statements on PostgreSQL, answered and recorded exactly as the general path does it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from core.extensions import db
from core.models import AuditEntry
from reporter.models import InboundMessage, Incident, Report
from tests.conftest import intake_path
from tests.reporter.conftest import twiml_text


@pytest.fixture
def postgres_only():
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the express path is PostgreSQL's (SQLite takes the general path)")


def _send_both_ways(app, send_sms, officer, body: str, statements) -> tuple[str, str]:
    """The same report sent by the same officer twice, express and general, each time to a
    village with no incident; returns both replies (report ids masked)."""
    replies = []
    phone = officer.phone
    for express in (True, False):
        db.session.execute(Incident.__table__.update().values(status="closed"))
        db.session.commit()
        with intake_path(app, statements, express=express):
            replies.append(twiml_text(send_sms(phone, body)))
    return tuple(re.sub(r"R\d+", "R#", r) for r in replies)


def test_an_officers_report_takes_three_statements(postgres_only, send_sms, officer, statements):
    phone, officer_id = officer.phone, officer.id
    statements.clear()
    reply = twiml_text(send_sms(phone, "初报 洪涝 失踪1 转移30", filed=False))
    assert reply.startswith("已收到初报R1(洪涝 王庄村): 失踪1 转移30。")
    # store + sender + village lock; the village's state; the report with the message's outcome
    assert len(statements) == 3 and all(s.startswith("WITH") for s in statements), statements
    message = db.session.scalar(select(InboundMessage))
    assert (message.outcome, message.report_id, message.person_id, message.reply) == ("pending", 1, officer_id, reply)
    report = db.session.get(Report, 1)
    assert (report.kind, report.hazard, report.missing, report.relocated, report.author_id, report.message_id) == (
        "initial", "flood", 1, 30, officer_id, message.id)


def test_the_express_reply_is_the_general_paths(postgres_only, app, send_sms, officer, statements):
    for body in ("初报 洪涝 失踪1 转移30", "洪涝 转移12000 死亡20 村东头堤坝渗水", "核报 洪涝 转移5",
                 "初报 洪涝 转移30 房屋倒塌"):  # the last: a part the grammar ignores, named in the reply
        express, general = _send_both_ways(app, send_sms, officer, body, statements)
        assert express == general


def test_a_follow_up_and_what_it_continues(postgres_only, send_sms, officer, make_person, tree):
    """A 续报 continues the open incident with its flags; the village's other officer too."""
    send_sms(officer.phone, "初报 洪涝 失踪3 转移30")
    other = make_person("officer_b", tree.village, name="王B")
    reply = twiml_text(send_sms(other.phone, "续报 洪涝 失踪1 转移40"))
    assert reply.startswith("已收到续报R2(洪涝 王庄村): 失踪1 转移40。数字比上次减少且无说明，请核实")
    [incident] = db.session.scalars(select(Incident)).all()
    assert incident.report_count == 2 and incident.missing == 1 and incident.latest_report_id == 2


def test_what_the_express_path_leaves_to_the_general_path(postgres_only, send_sms, officer, make_person, tree):
    """A responder's report, a refused one and a stranger's are answered as before."""
    township = make_person("township", tree.township, name="码头镇")
    assert twiml_text(send_sms(township.phone, "初报 洪涝 转移30")) == "只有村灾害信息员可以报送灾情。"
    assert twiml_text(send_sms(officer.phone, "续报 转移30")).startswith("请写明灾种")
    assert twiml_text(send_sms("+8613999999999", "初报 洪涝 转移30")).startswith("您的号码未登记")
    assert db.session.scalar(select(Report)) is None
    assert [m.outcome for m in db.session.scalars(select(InboundMessage).order_by(InboundMessage.id))] == [
        "rejected", "unparsed", "unknown_sender"]


def test_a_drill_report_is_filed_in_its_drill(postgres_only, app, send_sms, officer, statements, county_drill):
    """`演练 初报 …` during a running drill: the express path answers as the general path, with
    【演练】, and the report and message belong to the drill (its data kept apart)."""
    drill_id, phone = county_drill.id, officer.phone
    statements.clear()
    reply = twiml_text(send_sms(phone, "演练 初报 洪涝 转移5", filed=False))
    assert reply.startswith("【演练】已收到初报R1(洪涝 王庄村): 转移5。")
    assert len(statements) == 3, statements  # the drill is found in the storing statement
    message = db.session.scalar(select(InboundMessage))
    report = db.session.get(Report, 1)
    assert (message.exercise_id, report.exercise_id, message.outcome) == (drill_id, drill_id, "pending")
    from reporter import processing

    processing.drain()
    express, general = _send_both_ways(app, send_sms, officer, "演练 初报 洪涝 转移7", statements)
    assert express == general and express.startswith("【演练】")


@pytest.mark.express_fault
def test_a_fault_in_the_express_path_loses_nothing(postgres_only, send_sms, officer):
    """The database refuses the report row (a trigger standing for any fault that is not the
    database being down): the officer is told it was received and will be checked by a person,
    and the message waits for review. Before, the express path's error was a 500: Twilio retried
    and the officer heard nothing."""
    from sqlalchemy import text

    with db.engine.begin() as conn:
        conn.execute(text("CREATE FUNCTION zb_refuse_report() RETURNS trigger AS $$ BEGIN "
                          "RAISE EXCEPTION 'no reports today'; END $$ LANGUAGE plpgsql"))
        conn.execute(text("CREATE TRIGGER zb_refuse_report BEFORE INSERT ON reports "
                          "FOR EACH ROW EXECUTE FUNCTION zb_refuse_report()"))
    try:
        response = send_sms(officer.phone, "初报 洪涝 转移30", sid="SM-fault", filed=False)
        assert response.status_code == 200
        assert twiml_text(response) == "已收到，系统暂时无法自动处理，已转人工核实。"
        message = db.session.scalar(select(InboundMessage).where(InboundMessage.sid == "SM-fault"))
        assert (message.outcome, message.review_status) == ("unparsed", "pending")
    finally:
        db.session.rollback()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TRIGGER IF EXISTS zb_refuse_report ON reports"))
            conn.execute(text("DROP FUNCTION IF EXISTS zb_refuse_report()"))


def _nil_both_ways(app, send_sms, officer, body: str, statements) -> list[tuple]:
    """The same nil report sent express and general, each time with the village's nil reports of
    today removed: (reply, report, audit entry) for each, ids and times left out."""
    results, phone = [], officer.phone
    for express in (True, False):
        db.session.execute(InboundMessage.__table__.update().values(report_id=None))
        db.session.execute(AuditEntry.__table__.delete().where(AuditEntry.action == "report.nil"))
        db.session.execute(Report.__table__.delete().where(Report.kind == "nil"))
        db.session.commit()
        with intake_path(app, statements, express=express):
            reply = twiml_text(send_sms(phone, body))
        report = db.session.scalar(select(Report).where(Report.kind == "nil"))
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "report.nil"))
        message = db.session.scalar(select(InboundMessage).order_by(InboundMessage.id.desc()))
        assert (message.outcome, message.report_id, message.person_id) == ("nil", report.id, officer.id)
        results.append((re.sub(r"R\d+", "R#", reply), message.exercise_id,
                        {k: v for k, v in vars(report).items() if k not in {"_sa_instance_state", "id", "message_id",
                                                                           "received_at", "village"}},
                        (entry.actor_id, entry.actor, entry.entity, entry.exercise_id,
                         {k: v for k, v in entry.after.items() if k not in {"message_id", "received_at"}})))
    return results


def test_a_nil_report_takes_three_statements_and_is_done(postgres_only, send_sms, officer, statements):
    """A nil report needs nothing filed later: the request stores it with its audit entry."""
    phone, officer_id = officer.phone, officer.id
    statements.clear()
    reply = twiml_text(send_sms(phone, "零报告", filed=False))
    assert reply == "已收到王庄村今日零报告R1，谢谢。"
    assert len(statements) == 3 and all(s.startswith("WITH") for s in statements), statements
    message = db.session.scalar(select(InboundMessage))
    report = db.session.get(Report, 1)
    assert (message.outcome, message.report_id, report.kind, report.author_id) == ("nil", 1, "nil", officer_id)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.entity_id == "R1"))
    assert (entry.action, entry.actor_id, entry.after["message_id"]) == ("report.nil", officer_id, message.id)
    again = twiml_text(send_sms(phone, "平安", filed=False))
    assert again == "王庄村今日零报告已收到(R1)，无需重复发送。"
    assert db.session.scalar(select(InboundMessage).order_by(InboundMessage.id.desc())).report_id == 1


def test_the_express_nil_report_is_the_general_paths(postgres_only, app, send_sms, officer, statements):
    """Plain, with words, with an incident still open (flagged), and a repeat the same day."""
    for body in ("零报告", "无灾情 村里一切正常"):
        express, general = _nil_both_ways(app, send_sms, officer, body, statements)
        assert express == general
    send_sms(officer.phone, "初报 洪涝 转移30")
    express, general = _nil_both_ways(app, send_sms, officer, "零报告", statements)
    assert express == general and "未结束的灾情" in express[0] and express[2]["flags"] == ["open_incident"]
    replies, phone = [], officer.phone
    for express_path in (True, False):
        with intake_path(app, statements, express=express_path):
            replies.append(twiml_text(send_sms(phone, "零报告")))
    assert replies[0] == replies[1] and "无需重复" in replies[0]


def test_a_drill_nil_report_and_one_with_no_drill(postgres_only, app, send_sms, officer, statements, request):
    """`演练 零报告` is kept in the drill running when it arrived; with none running it is
    refused as before, and nothing of it is kept as a report."""
    assert twiml_text(send_sms(officer.phone, "演练 零报告")) == "当前没有进行中的演练，这条演练短信未处理。"
    assert db.session.scalar(select(Report)) is None
    drill_id = request.getfixturevalue("county_drill").id  # started only now: the first found none
    express, general = _nil_both_ways(app, send_sms, officer, "演练 零报告", statements)
    assert express == general and express[0].startswith("【演练】已收到王庄村今日零报告")
    assert express[1] == drill_id and express[2]["exercise_id"] == drill_id and express[3][3] == drill_id
