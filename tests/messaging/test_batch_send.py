"""The SMS of one commit go out in shared send jobs (SMS_SEND_BATCH), each row still claimed alone."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from core.extensions import db
from core.models import utcnow
from core.queue import queue
from messaging import outbox
from messaging.models import OutboundSms
from messaging.outbox import queue_sms
from tests.conftest import wait_for


def test_one_commits_sms_share_a_job_and_each_goes_out_once(app, start_worker, fake_twilio):
    phones = [f"+8613900{n:05d}" for n in range(5)]
    for phone in phones:
        queue_sms(phone, "【灾情】王庄村(码头镇) 洪涝 转移30 R1。回复\"收到 E1\"确认。", purpose="escalation")
    db.session.commit()
    jobs = queue("sms").job_ids
    assert len(jobs) == 1 and "sms-batch-" in jobs[0]  # one job for the five rows, not five
    assert outbox.relay_sweep(utcnow() + timedelta(seconds=30)) == 5  # the sweep sees them queued…
    assert len(queue("sms").job_ids) == 1                              # …and queues nothing again

    start_worker("batch", OUTBOX_SWEEP_SECONDS=1, OUTBOX_GRACE_SECONDS=1)
    wait_for(lambda: len(fake_twilio.messages) == 5, timeout=30, message="five SMS sent")
    wait_for(lambda: all(r.status == "sent" for r in db.session.scalars(select(OutboundSms))), message="rows sent")
    assert Counter(m.to for m in fake_twilio.messages) == Counter(phones)


def test_a_single_sms_keeps_its_own_job(app):
    queue_sms("+8613900000001", "已收到，谢谢。", purpose="notice")
    db.session.commit()
    [job] = queue("sms").job_ids
    assert job.endswith("sms-out-1")
