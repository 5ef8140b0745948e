"""Pooled connections the server dropped (a PostgreSQL restart, a failover, an idle timeout).

The pool checks a connection with a round trip only when it sat idle a while
(`core.PING_AFTER_IDLE_SECONDS`): checking at every checkout cost each SMS webhook a sixth of its
time. These tests hold both sides of that trade: a connection dropped while idle is replaced
without anyone noticing, and a webhook on one dropped a moment ago still answers and keeps the
message (the spool). They run on a private cluster (tests.private_postgres).
"""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest

import core
from core.extensions import db
from core.models import Division, Person
from core.people import create_token
from messaging import spool
from messaging.gateway import sign
from reporter import processing
from reporter.models import InboundMessage
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL
from tests.reporter.conftest import twiml_text

OFFICER = "+8613800000456"


@pytest.fixture
def service(private_app):
    app = private_app(WEBHOOK_STORE_SECONDS=1.0)
    with app.app_context():
        db.session.add(Division(code="130000000000", name="河北省", level="province"))
        db.session.add(Division(code="130681101001", name="王庄村", level="village", province_code="130000000000"))
        province = Person(name="省应急厅", phone="+8613900000009", role="province", division_code="130000000000")
        db.session.add_all([province, Person(name="王官员", phone=OFFICER, role="officer_a",
                                             division_code="130681101001")])
        db.session.commit()
        token = create_token(province)
    return app, {"Authorization": f"Bearer {token}"}


def _drop_every_connection(private_postgres) -> int:
    """What a restart does to the pool: the server ends every other session."""
    url = private_postgres["url"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        return len(conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE pid <> pg_backend_pid() AND datname = current_database()").fetchall())


def _post(app, body: str) -> tuple[str, str]:
    form = {"MessageSid": "SM" + uuid.uuid4().hex, "From": OFFICER, "To": "+8610690000", "Body": body}
    signature = sign(PUBLIC_BASE_URL + "/sms/inbound", form, AUTH_TOKEN)
    response = app.test_client().post("/sms/inbound", data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200
    return twiml_text(response), form["MessageSid"]


def test_a_connection_dropped_while_idle_is_replaced_unseen(service, private_postgres):
    app, headers = service
    client = app.test_client()
    assert client.get("/api/v1/reports", headers=headers).status_code == 200
    assert _drop_every_connection(private_postgres) >= 1
    time.sleep(core.PING_AFTER_IDLE_SECONDS + 0.2)
    assert client.get("/api/v1/reports", headers=headers).status_code == 200


def test_a_webhook_on_a_connection_dropped_a_moment_ago_answers_and_keeps_the_message(service, private_postgres):
    app, _headers = service
    assert "零报告" in _post(app, "零报告")[0]
    assert _drop_every_connection(private_postgres) >= 1
    reply, sid = _post(app, "初报 洪涝 转移30")  # at once: the pooled connection is not checked
    assert reply == "已收到，稍后处理。"  # its statement failed: spooled and answered
    with app.app_context():
        spool.replay()
        processing.drain()
        stored = db.session.query(InboundMessage).filter_by(sid=sid).one()
        assert stored.outcome == "report"
    assert "续报" in _post(app, "续报 转移40")[0]  # and the next one is served as usual
