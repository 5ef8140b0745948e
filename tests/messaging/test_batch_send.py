"""The SMS of one commit go out in shared send jobs (SMS_SEND_BATCH), each row still claimed alone."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from rq.job import Job, JobStatus
from sqlalchemy import select

from core.extensions import db
from core.models import utcnow
from core.queue import queue
from messaging import jobs, outbox
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
    assert outbox.relay_sweep(utcnow() + timedelta(seconds=30)) == 5  # left to the job, counted as queued
    assert len(queue("sms").job_ids) == 1

    start_worker("batch", OUTBOX_SWEEP_SECONDS=1, OUTBOX_GRACE_SECONDS=1)
    wait_for(lambda: len(fake_twilio.messages) == 5, timeout=30, message="five SMS sent")
    wait_for(lambda: all(r.status == "sent" for r in db.session.scalars(select(OutboundSms))), message="rows sent")
    assert Counter(m.to for m in fake_twilio.messages) == Counter(phones)


def _three_rows() -> None:
    for n in range(3):
        queue_sms(f"+8613900{n:05d}", "【灾情】王庄村(码头镇) 洪涝 转移30 R1。", purpose="escalation")
    db.session.commit()


def _lone_jobs() -> list[str]:
    return sorted(j.rsplit("-", 1)[-1] for j in queue("sms").job_ids if "sms-out-" in j)


def test_rows_of_a_batch_job_that_is_gone_are_queued_alone_at_the_next_sweep(app):
    """The batch job is gone (a flushed queue, a worker that died with it): its rows go out one
    by one at the next sweep."""
    _three_rows()
    queue("sms").empty()
    assert outbox.relay_sweep(utcnow() + timedelta(seconds=30)) == 3
    assert _lone_jobs() == ["1", "2", "3"]


def test_a_batch_job_waiting_behind_a_backlog_keeps_its_rows(app, monkeypatch, redis_client):
    """However long a batch job waits in its queue, the sweep does not queue its rows again. With
    a one-minute trust, 25,000 E4s and repeats of the province drill went to the workers twice:
    once in their batch jobs, once each on its own, onto the same backlog."""
    monkeypatch.setitem(app.config, "SMS_STALE_SENDING_SECONDS", 0.5)
    _three_rows()
    time.sleep(1)
    assert outbox.relay_sweep(utcnow() + timedelta(minutes=10)) == 3  # left to the job, counted as queued
    assert len(queue("sms").job_ids) == 1 and _lone_jobs() == []
    # What leaves the rows to the job is their mark in Redis, and Redis expires it in real time,
    # which a test cannot fast-forward: the marks must outlive the backlogs seen (the province
    # drill's batch jobs waited 1–5 minutes; the old marks lived one).
    assert min(redis_client.ttl(outbox.batched_key(sms_id)) for sms_id in (1, 2, 3)) >= 30 * 60


def test_a_backlog_of_batched_rows_does_not_hide_a_row_nobody_queued(app, redis_client):
    """The sweep reads a window of the oldest pending rows; rows it leaves to their batch job are
    marked queued, so the next sweep reaches a row whose hand-off was lost behind them."""
    _three_rows()
    orphan = queue_sms("+8613900000009", "【灾情】王庄村(码头镇) 洪涝 转移30 R1。", purpose="escalation")
    db.session.commit()
    Job.fetch(outbox.send_job_id(orphan.id, 0), connection=redis_client).delete()  # as if never handed over
    later = utcnow() + timedelta(minutes=10)
    assert outbox.relay_sweep(later, limit=3) == 3  # the window holds only the batched rows
    assert outbox.relay_sweep(later, limit=3) == 1
    assert _lone_jobs() == [str(orphan.id)]


def test_rows_of_a_batch_job_whose_worker_died_are_queued_alone(app, redis_client):
    """A batch job a worker started longer ago than SMS_STALE_SENDING_SECONDS: the worker died
    holding it. One started a moment ago is still trusted."""
    _three_rows()
    [batch] = queue("sms").job_ids
    queue("sms").remove(batch)  # what a worker that took the job leaves behind
    job = Job.fetch(batch, connection=redis_client)
    job.set_status(JobStatus.STARTED)
    job.started_at = datetime.now(UTC) - timedelta(seconds=2)
    job.save()
    outbox.relay_sweep(utcnow() + timedelta(seconds=30))
    assert _lone_jobs() == []
    job.started_at = datetime.now(UTC) - timedelta(minutes=5)
    job.save()
    outbox.relay_sweep(utcnow() + timedelta(minutes=10))  # past the marks' requeue interval
    assert _lone_jobs() == ["1", "2", "3"]


def test_a_single_sms_keeps_its_own_job(app):
    queue_sms("+8613900000001", "已收到，谢谢。", purpose="notice")
    db.session.commit()
    [job] = queue("sms").job_ids
    assert job.endswith("sms-out-1")


def test_an_sms_rolled_back_with_its_savepoint_is_not_handed_over(app):
    """The intake processor files each message in a savepoint; one that fails takes its SMS with it."""
    try:
        with db.session.begin_nested():
            queue_sms("+8613900000009", "已收到，谢谢。", purpose="notice")
            db.session.flush()
            raise RuntimeError("this message failed")
    except RuntimeError:
        pass
    kept = queue_sms("+8613900000001", "已收到，谢谢。", purpose="notice")
    db.session.commit()
    [job] = queue("sms").job_ids
    assert job.endswith(f"sms-out-{kept.id}")


def _five_alerts() -> list[int]:
    rows = [queue_sms(f"+8613900{n:05d}", "【灾情】王庄村(码头镇) 洪涝 转移30 R1。", purpose="escalation")
            for n in range(5)]
    db.session.commit()
    return [row.id for row in rows]


def test_rows_whose_send_slots_are_too_far_off_are_left_to_the_sweep(app, fake_twilio):
    """A send rate shared by many workers can put a batch's last slots far ahead: those rows are
    not held (nor claimed) meanwhile but handed back, and the sweep queues each on its own."""
    app.config.update(SMS_RATE_PER_SECOND=2, SMS_RATE_BURST=1, SMS_STALE_SENDING_SECONDS=2.5)
    ids = _five_alerts()
    queue("sms").empty()
    assert jobs.send_sms_batch(ids) == {"sent": 3, "released": 2}  # slots at 0, 0.5, 1, 1.5, 2 s
    db.session.expire_all()
    statuses = {row.id: (row.status, row.attempts) for row in db.session.scalars(select(OutboundSms))}
    assert [statuses[i] for i in ids] == [("sent", 1)] * 3 + [("pending", 0)] * 2
    assert len(fake_twilio.messages) == 3
    assert outbox.relay_sweep(utcnow() + timedelta(seconds=30)) == 2  # no mark keeps them waiting
    assert sorted(j.rsplit("-", 1)[-1] for j in queue("sms").job_ids) == [str(ids[3]), str(ids[4])]


def test_a_worker_killed_mid_batch_leaves_only_the_row_at_the_gateway_in_doubt(app, start_worker, fake_twilio):
    """Rows are claimed one at a time, each with the previous row's result: killed while the
    second SMS is at the gateway, the first is recorded sent and the last three were never taken."""
    ids = _five_alerts()
    fake_twilio.configure(delay=1.5)
    worker = start_worker("victim", TWILIO_TIMEOUT_SECONDS=10)
    wait_for(lambda: fake_twilio.attempts >= 2, timeout=30, message="second SMS at the gateway")
    worker.kill()
    db.session.expire_all()
    statuses = {row.id: row.status for row in db.session.scalars(select(OutboundSms))}
    assert [statuses[i] for i in ids] == ["sent", "sending", "pending", "pending", "pending"]


def test_a_row_that_breaks_in_a_batch_job_leaves_the_rows_after_it_sent_and_kept(app, fake_twilio):
    """A row whose send fails unexpectedly (a bug, not a gateway answer) is rolled back and left to
    the sweeps; the rows after it are still claimed, sent and recorded for good, each statement
    committing by itself again (in a transaction they were rolled back when the job ended, and
    sent a second time later)."""
    from sqlalchemy import create_engine, update

    ids = _five_alerts()
    queue("sms").empty()
    db.session.execute(update(OutboundSms).where(OutboundSms.id == ids[1])
                       .values(template="broken", params=["not", "a", "mapping"]))
    db.session.commit()
    assert jobs.send_sms_batch(ids) == {"sent": 4, "error": 1}
    outside = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])  # what another process sees
    try:
        with outside.connect() as conn:
            statuses = dict(conn.execute(select(OutboundSms.id, OutboundSms.status)).all())
    finally:
        outside.dispose()
    assert [statuses[i] for i in ids] == ["sent", "sending", "sent", "sent", "sent"]
    assert len(fake_twilio.messages) == 4


def test_a_send_job_on_a_connection_idle_long_enough_to_be_pinged_sends(app, fake_twilio, monkeypatch):
    """The pool pings a PostgreSQL connection that sat idle (`core.PING_AFTER_IDLE_SECONDS`). A ping
    that left a transaction open made the send job's switch to AUTOCOMMIT fail: the first job after
    a quiet spell sent nothing and its alerts waited for the sweep."""
    import core

    if db.engine.dialect.name != "postgresql":
        pytest.skip("the idle ping is PostgreSQL's (SQLite keeps the pool's pre-ping)")
    monkeypatch.setattr(core, "PING_AFTER_IDLE_SECONDS", 0.05)
    ids = _five_alerts()
    db.session.remove()  # back to the pool
    time.sleep(0.2)
    assert jobs.send_sms_batch(ids) == {"sent": 5}
    assert len(fake_twilio.messages) == 5
