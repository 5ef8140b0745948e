"""`收到 E17` on the express path (dispatch.express): a recipient's acknowledgement stored and
recorded in three statements on PostgreSQL, answered and recorded as the general path does it;
every other case left to the general path with nothing of the express attempt kept."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import select

from core.extensions import db
from core.localtime import local_text
from core.models import AuditEntry
from dispatch.models import Escalation
from messaging.models import OutboundSms
from reporter.models import InboundMessage
from tests.conftest import intake_path
from tests.dispatch.conftest import wait_until_blocked
from tests.reporter.conftest import twiml_text


@pytest.fixture(autouse=True)
def postgres_only():
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the express path is PostgreSQL's (SQLite takes the general path)")


def _recorded(escalation_id: int) -> tuple:
    """What an acknowledgement leaves: the escalation's state, its audit entries, the last message."""
    db.session.expire_all()
    esc = db.session.get(Escalation, escalation_id)
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "escalation.acknowledge",
                                                          AuditEntry.entity_id == esc.public_id)).all()
    message = db.session.scalar(select(InboundMessage).order_by(InboundMessage.id.desc()))
    return ((esc.status, esc.acknowledged_by_id, esc.ack_channel, esc.exercise_id),
            [(e.actor_id, e.actor, e.after, e.exercise_id) for e in entries],
            (message.outcome, message.person_id, message.report_id, message.exercise_id, message.review_status))


def test_an_acknowledgement_takes_three_statements(send_sms, tree, staff, report_in, statements):
    _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=3)
    escalation_id, township_id = esc.id, staff.township.id
    statements.clear()
    reply = twiml_text(send_sms(staff.township.phone, f"收到 E{escalation_id}", filed=False))
    assert reply == f"已确认E{escalation_id}（王庄村），谢谢。"
    # store + sender; the conditional UPDATE; the audit entry with the message's outcome
    assert [s.split(None, 1)[0] for s in statements] == ["WITH", "UPDATE", "WITH"], statements
    state, entries, message = _recorded(escalation_id)
    assert state == ("acknowledged", township_id, "sms", None)
    assert entries == [(township_id, f"码头镇值班 {staff.township.phone}", {"channel": "sms", "status": "acknowledged"},
                        None)]
    assert message == ("ack", township_id, None, None, "none")


def _both_ways(app, send_sms, report_in, tree, staff, body: str, sender, statements,
               exercise_id=None) -> list[tuple]:
    """The same acknowledgement of a fresh alert, express then general: what each left."""
    results = []
    for express in (True, False):
        _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=3, exercise_id=exercise_id)
        escalation_id, phone = esc.id, sender.phone
        with intake_path(app, statements, express=express):
            reply = twiml_text(send_sms(phone, body.format(id=escalation_id)))
        results.append((reply.replace(f"E{escalation_id}", "E#"), _recorded(escalation_id)))
    return results


def test_the_express_acknowledgement_is_the_general_paths(app, send_sms, tree, staff, report_in, statements):
    express, general = _both_ways(app, send_sms, report_in, tree, staff, "收到 E{id}", staff.township, statements)
    assert express == general and express[0] == "已确认E#（王庄村），谢谢。"


def test_a_drill_acknowledgement(app, send_sms, tree, staff, report_in, statements, county_drill):
    drill = county_drill
    _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=3, exercise_id=drill.id)
    phone, escalation_id = staff.township.phone, esc.id
    statements.clear()
    send_sms(phone, f"演练 收到 E{escalation_id}", filed=False)
    assert [s.split(None, 1)[0] for s in statements] == ["WITH", "UPDATE", "WITH"], [s[:90] for s in statements]
    express, general = _both_ways(app, send_sms, report_in, tree, staff, "演练 收到 E{id}", staff.township, statements,
                                  exercise_id=drill.id)
    assert express == general and express[0] == "【演练】已确认E#（王庄村），谢谢。"
    assert express[1][0][3] == drill.id and express[1][2][3] == drill.id


def test_what_the_express_path_leaves_to_the_general_path(send_sms, tree, staff, report_in, make_person):
    """A stranger to the alert, a real alert acknowledged as a drill, a repeat, and an alert with
    a second recipient (who must be told it is taken): each answered as before, and the express
    attempt leaves nothing behind (one message each, no acknowledgement in the wrong name)."""
    second = make_person("township", tree.township, name="码头镇副班")
    _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=3)
    escalation_id = esc.id
    assert "无法确认" in twiml_text(send_sms(staff.officer_a.phone, f"收到 E{escalation_id}"))
    assert twiml_text(send_sms(staff.township.phone, f"演练 收到 E{escalation_id}")) == \
        "当前没有进行中的演练，这条演练短信未处理。"
    assert twiml_text(send_sms(staff.township.phone, f"收到 E{escalation_id}")) == \
        f"已确认E{escalation_id}（王庄村），谢谢。"
    told = db.session.scalars(select(OutboundSms.body).where(OutboundSms.to_phone == second.phone)).all()
    assert any("码头镇值班" in body and "已确认" in body for body in told), told
    again = twiml_text(send_sms(second.phone, f"收到 E{escalation_id}"))
    assert re.fullmatch(rf"E{escalation_id}已由码头镇值班于\d\d:\d\d确认，无需重复。", again)
    assert [m.outcome for m in db.session.scalars(select(InboundMessage).order_by(InboundMessage.id))] == [
        "ack", "rejected", "ack", "ack"]
    state, entries, _message = _recorded(escalation_id)
    assert state[:2] == ("acknowledged", staff.township.id) and len(entries) == 1


def test_an_express_ack_that_loses_to_the_board_is_told_who_has_it(app, client, send_sms, tree, staff, report_in):
    """The county acknowledges on the board while the township's `收到` is on its way: the
    township's conditional UPDATE waits on the county's row lock, then matches nothing. The
    township is told the county has it, and nothing is recorded in the township's name."""
    from dispatch import flows

    _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=3)
    escalation_id, phone = esc.id, staff.township.phone
    flows.acknowledge(staff.county, esc, "board")  # holds the row, not committed yet
    replies: list[str] = []

    def township_texts() -> None:
        with app.app_context():
            replies.append(twiml_text(send_sms(phone, f"收到 E{escalation_id}", filed=False)))

    township = threading.Thread(target=township_texts)
    township.start()
    wait_until_blocked(app, "UPDATE escalations", "the township's acknowledgement")
    db.session.commit()
    township.join(timeout=30)
    state, entries, message = _recorded(escalation_id)
    acknowledged_at = db.session.get(Escalation, escalation_id).acknowledged_at
    assert replies == [f"E{escalation_id}已由涿州应急局于{local_text(acknowledged_at, '%H:%M')}确认，无需重复。"]
    assert state[:3] == ("acknowledged", staff.county.id, "board")
    assert [e[0] for e in entries] == [staff.county.id]
    assert message[:2] == ("ack", staff.township.id)
