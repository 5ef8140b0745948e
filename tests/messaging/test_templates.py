"""Every text the service sends is a named template: the replies of each outcome, as the Twilio
webhook answers them today, are each recognised as one (so a mainland provider can send them), and
the texts themselves are unchanged (the rest of the suite checks them word for word)."""

from __future__ import annotations

from sqlalchemy import select

from core.extensions import db
from messaging.models import OutboundSms
from messaging.templates import cut, recognise
from tests.reporter.conftest import twiml_text

MESSAGES = [
    ("初报 洪涝 死亡0 失踪1 转移120", "report_received"),
    ("续报 转移300 水位下降", "report_received"),
    ("初报 洪涝 失踪1 abc死亡", None),
    ("零报告", "nil_with_open_incident"),
    ("帮助", "help"),
    ("胡言乱语", "unparsed_problems"),
    ("死亡abc", None),
    ("更正 R999 死亡1", "correction_unknown_report"),
    ("更正 R1 死亡2", "report_corrected"),
    ("收到 E999", "ack_unknown"),
    ("避难 120人", None),
    ("避难 S999 入住10", "shelter_unknown"),
    ("演练 初报 洪涝 转移3", "no_running_drill"),
    ("核报 洪涝 倒塌12户", "report_received_closed"),
]


def test_every_reply_an_officer_gets_is_a_named_template(send_sms, tree, make_person):
    officer = make_person("officer_a", tree.village)
    seen = []
    for body, expected in MESSAGES:
        reply = twiml_text(send_sms(officer.phone, body))
        named = recognise(reply)
        assert named is not None, f"no template for the reply to {body!r}: {reply!r}"
        if expected:
            assert named.name == expected, (body, reply, named)
        seen.append(named.name)
    assert len(set(seen)) >= 10
    stranger = twiml_text(send_sms("+8613999999999", "初报 洪涝 转移3"))
    assert recognise(stranger).name == "unknown_sender"


def test_alerts_and_the_login_code_are_queued_with_their_template(send_sms, tree, make_person, client):
    officer = make_person("officer_a", tree.village)
    make_person("township", tree.township)
    send_sms(officer.phone, "初报 洪涝 失踪1 转移30")
    from tests.conftest import csrf_token

    client.post("/report/code", data={"phone": officer.phone, "csrf_token": csrf_token(client, "/report")})
    db.session.rollback()
    rows = db.session.scalars(select(OutboundSms)).all()
    assert {r.template for r in rows} == {"alert", "login_code"}
    alert = next(r for r in rows if r.template == "alert")
    assert alert.params["hazard"] == "洪涝" and alert.params["figures"] == "失踪1 转移30"


def test_a_drill_text_is_the_templates_drill_twin():
    named = recognise("【演练】已收到初报R12(洪涝 王庄村): 转移3。有误请回复: 更正 R12 死亡1")
    assert named.name == "report_received.drill" and named.params["report"] == "R12"


def test_a_variable_over_the_limit_is_cut_with_an_ellipsis():
    assert cut("死亡1 失踪2 转移120", 6) == "死亡1 失…" and cut("转移3", 6) == "转移3"
