"""The intake processor under the faults the issue names: a real worker files what the webhook
stored; a processor killed mid-batch loses and doubles nothing; Redis down leaves alerts in the
outbox; a message that fails is retried alone, then kept for review with the reason."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select, text

from core.extensions import db
from core.models import AuditEntry, Division
from dispatch.models import Escalation
from messaging.models import OutboundSms
from reporter import processing, wakeups
from reporter.models import InboundMessage, Incident
from tests.conftest import ROOT, wait_for, worker_env
from tests.reporter.conftest import twiml_text


def _villages(tree, count: int, start: int = 100) -> list[Division]:
    villages = [Division(code=f"130681101{n:03d}", parent_code=tree.township.code, name=f"{n}村", level="village",
                         province_code=tree.province.code, city_code=tree.city.code, county_code=tree.county.code,
                         township_code=tree.township.code) for n in range(start, start + count)]
    db.session.add_all(villages)
    db.session.commit()
    return villages


def _others_hold_divisions() -> int:
    return db.session.execute(text(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE c.relname = 'divisions' AND l.mode = 'RowShareLock' AND l.pid <> pg_backend_pid()")).scalar()


def _waiting() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count(InboundMessage.id)).where(InboundMessage.outcome == "pending"))


def test_the_worker_files_a_stored_report_and_the_township_is_alerted(send_sms, officer, township_staff,
                                                                      start_worker, fake_twilio):
    reply = twiml_text(send_sms(officer.phone, "初报 洪涝 失踪1 转移30", filed=False))
    assert reply.startswith("已收到初报R1")
    assert _waiting() == 1
    start_worker("intake", OUTBOX_SWEEP_SECONDS=1, OUTBOX_GRACE_SECONDS=1, INTAKE_POLL_SECONDS=0.2)
    wait_for(lambda: fake_twilio.bodies_to(township_staff.phone), timeout=30, message="the township's alert")
    assert _waiting() == 0
    assert "王庄村" in fake_twilio.bodies_to(township_staff.phone)[0]


def test_an_idle_processor_is_woken_by_the_webhook_not_its_poll(send_sms, officer, officer2, start_worker):
    """The worker's processor looks for work only every 60 s here, so a report filed within
    seconds was filed because the webhook woke it: on PostgreSQL the notification its transaction
    sent at the commit, on SQLite the Redis list after it."""
    start_worker("woken", INTAKE_POLL_SECONDS=60)
    send_sms(officer.phone, "初报 洪涝 转移30", filed=False)
    wait_for(lambda: _waiting() == 0, timeout=30, message="the first report filed (the processor running)")
    time.sleep(1)  # it looked again, found nothing, and now waits
    sent = time.monotonic()
    send_sms(officer2.phone, "初报 洪涝 转移20", filed=False)
    wait_for(lambda: _waiting() == 0, timeout=15, message="the second report filed before the next poll")
    assert time.monotonic() - sent < 15


def _listeners() -> list[int]:
    """The backends LISTENing for the processors' wake-up."""
    return list(db.session.scalars(text("SELECT pid FROM pg_stat_activity WHERE query = :q"),
                                   {"q": f"LISTEN {wakeups.CHANNEL}"}))


def test_a_processor_whose_listening_connection_drops_listens_again(send_sms, officer, start_worker):
    """The connection a processor LISTENs on is dropped (a database restart, a proxy's idle
    timeout; here pg_terminate_backend). The processor must listen again within a second or so,
    not after its poll, and the webhooks' wake-ups reach it again: with a poll of 60 s, only a
    new listening connection can get the report filed within seconds."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's (SQLite wakes the processor through Redis)")
    start_worker("relisten", INTAKE_POLL_SECONDS=60)
    [first] = wait_for(_listeners, timeout=30, message="the processor listening")
    db.session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    db.session.commit()
    [again] = wait_for(lambda: [pid for pid in _listeners() if pid != first], timeout=5,
                       message="a new listening connection")
    assert first not in _listeners()
    sent = time.monotonic()
    send_sms(officer.phone, "初报 洪涝 转移30", filed=False)
    wait_for(lambda: _waiting() == 0, timeout=15, message="the report filed before the next poll")
    assert time.monotonic() - sent < 15 and again in _listeners()


def test_a_processor_killed_mid_batch_loses_and_doubles_nothing(app, app_config, send_sms, tree, make_person):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("watching another process's open transaction needs PostgreSQL")
    villages = _villages(tree, 120)
    for village in villages:
        send_sms(make_person("officer_a", village).phone, "初报 洪涝 失踪1 转移10", filed=False)
    env = worker_env(app_config) | {"INTAKE_BATCH": "1000"}
    proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "intake", "run"], cwd=ROOT, env=env,
                            start_new_session=True)
    try:
        # Kill it while its one big batch is open: it holds the villages' rows by then.
        wait_for(_others_hold_divisions, timeout=30, interval=0.02, message="the processor's batch under way")
        time.sleep(0.3)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)
    # PostgreSQL ends the dead client's transaction when it notices the socket closed; until then
    # its rows stay locked, and a processor skips locked villages (it never waits for one).
    wait_for(lambda: not _others_hold_divisions(), timeout=30, message="the killed batch's transaction gone")
    assert _waiting() == 120  # the batch never committed: nothing half-filed
    assert db.session.scalar(select(func.count(Incident.id))) == 0
    assert processing.drain() == 120
    assert db.session.scalar(select(func.count(Incident.id))) == 120
    assert db.session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.action == "report.create")) == 120
    opened = db.session.execute(select(Escalation.incident_id, Escalation.rule, Escalation.level)).all()
    assert len({incident for incident, _r, _l in opened}) == 120 and len(opened) == len(set(opened))
    texts = db.session.execute(select(OutboundSms.to_phone, OutboundSms.body)).all()
    assert len(texts) == len(set(texts))  # nobody told twice


def test_redis_down_alerts_wait_in_the_outbox(app, send_sms, officer, township_staff):
    saved = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    app.extensions.pop("zaibao_redis", None)
    app.extensions.pop("zaibao_wake_redis", None)
    try:
        reply = twiml_text(send_sms(officer.phone, "初报 洪涝 失踪1 转移30", filed=False))
        assert reply.startswith("已收到初报R1")
        assert processing.drain() == 1  # filing needs only the database
    finally:
        app.config["REDIS_URL"] = saved
        app.extensions.pop("zaibao_redis", None)
        app.extensions.pop("zaibao_wake_redis", None)
    rows = db.session.scalars(select(OutboundSms).where(OutboundSms.to_phone == township_staff.phone)).all()
    assert [r.status for r in rows] == ["pending"]  # the outbox sweep sends it when Redis is back


def test_a_message_that_fails_is_retried_alone_then_kept_for_review(app, send_sms, officer, officer2):
    """A fault that hits one village only (here a database trigger refusing its incident) must not
    hold up the others; the failing message is tried again, then waits for county staff."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the fault is a PostgreSQL trigger")
    with db.engine.begin() as conn:
        conn.execute(text(
            "CREATE FUNCTION zb_refuse() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.village_code = '{officer.division_code}' THEN "
            "RAISE EXCEPTION 'disk full for this village'; "
            "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"))
        conn.execute(text("CREATE TRIGGER zb_refuse BEFORE INSERT ON incidents "
                          "FOR EACH ROW EXECUTE FUNCTION zb_refuse()"))
    try:
        send_sms(officer.phone, "初报 洪涝 转移30", sid="SM-bad", filed=False)
        send_sms(officer2.phone, "初报 洪涝 转移20", sid="SM-good", filed=False)
        processing.process_batch()
        db.session.rollback()
        by_sid = {m.sid: m for m in db.session.scalars(select(InboundMessage))}
        assert by_sid["SM-good"].outcome == "report" and by_sid["SM-bad"].outcome == "pending"
        processing.drain()
        db.session.rollback()
        bad = db.session.scalar(select(InboundMessage).where(InboundMessage.sid == "SM-bad"))
        assert bad.outcome == "unparsed" and bad.review_status == "pending"
        assert "disk full for this village" in bad.review_note
        assert _waiting() == 0
    finally:
        db.session.rollback()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TRIGGER IF EXISTS zb_refuse ON incidents"))
            conn.execute(text("DROP FUNCTION IF EXISTS zb_refuse()"))


def test_a_hung_redis_delays_one_webhook_not_every_one(app, send_sms, officer, officer2, make_person, tree):
    """A Redis that accepts connections and never answers: no webhook waits for it. On SQLite the
    wake-up after the commit gives up within a quarter second, inside the webhook's store limit
    (else the stored message would be spooled and the officer told "稍后处理"), then pauses; on
    PostgreSQL the wake-up is a notification sent with the commit and Redis is not asked at all.
    Nothing is lost."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept_and_ignore() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept_and_ignore, daemon=True)
    thread.start()
    saved = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    app.extensions.pop("zaibao_redis", None)
    app.extensions.pop("zaibao_wake_redis", None)
    third = make_person("officer_a", tree.village3)
    try:
        took = []
        for person in (officer, officer2, third):
            started = time.monotonic()
            assert twiml_text(send_sms(person.phone, "初报 洪涝 转移30", filed=False)).startswith("已收到初报")
            took.append(time.monotonic() - started)
    finally:
        stop.set()
        thread.join(5)
        for conn in list(held):
            conn.close()
        listener.close()
        app.config["REDIS_URL"] = saved
        app.extensions.pop("zaibao_redis", None)
        app.extensions.pop("zaibao_wake_redis", None)
    assert max(took) < 1.0, took  # within the store limit: answered, not spooled
    assert len(held) <= 1  # the wake-ups paused after the first failure, not one try per webhook
    assert _waiting() == 3 and processing.drain() == 3
