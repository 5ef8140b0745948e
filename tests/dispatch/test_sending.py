"""Sending through real workers, real Redis and the fake Twilio server (SPEC §9, §10).

Duplicates policy checked here: an SMS whose gateway answer was stored is never sent again; an
SMS whose gateway call was cut off (read timeout, or the worker killed during the call) is
sent again and marked `ambiguous`, so it may reach the phone twice — at most once more per
ambiguous attempt, and only those rows.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from core.extensions import db
from dispatch import access
from messaging.models import OutboundSms
from tests.conftest import wait_for


def statuses():
    return Counter(db.session.scalars(select(OutboundSms.status)))


def all_sent(n):
    def check():
        c = statuses()
        return sum(c.values()) == n and c["sent"] == n
    return check


def test_notification_goes_out_once(tree, staff, report_in, fake_twilio, fast_worker):
    report, _i, [esc, _county] = report_in(tree.village, staff.officer_a, missing=1)
    fast_worker()
    wait_for(all_sent(2), message="both SMS sent")
    assert fake_twilio.bodies_to(staff.township.phone) == [
        f'【灾情】王庄村(码头镇) 洪涝 失踪1 R{report.id}。回复"收到 E{esc.id}"确认。']
    assert len(fake_twilio.bodies_to(staff.county.phone)) == 1
    sms = db.session.scalar(select(OutboundSms).where(OutboundSms.to_phone == staff.township.phone))
    assert sms.gateway_sid.startswith("SM") and sms.attempts == 1 and not sms.ambiguous


def many_reports(tree, staff, report_in, make_person, n):
    """n new incidents in 王庄村, each an E1 to every township responder."""
    for _ in range(n):
        report_in(tree.village, staff.officer_a, relocated=5)


def arrivals():
    return Counter((m.to, m.body) for m in _fake().messages)


_FAKE = {}


def _fake():
    return _FAKE["server"]


def test_two_workers_send_nothing_twice(tree, staff, report_in, make_person, fake_twilio, fast_worker):
    _FAKE["server"] = fake_twilio
    make_person("township", tree.township, name="副站长")
    make_person("township", tree.township, name="站长")
    many_reports(tree, staff, report_in, make_person, 20)  # 60 SMS
    fast_worker("w1")
    fast_worker("w2")
    wait_for(all_sent(60), timeout=60, message="60 SMS sent by two workers")
    counts = arrivals()
    assert len(counts) == 60 and set(counts.values()) == {1}
    assert fake_twilio.attempts == 60


def test_gateway_429_then_201_all_sent_and_rate_kept(tree, staff, report_in, make_person, fake_twilio, fast_worker):
    _FAKE["server"] = fake_twilio
    make_person("township", tree.township, name="副站长")
    many_reports(tree, staff, report_in, make_person, 30)  # 60 SMS
    fake_twilio.configure(fail_next=15, fail_status=429, fail_code=20429)
    fast_worker("r1", SMS_RATE_PER_SECOND=20)
    fast_worker("r2", SMS_RATE_PER_SECOND=20)
    wait_for(all_sent(60), timeout=90, message="60 SMS sent after 429s")
    counts = arrivals()
    assert len(counts) == 60 and set(counts.values()) == {1}
    retried = db.session.scalar(select(func.count()).select_from(OutboundSms).where(OutboundSms.attempts > 1))
    assert retried >= 1  # the 429s were retried, not dropped
    stamps = sorted(m.at for m in fake_twilio.messages)
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert rate <= 20 * 1.25, f"{rate:.1f} SMS/s against a limit of 20/s"


def test_invalid_number_fails_visibly_others_sent(tree, staff, report_in, fake_twilio, fast_worker, client,
                                                  api_token):
    fake_twilio.configure(bad_numbers={staff.county.phone: 21211})
    report_in(tree.village, staff.officer_a, deaths=1)
    fast_worker()

    def settled():
        c = statuses()
        return c["sent"] == 1 and c["failed"] == 1
    wait_for(settled, message="one sent, one failed")
    assert len(fake_twilio.bodies_to(staff.township.phone)) == 1
    assert fake_twilio.bodies_to(staff.county.phone) == []
    failed = db.session.scalar(select(OutboundSms).where(OutboundSms.status == "failed"))
    assert (failed.to_phone, failed.error_code, failed.attempts) == (staff.county.phone, 21211, 1)
    body = client.get("/api/v1/escalations?level=county", headers=api_token(staff.county)).get_json()
    assert body["items"][0]["sms"][0]["status"] == "failed"
    assert body["items"][0]["sms"][0]["error_code"] == 21211
    assert access.failed_sms_count(staff.county) == 1


def test_read_timeout_is_ambiguous_and_retried(tree, staff, report_in, fake_twilio, fast_worker):
    """The gateway took longer than our timeout: it may have sent. We send again (at-least-once)
    and mark the row ambiguous; here the phone gets that text twice."""
    fake_twilio.configure(delay=3.0)  # the worker's client gives up after 2 s
    report_in(tree.village, staff.officer_a, relocated=5)
    fast_worker()
    wait_for(lambda: fake_twilio.attempts >= 1, message="first attempt")
    fake_twilio.configure(delay=0.0)
    wait_for(all_sent(1), message="SMS sent after the timeout")
    sms = db.session.scalar(select(OutboundSms))
    assert sms.ambiguous and sms.attempts == 2
    wait_for(lambda: len(fake_twilio.bodies_to(staff.township.phone)) == 2, message="the slow copy lands too")


def test_worker_killed_mid_send_then_restarted(tree, staff, report_in, make_person, fake_twilio, fast_worker):
    """Kill -9 while the 2nd SMS is at the gateway. After a restart every SMS goes out; the one
    in flight may be duplicated (ambiguous), the one the gateway had answered is not."""
    _FAKE["server"] = fake_twilio
    many_reports(tree, staff, report_in, make_person, 4)  # 4 SMS to the township responder
    fake_twilio.configure(delay=1.5)
    worker = fast_worker("victim", TWILIO_TIMEOUT_SECONDS=10)
    wait_for(lambda: fake_twilio.attempts >= 2, timeout=30, message="second SMS in flight")
    worker.kill()
    rows = {m.id: m for m in db.session.scalars(select(OutboundSms).order_by(OutboundSms.id))}
    answered = [m.id for m in rows.values() if m.status == "sent"]
    in_flight = [m.id for m in rows.values() if m.status == "sending"]
    assert len(answered) == 1 and len(in_flight) == 1
    fake_twilio.configure(delay=0.0)
    fast_worker("successor")
    wait_for(all_sent(4), timeout=40, message="all 4 SMS sent after restart")
    db.session.expire_all()
    by_body = {m.body: m for m in db.session.scalars(select(OutboundSms))}
    counts = arrivals()
    for (_to, body), n in counts.items():
        sms = by_body[body]
        if sms.id == in_flight[0]:
            assert sms.ambiguous and n <= 2  # the only possible duplicate
        else:
            assert n == 1 and not sms.ambiguous
    assert len(counts) == 4
    assert sum(counts.values()) - 4 <= 1
