"""POST /sms/inbound end to end: store first, one reply, the routes of every command."""

from __future__ import annotations

from sqlalchemy import func, select

from core.extensions import db
from messaging.gateway import segment_count
from messaging.models import OutboundSms
from reporter.models import InboundMessage, Incident
from tests.reporter.conftest import message, reports, twiml_text


def test_report_is_stored_and_confirmed(send_sms, officer, tree):
    response = send_sms(officer.phone, "初报 洪涝 死亡0 失踪1 受伤3 转移120", sid="SM-first")
    reply = twiml_text(response)
    [report] = reports()
    assert reply == (f"已收到初报R{report.id}(洪涝 王庄村): 死亡0 失踪1 受伤3 转移120。"
                     f"有误请回复: 更正 R{report.id} 死亡1")
    assert segment_count(reply) <= 2
    stored = message("SM-first")
    assert (stored.outcome, stored.person_id, stored.report_id) == ("report", officer.id, report.id)
    assert stored.reply == reply
    assert stored.exercise_id is None and stored.review_status == "none"
    assert report.indicators == {"deaths": 0, "missing": 1, "injured": 3, "relocated": 120}
    assert (report.kind, report.hazard, report.channel) == ("initial", "flood", "sms")
    assert report.village_code == tree.village.code
    assert report.message_id == stored.id and report.author_id == officer.id


def test_help_and_nil(send_sms, officer):
    help_reply = twiml_text(send_sms(officer.phone, "帮助", sid="SM-help"))
    from reporter.grammar import HELP_TEXT

    assert help_reply.startswith(HELP_TEXT[:20])
    assert message("SM-help").outcome == "help"
    reply = twiml_text(send_sms(officer.phone, "零报告", sid="SM-nil"))
    [nil] = reports()
    assert nil.kind == "nil" and f"零报告R{nil.id}" in reply
    again = twiml_text(send_sms(officer.phone, "零报告", sid="SM-nil2"))
    assert "无需重复" in again and len(reports()) == 1   # one nil report per village and day
    assert message("SM-nil2").outcome == "nil" and message("SM-nil2").report_id == nil.id


def test_unparsed_gets_help_and_is_queued(send_sms, officer):
    reply = twiml_text(send_sms(officer.phone, "喂喂喂 这个怎么用", sid="SM-what"))
    assert "未能识别" in reply
    stored = message("SM-what")
    assert stored.outcome == "unparsed" and stored.review_status == "pending"
    assert reports() == []


def test_unknown_sender_kept_for_review(send_sms, tree):
    reply = twiml_text(send_sms("+8613900000001", "初报 洪涝 死亡2", sid="SM-stranger"))
    assert reply == "您的号码未登记为灾害信息员，请联系乡镇应急办。"
    stored = message("SM-stranger")
    assert stored.outcome == "unknown_sender" and stored.review_status == "pending"
    assert stored.body == "初报 洪涝 死亡2" and stored.person_id is None
    assert reports() == []


def test_deactivated_officer_is_treated_as_unknown(send_sms, tree, make_person):
    old = make_person("officer_a", tree.village, active=False)
    reply = twiml_text(send_sms(old.phone, "初报 洪涝 转移5", sid="SM-old"))
    assert reply.startswith("您的号码未登记")
    assert message("SM-old").outcome == "unknown_sender" and reports() == []


def test_responder_cannot_file_village_report(send_sms, township_staff):
    reply = twiml_text(send_sms(township_staff.phone, "初报 洪涝 转移5", sid="SM-resp"))
    assert "只有村灾害信息员" in reply
    assert message("SM-resp").outcome == "rejected" and reports() == []


def test_ack_and_shelter_commands_are_routed(send_sms, township_staff, officer):
    ack = twiml_text(send_sms(township_staff.phone, "收到 E17", sid="SM-ack"))
    assert ack and message("SM-ack").outcome == "ack"
    query = twiml_text(send_sms(officer.phone, "避难 120人", sid="SM-shq"))
    assert query and message("SM-shq").outcome == "shelter_query"
    twiml_text(send_sms(officer.phone, "避难 S12 入住230", sid="SM-shu"))
    assert message("SM-shu").outcome in ("shelter_update", "rejected")


def test_drill_without_running_exercise_is_kept_and_answered(send_sms, officer):
    reply = twiml_text(send_sms(officer.phone, "演练 初报 洪涝 转移30", sid="SM-drill"))
    assert "没有进行中的演练" in reply
    stored = message("SM-drill")
    assert stored.outcome == "rejected" and stored.exercise_id is None and reports() == []


def test_drill_inside_running_exercise(send_sms, officer, tree):
    from core.exercises import Exercise

    exercise = Exercise(name="2026 汛期演练", division_code=tree.county.code, scenario="flood")
    db.session.add(exercise)
    db.session.commit()
    reply = twiml_text(send_sms(officer.phone, "演练 初报 洪涝 转移30", sid="SM-drill2"))
    assert reply.startswith("【演练】已收到初报R")
    [report] = reports()
    assert report.exercise_id == exercise.id
    assert message("SM-drill2").exercise_id == exercise.id
    incident = db.session.scalar(select(Incident))
    assert incident.exercise_id == exercise.id and incident.event.exercise_id == exercise.id
    # A real report afterwards does not attach to the drill's incident.
    twiml_text(send_sms(officer.phone, "洪涝 转移5", sid="SM-real"))
    real = reports()[-1]
    assert real.exercise_id is None and real.kind == "initial" and real.incident_id != report.incident_id


def test_same_sid_twice_answers_the_same_and_changes_nothing(send_sms, officer):
    first = twiml_text(send_sms(officer.phone, "初报 洪涝 转移120", sid="SM-dup"))
    second = twiml_text(send_sms(officer.phone, "初报 洪涝 转移120", sid="SM-dup"))
    third = twiml_text(send_sms(officer.phone, "别的内容", sid="SM-dup"))
    assert first == second == third
    assert len(reports()) == 1
    assert db.session.scalar(select(func.count(InboundMessage.id))) == 1


def test_reply_is_escaped_xml(send_sms, officer):
    response = send_sms(officer.phone, "洪涝 转移3 <b>&amp;</b>", sid="SM-xml")
    reply = twiml_text(response)  # parses as XML
    assert "<b>" not in response.get_data(as_text=True) or "&lt;b&gt;" in response.get_data(as_text=True)
    assert reply.startswith("已收到初报")


def test_outbox_rows_are_written_not_sent(send_sms, officer, fake_twilio):
    twiml_text(send_sms(officer.phone, "初报 洪涝 死亡1", sid="SM-outbox"))
    assert fake_twilio.messages == []  # nothing slow happened inside the request
    assert db.session.scalar(select(func.count(OutboundSms.id))) >= 0


def test_longest_reply_fits_two_segments(send_sms, officer):
    body = ("初报 洪涝 受灾12000 死亡1200 失踪300 受伤45 转移250000 救助800 倒塌1500间 严损200间 损坏900间 "
            "农作物3000亩 损失1.2亿 " + "情况说明" * 40)
    reply = twiml_text(send_sms(officer.phone, body, sid="SM-longest"))
    assert segment_count(reply) <= 2 and len(reply) <= 134
    [report] = reports()
    assert report.crop_ha == 200 and report.loss_10k_yuan == 12000  # 亩→公顷, 亿→万元 by the grammar
    assert "implausible" in report.flags and reply.startswith(f"已收到初报R{report.id}")


def test_unparsed_reply_keeps_the_whole_syntax_within_two_segments_in_a_drill():
    """Issue 16: the problems are cut, never the syntax, and 【演练】 still fits."""
    from core.exercises import DRILL_PREFIX
    from reporter.grammar import HELP_TEXT, Command, parse
    from reporter.intake import not_understood

    many = Command(kind="unparsed", problems=tuple(f"“死亡abc{i}”没有数字，请用数字重发此项" for i in range(6)))
    for command in (many, parse("喂喂喂 这个怎么用"), parse("初报 洪涝 转移1e308")):
        reply = not_understood(command).reply
        assert reply.startswith("未能识别") and reply.endswith(HELP_TEXT)
        assert len(DRILL_PREFIX + reply) <= 134 and segment_count(DRILL_PREFIX + reply) <= 2
    assert "“死亡abc0”" in not_understood(many).reply and "…" in not_understood(many).reply
