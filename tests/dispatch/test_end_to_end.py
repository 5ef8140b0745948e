"""Done-when of issue 4: webhook → worker → fake Twilio → acknowledgement SMS → no escalation."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from core.extensions import db
from dispatch.models import Escalation
from reporter.models import Report
from tests.conftest import wait_for


def test_report_alert_ack_and_no_escalation(app, client, send_sms, tree, staff, fake_twilio, fast_worker, monkeypatch):
    # 6 s deadlines. The responders answer as soon as the escalation exists (not after the text
    # arrives) so a slow shared machine cannot turn this into an E4 test.
    monkeypatch.setitem(app.config, "ESCALATION_ACK_MINUTES", 0.1)
    fast_worker("e2e")
    assert send_sms(staff.officer_a.phone, "初报 洪涝 失踪1 转移120").status_code == 200
    first = db.session.scalar(select(Report).order_by(Report.id.desc()))
    e_town, e_county = db.session.scalars(select(Escalation).order_by(Escalation.id)).all()

    reply = send_sms(staff.township.phone, f"收到 E{e_town.id}").get_data(as_text=True)
    assert f"已确认E{e_town.id}" in reply
    reply = send_sms(staff.county.phone, "收到").get_data(as_text=True)
    assert f"已确认E{e_county.id}" in reply

    assert send_sms(staff.officer_a.phone, "续报 洪涝 死亡1 失踪1 转移150").status_code == 200
    second = db.session.scalar(select(Report).order_by(Report.id.desc()))
    e_town2, e_county2 = db.session.scalars(select(Escalation).where(Escalation.report_id == second.id)
                                            .order_by(Escalation.id)).all()
    assert f"已确认E{e_town2.id}" in send_sms(staff.township.phone, "ack").get_data(as_text=True)
    assert f"已确认E{e_county2.id}" in send_sms(staff.county.phone, "确认").get_data(as_text=True)
    wait_for(lambda: len(fake_twilio.bodies_to(staff.county.phone)) == 2, timeout=30, message="all four alerts")
    wait_for(lambda: len(fake_twilio.bodies_to(staff.township.phone)) == 2, timeout=30, message="all four alerts")

    assert fake_twilio.bodies_to(staff.township.phone) == [
        f'【灾情】王庄村(码头镇) 洪涝 失踪1 转移120 R{first.id}。回复"收到 E{e_town.id}"确认。',
        f'【灾情】王庄村(码头镇) 洪涝 死亡1 失踪1 转移150 R{second.id}。回复"收到 E{e_town2.id}"确认。',
    ]
    assert fake_twilio.bodies_to(staff.county.phone) == [
        f'【灾情】王庄村(码头镇) 洪涝 失踪1 转移120 R{first.id}。回复"收到 E{e_county.id}"确认。',
        f'【灾情】王庄村(码头镇) 洪涝 死亡1 失踪1 转移150 R{second.id}。回复"收到 E{e_county2.id}"确认。',
    ]
    latest_deadline = max(e.deadline_at for e in (e_town, e_county, e_town2, e_county2))
    while latest_deadline.timestamp() + 3 > time.time():  # past every deadline, several sweeps
        time.sleep(0.2)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Escalation).where(Escalation.rule == "E4")) == 0
    assert {e.status for e in db.session.scalars(select(Escalation))} == {"acknowledged"}
    assert fake_twilio.bodies_to(staff.city.phone) == []
    assert len(fake_twilio.bodies_to(staff.township.phone)) == 2
