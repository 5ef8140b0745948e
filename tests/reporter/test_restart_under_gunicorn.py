"""The database restarted in the middle of a burst, under gunicorn with several sync workers as
deployed (the other outage tests drive the app in process): every webhook is answered, and every
message is stored exactly once — at once, or from the spool after the restart — and filed once.

Runs on a private PostgreSQL cluster (tests.private_postgres) that the test stops and starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from lxml import etree
from sqlalchemy import func, select

from core.extensions import db
from core.models import Division, Person
from messaging import spool
from messaging.gateway import sign
from reporter import processing
from reporter.models import InboundMessage, Report
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL, ROOT, free_port, worker_env

VILLAGES = 40




def _seed(app) -> list[str]:
    """A township of VILLAGES villages, an officer each and a township responder; their phones."""
    with app.app_context():
        prov, city, county, town = "130000000000", "130600000000", "130681000000", "130681101000"
        db.session.add_all([
            Division(code=prov, name="河北省", level="province"),
            Division(code=city, parent_code=prov, name="保定市", level="city", province_code=prov),
            Division(code=county, parent_code=city, name="涿州市", level="county", province_code=prov,
                     city_code=city),
            Division(code=town, parent_code=county, name="码头镇", level="township", province_code=prov,
                     city_code=city, county_code=county)])
        phones = []
        for n in range(VILLAGES):
            code = f"130681101{n + 1:03d}"
            db.session.add(Division(code=code, parent_code=town, name=f"村{n}", level="village", province_code=prov,
                                    city_code=city, county_code=county, township_code=town))
            phones.append(f"+86138000{n:05d}")
            db.session.add(Person(name=f"信息员{n}", phone=phones[-1], role="officer_a", division_code=code))
        db.session.add(Person(name="码头镇值班", phone="+8613700000001", role="township", division_code=town))
        db.session.commit()
    return phones


def _serve(env: dict, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "3", "-k", "sync", "-b", f"127.0.0.1:{port}",
                             "--graceful-timeout", "3", "wsgi:app"], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code < 500:
                return proc
        except requests.RequestException:
            pass
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("gunicorn did not start")


def test_a_database_restarted_mid_burst_loses_nothing(app, private_app, private_postgres, app_config, tmp_path):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("on its own cluster whatever the suite's database: run once, in the PostgreSQL run")
    app = private_app()
    phones = _seed(app)
    port = free_port()
    env = worker_env(app_config) | {"DATABASE_URL": private_postgres["url"], "SPOOL_DIR": str(tmp_path / "spool"),
                                    "INTAKE_POLL_SECONDS": "60"}
    server = _serve(env, port)
    sent: list[str] = []

    def post(n: int) -> tuple[int, str]:
        phone = phones[n % VILLAGES]
        body = "初报 洪涝 失踪1 转移30" if n < VILLAGES else f"续报 洪涝 转移{30 + n}"
        form = {"MessageSid": f"SM{uuid.uuid4().hex}", "AccountSid": "AC" + "1" * 32, "From": phone,
                "To": "+8610690000", "Body": body, "NumSegments": "1"}
        sent.append(form["MessageSid"])
        signature = sign(PUBLIC_BASE_URL + "/sms/inbound", form, AUTH_TOKEN)
        response = requests.post(f"http://127.0.0.1:{port}/sms/inbound", data=form, timeout=30,
                                 headers={"X-Twilio-Signature": signature})
        if response.status_code != 200:
            return response.status_code, response.text
        return 200, etree.fromstring(response.content).findtext("Message") or ""

    try:
        with ThreadPoolExecutor(6) as pool:
            before = list(pool.map(post, range(0, 60)))
            private_postgres["stop"]()
            down = list(pool.map(post, range(60, 100)))
            private_postgres["start"]()
            after = list(pool.map(post, range(100, 200)))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)

    answers = before + down + after
    assert all(status == 200 and reply for status, reply in answers), [a for a in answers if a[0] != 200]
    assert all(reply.startswith("已收到") for _s, reply in before)
    assert all(reply == "已收到，稍后处理。" for _s, reply in down)  # spooled while the database was down
    with app.app_context():
        db.session.remove()
        db.engine.dispose()  # its connections died with the restart
        assert spool.replay()["replayed"] >= len(down)
        processing.drain()
        stored = db.session.scalars(select(InboundMessage.sid)).all()
        assert sorted(stored) == sorted(sent)  # every message, once
        assert db.session.scalar(select(func.count()).select_from(InboundMessage).where(
            InboundMessage.outcome == "pending")) == 0
        unfiled = db.session.execute(select(InboundMessage.sid, InboundMessage.body, InboundMessage.outcome,
                                            InboundMessage.review_note, InboundMessage.reply)
                                     .where(~InboundMessage.id.in_(select(Report.message_id)))).all()
        assert unfiled == []
        filed = db.session.execute(select(Report.message_id, func.count()).group_by(Report.message_id)).all()
        assert len(filed) == len(sent) and all(count == 1 for _m, count in filed)
