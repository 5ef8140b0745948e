"""Redis outages and deadlines, with real Redis servers, real workers and fake Twilio."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter

import pytest
import redis
from sqlalchemy import func, select

from core.extensions import db
from core.localtime import local_text
from core.models import AuditEntry, Person, utcnow
from dispatch import flows
from dispatch.models import Escalation
from messaging.models import OutboundSms
from tests.conftest import free_port, wait_for
from tests.dispatch.conftest import wait_until_blocked


class OwnRedis:
    """A private redis-server we can stop and start (never the shared one)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> OwnRedis:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no",
                                      "--daemonize", "no", "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                return self
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def own_redis(app):
    """Point this test's app at a private Redis; put everything back afterwards."""
    server = OwnRedis().start()
    saved = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = server.url
    for key in ("zaibao_redis", "zaibao_sms_bucket"):
        app.extensions.pop(key, None)
    yield server
    server.stop()
    app.config["REDIS_URL"] = saved
    for key in ("zaibao_redis", "zaibao_sms_bucket"):
        app.extensions.pop(key, None)


def sent_count() -> int:
    return db.session.scalar(select(func.count()).select_from(OutboundSms).where(OutboundSms.status == "sent"))


def test_redis_down_while_reports_arrive(tree, staff, report_in, fake_twilio, fast_worker, own_redis):
    worker = fast_worker("outage", REDIS_URL=own_redis.url)
    report_in(tree.village, staff.officer_a, relocated=1)
    wait_for(lambda: sent_count() == 1, message="sent while Redis is up")
    own_redis.stop()
    for n in range(5):
        report_in(tree.village, staff.officer_a, relocated=10 + n)  # commits despite Redis being down
    rows = db.session.scalars(select(OutboundSms).order_by(OutboundSms.id)).all()
    assert [r.status for r in rows] == ["sent"] + ["pending"] * 5
    time.sleep(2)  # the worker keeps running its sweeps against a dead Redis
    assert len(fake_twilio.messages) == 1
    own_redis.start()  # an empty Redis: nothing was queued while it was down
    wait_for(lambda: sent_count() == 6, timeout=40, message="all six sent after Redis returned")
    counts = Counter((m.to, m.body) for m in fake_twilio.messages)
    assert len(counts) == 6 and set(counts.values()) == {1}
    worker.kill()  # before its private Redis goes away


def test_a_deadline_escalates_within_a_pass_of_the_worker(app, tree, staff, report_in, fake_twilio, fast_worker,
                                                          monkeypatch):
    monkeypatch.setitem(app.config, "ESCALATION_ACK_MINUTES", 0.03)  # 1.8 s
    _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=3)
    fast_worker("due")
    e4 = wait_for(lambda: db.session.scalar(select(Escalation).where(Escalation.rule == "E4")), timeout=30,
                  message="E4 from the pass of what is due")
    wait_for(lambda: len(fake_twilio.bodies_to(staff.county.phone)) == 1, message="county told")
    row = db.session.get(Escalation, esc.id)
    assert row.status == "escalated" and e4.parent_id == esc.id
    assert (e4.created_at - row.deadline_at).total_seconds() < 10  # a pass a second, on a loaded box


def test_a_deadline_needs_nothing_in_redis(app, tree, staff, report_in, fake_twilio, fast_worker, redis_client,
                                           monkeypatch):
    """Deadlines are due from the database: a flushed Redis (or one restarted without its data)
    loses none, and the SMS job it lost is queued again from the outbox."""
    monkeypatch.setitem(app.config, "ESCALATION_ACK_MINUTES", 0.02)
    monkeypatch.setitem(app.config, "ESCALATION_REPEATS", 0)  # counts the township's texts: no repeat
    report_in(tree.village, staff.officer_a, relocated=3)
    redis_client.flushdb()  # the queued SMS job is gone
    fast_worker("sweeper")
    wait_for(lambda: db.session.scalar(select(Escalation).where(Escalation.rule == "E4")), timeout=30,
             message="E4")
    wait_for(lambda: len(fake_twilio.bodies_to(staff.county.phone)) == 1, message="county told")
    assert len(fake_twilio.bodies_to(staff.township.phone)) == 1  # the flushed SMS job was re-queued too
    time.sleep(3)  # several more passes
    assert db.session.scalar(select(func.count()).select_from(Escalation).where(Escalation.rule == "E4")) == 1
    assert len(fake_twilio.bodies_to(staff.county.phone)) == 1


def test_deadlines_climb_while_redis_is_down(app, tree, staff, report_in, fake_twilio, fast_worker, own_redis,
                                             monkeypatch):
    """Redis down at the deadline: the E4 is still recorded on time, its SMS waits in the outbox
    and goes out when Redis is back."""
    monkeypatch.setitem(app.config, "ESCALATION_ACK_MINUTES", 0.15)  # 9 s: the E1 goes out first
    monkeypatch.setitem(app.config, "ESCALATION_REPEATS", 0)
    worker = fast_worker("no-redis", REDIS_URL=own_redis.url)
    _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=3)
    wait_for(lambda: len(fake_twilio.bodies_to(staff.township.phone)) == 1, message="the E1 sent")
    own_redis.stop()
    assert db.session.get(Escalation, esc.id).deadline_at > utcnow(), "the deadline passed before Redis stopped"
    e4 = wait_for(lambda: db.session.scalar(select(Escalation).where(Escalation.rule == "E4")), timeout=30,
                  message="E4 with Redis down")
    assert e4.parent_id == esc.id
    assert fake_twilio.bodies_to(staff.county.phone) == []
    own_redis.start()
    wait_for(lambda: len(fake_twilio.bodies_to(staff.county.phone)) == 1, timeout=40,
             message="the county told once Redis is back")
    worker.kill()  # before its private Redis goes away


def test_ack_racing_the_deadline_never_both(app, tree, staff, report_in, fast_worker, monkeypatch):
    """The township acknowledges at the very moment the worker's deadline pass claims the
    escalation: the pass read it open, and its claim waits on the acknowledgement's row lock.
    When the acknowledgement commits, the claim must find the escalation no longer open: no E4,
    and the escalation stays acknowledged. (An unconditional claim escalates it anyway, and the
    county is told about something the township already has.)

    The interleaving is forced, not hoped for: the acknowledgement's UPDATE is held uncommitted
    until PostgreSQL shows the worker's claim waiting for it."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("holding one transaction's row lock while another waits for it needs PostgreSQL")
    monkeypatch.setitem(app.config, "ESCALATION_ACK_MINUTES", 0.02)  # due 1.2 s after the report
    monkeypatch.setitem(app.config, "ESCALATION_REPEATS", 0)
    _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=3)
    escalation_id = esc.id
    flows.acknowledge(staff.township, esc, "api")  # its UPDATE holds the row; not committed yet
    fast_worker("racer")
    wait_until_blocked(app, "UPDATE escalations", "the worker's deadline pass")
    db.session.commit()  # the acknowledgement lands while the claim waits
    time.sleep(3)  # the claim goes on, and a few more passes
    db.session.expire_all()
    row = db.session.get(Escalation, escalation_id)
    children = db.session.scalars(select(Escalation).where(Escalation.parent_id == escalation_id)).all()
    assert children == []
    assert row.status == "acknowledged" and row.escalated_at is None


def test_webhook_answers_and_stores_while_redis_is_down(tree, staff, send_sms, own_redis):
    own_redis.stop()
    response = send_sms(staff.officer_a.phone, "初报 洪涝 失踪1 转移120")
    assert response.status_code == 200 and "已收到初报" in response.get_data(as_text=True)
    rows = db.session.scalars(select(OutboundSms)).all()
    assert len(rows) == 2 and {r.status for r in rows} == {"pending"}  # waiting in the outbox
    assert {e.rule for e in db.session.scalars(select(Escalation))} == {"E2"}


def test_a_due_retry_goes_out_after_its_worker_was_killed_and_restarted(app, tree, staff, fake_twilio,
                                                                        start_worker):
    """SIGKILL (a host's OOM killer, a service manager giving up): RQ's scheduler process used to
    live on as an orphan holding the scheduler's locks, and the outbox sweep counted the retry it
    had scheduled as queued, so a retry due after 2 s went out after a minute or never. Now the
    worker runs no scheduler and the retry is due from the database, queued by any sweep."""
    from messaging.outbox import queue_sms

    fake_twilio.configure(fail_next=1, fail_status=503, fail_code=20503)
    settings = {"SMS_RETRY_BASE_SECONDS": 2, "OUTBOX_SWEEP_SECONDS": 5, "OUTBOX_GRACE_SECONDS": 5}
    first = start_worker(**settings)
    row = queue_sms(staff.township.phone, "【灾情】王庄村 洪涝 死亡1", purpose="escalation", person=staff.township)
    db.session.commit()
    sms_id = row.id
    wait_for(lambda: db.session.get(OutboundSms, sms_id).next_attempt_at is not None, timeout=30,
             message="the first attempt to fail")
    failed_at = time.monotonic()
    os.kill(first.proc.pid, signal.SIGKILL)  # the main process only: nothing takes its children down
    first.proc.wait(timeout=10)
    wait_for(lambda: _group_gone(first.proc.pid), timeout=5, message="nothing of the worker left")
    start_worker(**settings)
    wait_for(lambda: fake_twilio.bodies_to(staff.township.phone), timeout=30, message="the retry at the gateway")
    assert time.monotonic() - failed_at < 2 + 10
    wait_for(lambda: db.session.get(OutboundSms, sms_id).status == "sent", timeout=10,
             message="the row marked sent (the worker commits just after the gateway answers)")


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_deadline_is_kept_after_its_worker_was_killed_and_restarted(app, tree, staff, report_in, fake_twilio,
                                                                      start_worker, monkeypatch):
    """What is due comes from the database: after a SIGKILL (the dead worker's sweep lease lasts
    at most 10 s) the new worker's pass escalates the deadline that passed meanwhile."""
    monkeypatch.setitem(app.config, "ESCALATION_ACK_MINUTES", 0.1)  # 6 s
    first = start_worker()
    _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=3)
    deadline = db.session.get(Escalation, esc.id).deadline_at
    wait_for(lambda: fake_twilio.bodies_to(staff.township.phone), timeout=30, message="the E1 sent")
    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait(timeout=10)
    start_worker()  # default sweep intervals
    e4 = wait_for(lambda: db.session.scalar(select(Escalation).where(Escalation.rule == "E4")), timeout=40,
                  message="the E4")
    # the dead worker's lease (at most 10 s) and the new worker's start on a loaded box; RQ's
    # scheduler lock of the old deadline jobs held it about a minute
    assert (e4.created_at - deadline).total_seconds() < 15


def test_an_sms_ack_that_loses_to_another_is_told_who_has_it(app, tree, staff, report_in):
    """The township and the county acknowledge one alert at the same moment; the county's `收到`
    waits on the township's row lock, and the township's lands first. The county must be told
    the township has it, not thanked for confirming, and nothing is recorded in its name.

    The interleaving is forced: the township's UPDATE is held uncommitted until PostgreSQL shows
    the county's waiting for it."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("holding one transaction's row lock while another waits for it needs PostgreSQL")
    _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=3)
    escalation_id, county_id = esc.id, staff.county.id
    flows.acknowledge(staff.township, esc, "api")  # its UPDATE holds the row; not committed yet
    replies: list[str] = []

    def county_acknowledges() -> None:
        with app.app_context():
            replies.append(flows.acknowledge_by_sms(db.session.get(Person, county_id), escalation_id, None))
            db.session.commit()

    county = threading.Thread(target=county_acknowledges)
    county.start()
    wait_until_blocked(app, "UPDATE escalations", "the county's acknowledgement")
    db.session.commit()  # the township's acknowledgement lands while the county's waits
    county.join(timeout=30)
    db.session.expire_all()
    row = db.session.get(Escalation, escalation_id)
    assert row.acknowledged_by_id == staff.township.id and row.ack_channel == "api"
    assert replies == [f"E{escalation_id}已由码头镇值班于{local_text(row.acknowledged_at, '%H:%M')}确认，无需重复。"]
    acks = db.session.scalars(select(AuditEntry.actor_id).where(AuditEntry.action == "escalation.acknowledge")).all()
    assert acks == [staff.township.id]
