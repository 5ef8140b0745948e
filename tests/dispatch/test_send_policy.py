"""The sending policy run in-process against the fake Twilio (the worker tests run it for real)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.extensions import db
from core.models import utcnow
from messaging.models import OutboundSms


def test_retryable_errors_give_up_after_max_attempts(app, tree, staff, report_in, fake_twilio, monkeypatch):
    from messaging.jobs import send_sms

    monkeypatch.setitem(app.config, "SMS_MAX_ATTEMPTS", 2)
    fake_twilio.configure(fail_next=5, fail_status=503, fail_code=20503)
    report_in(tree.village, staff.officer_a, relocated=3)
    sms_id = db.session.scalar(select(OutboundSms.id))
    assert send_sms(sms_id) == "retry"
    row = db.session.get(OutboundSms, sms_id)
    assert (row.status, row.attempts, row.error_code) == ("pending", 1, 20503) and row.next_attempt_at > utcnow()
    assert send_sms(sms_id) == "failed"
    db.session.expire_all()
    row = db.session.get(OutboundSms, sms_id)
    assert (row.status, row.attempts) == ("failed", 2) and "503" in row.last_error
    assert send_sms(sms_id) == "skipped"  # a failed row is never sent again
    assert fake_twilio.messages == []


def test_sent_row_is_never_sent_again(tree, staff, report_in, fake_twilio):
    from messaging.jobs import send_sms

    report_in(tree.village, staff.officer_a, relocated=3)
    sms_id = db.session.scalar(select(OutboundSms.id))
    assert send_sms(sms_id) == "sent"
    assert send_sms(sms_id) == "skipped"
    assert len(fake_twilio.messages) == 1


def test_stale_claim_is_recovered_as_ambiguous(tree, staff, report_in, fake_twilio):
    from messaging.jobs import send_sms
    from messaging.outbox import relay_sweep

    report_in(tree.village, staff.officer_a, relocated=3)
    row = db.session.scalar(select(OutboundSms))
    row.status, row.attempts, row.claimed_at = "sending", 1, utcnow() - timedelta(minutes=5)  # a dead worker's claim
    db.session.commit()
    relay_sweep()
    db.session.expire_all()
    sms_id = row.id
    row = db.session.get(OutboundSms, sms_id)
    assert row.status == "pending" and row.ambiguous
    assert send_sms(sms_id) == "sent"  # (the job ends its session: reload what we look at)
    assert db.session.get(OutboundSms, sms_id).attempts == 2


def test_a_flood_alert_goes_out_before_a_backlog_of_noon_reminders(app, tree, staff, fake_twilio, fast_worker):
    """Reminders (E5, one per silent village) wait on their own queue, which workers take last:
    a township's alert queued after 25 of them is the first text the gateway sees."""
    from messaging.outbox import queue_sms
    from tests.conftest import wait_for

    for n in range(25):
        queue_sms(f"+86139000{n:05d}", f"【零报告提醒】村{n}今天尚未报送灾情", purpose="reminder")
    db.session.commit()
    queue_sms(staff.township.phone, "【灾情】王庄村(码头镇) 洪涝 死亡1", purpose="escalation", person=staff.township)
    db.session.commit()
    fast_worker()
    wait_for(lambda: len(fake_twilio.messages) == 26, timeout=60, message="all 26 texts at the gateway")
    assert fake_twilio.messages[0].to == staff.township.phone
    assert sorted(m.to for m in fake_twilio.messages[1:]) == [f"+86139000{n:05d}" for n in range(25)]


def test_a_reports_first_alert_goes_out_before_a_backlog_of_follow_ups(app, tree, staff, report_in, fake_twilio,
                                                                      fast_worker):
    """Repeats and E4s of older escalations (purpose "escalation") may pile up by the thousand on
    a flood morning; a new report's first alert has the queue workers take first, so the township
    hears of it before any of the 25 follow-ups queued ahead of it."""
    from messaging.outbox import queue_sms
    from tests.conftest import wait_for

    for n in range(25):
        queue_sms(f"+86139000{n:05d}", f"【灾情·再次提醒】村{n} 洪涝 请回复确认", purpose="escalation")
    db.session.commit()
    report_in(tree.village, staff.officer_a, relocated=3)
    alerts = db.session.scalars(select(OutboundSms.to_phone).where(OutboundSms.purpose == "alert")).all()
    assert alerts == [staff.township.phone]
    fast_worker()
    wait_for(lambda: len(fake_twilio.messages) == 26, timeout=60, message="all 26 texts at the gateway")
    assert fake_twilio.messages[0].to == staff.township.phone and "【灾情】" in fake_twilio.messages[0].body


def test_a_reminders_retry_stays_on_the_bulk_queue(app, tree, staff, fake_twilio):
    from core.queue import queue
    from messaging.jobs import send_sms
    from messaging.outbox import queue_sms, relay_sweep, send_job_id

    fake_twilio.configure(fail_next=1, fail_status=503, fail_code=20503)
    row = queue_sms("+8613900000001", "【零报告提醒】王庄村今天尚未报送灾情", purpose="reminder")
    db.session.commit()
    sms_id = row.id
    assert send_sms(sms_id) == "retry"
    retry = send_job_id(sms_id, 1)
    relay_sweep(now=utcnow() + timedelta(seconds=5))  # the retry is due: the sweep queues it
    assert retry in queue("bulk").job_ids and retry not in queue("sms").job_ids


def test_a_retry_is_not_queued_before_it_is_due(app, tree, staff, fake_twilio):
    """Retries wait in the database (next_attempt_at), not in a scheduler: the sweep leaves a row
    alone until its time, then queues it once."""
    from core.queue import queue
    from messaging.jobs import send_sms
    from messaging.outbox import queue_sms, relay_sweep, send_job_id

    fake_twilio.configure(fail_next=1, fail_status=503, fail_code=20503)
    row = queue_sms("+8613900000002", "【灾情】测试", purpose="escalation")
    db.session.commit()
    sms_id = row.id
    assert send_sms(sms_id) == "retry"
    retry = send_job_id(sms_id, 1)
    relay_sweep()
    assert retry not in queue("sms").job_ids  # backoff not over
    later = utcnow() + timedelta(seconds=5)
    relay_sweep(now=later)
    relay_sweep(now=later)
    assert queue("sms").job_ids.count(retry) == 1


def test_a_retry_is_not_hidden_by_a_sweep_that_read_its_first_attempt(app, tree, staff, fake_twilio):
    """The sweep reads a row, leaves it to its batch job and marks it queued; in between, the job
    tried it and the gateway said 503. Marking that row would hide its retry from every sweep
    for two minutes (seen as one of 60 texts sent 2 minutes late in the 429 test)."""
    from core.queue import queue
    from messaging.jobs import send_sms
    from messaging.outbox import mark_queued, queue_sms, relay_sweep, send_job_id

    fake_twilio.configure(fail_next=1, fail_status=503, fail_code=20503)
    row = queue_sms("+8613900000003", "【灾情】测试", purpose="escalation")
    db.session.commit()
    sms_id = row.id
    read_by_the_sweep = [(sms_id, 0)]
    assert send_sms(sms_id) == "retry"  # the job's attempt, between the sweep's read and its mark
    mark_queued(read_by_the_sweep, utcnow())
    db.session.commit()
    assert db.session.get(OutboundSms, sms_id).queued_at is None
    relay_sweep(now=utcnow() + timedelta(seconds=5))  # the retry is due: the next sweep queues it
    assert send_job_id(sms_id, 1) in queue("sms").job_ids
