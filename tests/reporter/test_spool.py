"""Nothing lost when the database is down (SPEC §9): spool to disk, answer 200, replay exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from core.extensions import db
from messaging import spool
from messaging.gateway import sign
from messaging.models import OutboundSms
from reporter import processing
from reporter.models import InboundMessage
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL, ROOT, free_port, wait_for, worker_env
from tests.reporter.conftest import reports, twiml_text

DOWN_URL = "postgresql+psycopg://postgres@127.0.0.1:9/unreachable?connect_timeout=2"




@pytest.fixture
def down_env(app_config):
    env = worker_env(app_config)
    env["DATABASE_URL"] = DOWN_URL
    return env


@pytest.fixture
def down_server(down_env):
    """The same service as a real process, pointed at a database nobody answers (a closed port)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "run", "--port", str(port)],
                            cwd=ROOT, env=down_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url), timeout=30, message="the web process")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def _answers(url: str) -> bool:
    try:
        requests.get(url + "/login", timeout=2)
        return True
    except requests.ConnectionError:
        return False


def post(url: str, form: dict):
    signature = sign(PUBLIC_BASE_URL + "/sms/inbound", form, AUTH_TOKEN)
    return requests.post(url + "/sms/inbound", data=form, headers={"X-Twilio-Signature": signature}, timeout=30)


def spool_lines(app_config) -> list[dict]:
    base = Path(app_config["SPOOL_DIR"])
    lines = []
    for file in sorted(base.glob("*.jsonl")):
        lines += [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
    return lines


def count_messages() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count(InboundMessage.id)))


def test_database_down_spools_then_replays_exactly_once(app, app_config, down_server, down_env, officer):
    phone = officer.phone
    forms = [{"MessageSid": "SM" + uuid.uuid4().hex, "From": phone, "To": "+8610690000",
              "Body": f"初报 洪涝 转移{n + 10}" if n == 0 else f"续报 洪涝 转移{n + 10}"} for n in range(3)]
    forms.append(dict(forms[0]))  # Twilio retried the first one while we were down
    for form in forms:
        response = post(down_server, form)
        assert response.status_code == 200
        assert "已收到，稍后处理" in response.text
    lines = spool_lines(app_config)
    assert [line["form"]["MessageSid"] for line in lines] == [f["MessageSid"] for f in forms]
    assert lines[0]["form"]["Body"] == "初报 洪涝 转移10" and lines[0]["headers"]["X-Twilio-Signature"]
    assert count_messages() == 0

    # A replay while the database is still down keeps everything for later.
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "spool", "replay"], cwd=ROOT,
                            env=down_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "still waiting" in result.stderr
    assert len(spool_lines(app_config)) == 4

    result = app.test_cli_runner().invoke(args=["spool", "replay"])
    assert result.exit_code == 0, result.output
    assert count_messages() == 3
    stored = reports()
    assert [r.relocated for r in stored] == [10, 11, 12] and [r.kind for r in stored] == ["initial", "update", "update"]
    first = db.session.scalar(select(InboundMessage).where(InboundMessage.sid == forms[0]["MessageSid"]))
    assert first.received_at.isoformat() == lines[0]["received_at"]  # the time it really arrived
    # The officer only heard "稍后处理": the real answer goes out by SMS, once per message.
    notices = list(db.session.scalars(select(OutboundSms).where(OutboundSms.purpose == "notice")
                                      .order_by(OutboundSms.id)))
    assert len(notices) == 3 and all(n.to_phone == phone for n in notices)
    assert notices[0].body.startswith("已收到初报R")
    assert not list(Path(app_config["SPOOL_DIR"]).glob("*.jsonl"))  # moved to done/ after commit
    assert list((Path(app_config["SPOOL_DIR"]) / "done").glob("replay-*.jsonl"))

    again = app.test_cli_runner().invoke(args=["spool", "replay"])
    assert again.exit_code == 0 and count_messages() == 3 and len(reports()) == 3


def test_replay_of_an_already_stored_message_changes_nothing(app, app_config, send_sms, officer):
    from messaging import spool

    form = {"MessageSid": "SM-both", "From": officer.phone, "To": "+8610690000", "Body": "初报 洪涝 转移5"}
    assert send_sms(officer.phone, form["Body"], sid="SM-both").status_code == 200
    spool.append(form, {}, "/sms/inbound")  # e.g. the commit succeeded but the answer timed out
    assert spool.replay()["replayed"] == 1
    assert count_messages() == 1 and len(reports()) == 1
    assert db.session.scalar(select(func.count(OutboundSms.id)).where(OutboundSms.purpose == "notice")) == 0


def test_sweep_is_registered_with_the_worker():
    from core.queue import periodic_tasks

    names = [name for name, _s, _f in periodic_tasks()]
    assert "messaging.spool_replay" in names and "core.audit.chain" in names


def test_drill_message_spooled_during_a_drill_counts_in_it_when_replayed_after(app, officer, county_staff):
    """A message that waited in the spool while the database was down belongs to the drill that
    was running when it arrived, not to "no drill running" at replay time."""
    from datetime import timedelta

    from core.exercises import Exercise
    from core.models import utcnow
    from messaging import spool
    from reporter import processing
    from reporter.models import Report

    started = utcnow() - timedelta(minutes=30)
    drill = Exercise(name="涿州防汛演练", division_code=officer.division.county_code, scenario="flood",
                     status="ended", started_at=started, ended_at=utcnow() - timedelta(minutes=5))
    db.session.add(drill)
    db.session.commit()
    form = {"MessageSid": "SM-drill-spooled", "From": officer.phone, "To": "+8610690000",
            "Body": "演练 初报 洪涝 转移30"}
    spool.append(form, {}, "/sms/inbound")
    # Pretend it was spooled ten minutes into the drill (the line's received_at is what replay uses).
    active = next(Path(spool.spool_dir()).glob("*.jsonl"))
    entry = json.loads(active.read_text(encoding="utf-8"))
    entry["received_at"] = (started + timedelta(minutes=10)).isoformat()
    active.write_text(json.dumps(entry, ensure_ascii=False) + "\n", encoding="utf-8")

    assert spool.replay()["replayed"] == 1
    processing.drain()
    stored = db.session.scalar(select(InboundMessage).where(InboundMessage.sid == "SM-drill-spooled"))
    assert stored.outcome == "report" and stored.exercise_id == drill.id
    report = db.session.get(Report, stored.report_id)
    assert report.exercise_id == drill.id and report.relocated == 30


def test_a_webhook_past_its_store_limit_on_the_general_path_is_spooled_not_kept_for_review(
        app, send_sms, tree, make_person, monkeypatch):
    """A busy box, not a dead database: a follow-up takes the general path (its village's report
    still waits for the processor, so the request files it first) and runs past
    WEBHOOK_STORE_SECONDS. The webhook must give up, spool the request and answer "稍后处理", like
    any store that cannot finish in time; the replay files it. It was caught as a bug instead when
    the limit fired in Python rather than in a query (whose broken connection happened to reach
    the spool): kept for county staff with "自动处理出错", the officer told the system could not
    handle it. Seen under load in the gunicorn restart test. Six villages, so that on the old code
    the limit lands in Python at least once all but certainly."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the store limit is PostgreSQL's (SQLite: none, one writer)")
    villages = [tree.village, tree.village2, tree.village3]
    phones = [make_person(role, village).phone for role in ("officer_a", "officer_b") for village in villages]
    for phone in phones[:3]:
        assert twiml_text(send_sms(phone, "初报 洪涝 转移30", filed=False)).startswith("已收到初报")
    monkeypatch.setitem(app.config, "WEBHOOK_STORE_SECONDS", 0.02)
    replies = [twiml_text(send_sms(phone, "续报 洪涝 转移40", filed=False)) for phone in phones]
    assert replies == ["已收到，稍后处理。"] * len(phones)
    db.session.rollback()
    assert db.session.scalar(select(func.count(InboundMessage.id)).where(
        InboundMessage.review_status == "pending")) == 0  # none kept for review
    assert spool.replay()["replayed"] == len(phones)
    processing.drain()
    assert sorted(r.kind for r in reports()) == ["initial"] * 3 + ["update"] * 6
