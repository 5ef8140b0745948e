"""A database that hangs instead of refusing (SPEC §9 "nothing lost"; the intake issue).

A stopped PostgreSQL (SIGSTOP: a crashed host, a full disk, a swapping box) keeps its sockets
open, so the driver waits forever and a connect timeout never fires. Measured at 5cf5f64: every
webhook held for the whole 10 s stall and nothing was spooled. The webhook must store within
about a second or spool the request and answer; the spool is replayed exactly once later.

These tests run on a private PostgreSQL cluster (tests.private_postgres) so that stopping it
disturbs nothing else.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid

import pytest

from core.extensions import db
from core.models import Division, Person
from messaging import spool
from messaging.gateway import sign
from reporter import processing
from reporter.models import InboundMessage
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL
from tests.private_postgres import signal_all
from tests.reporter.conftest import twiml_text

OFFICER = "+8613800000123"


@pytest.fixture
def hung_app(private_app):
    app = private_app(WEBHOOK_STORE_SECONDS=1.0)
    with app.app_context():
        province = Division(code="130000000000", name="河北省", level="province")
        village = Division(code="130681101001", parent_code=None, name="王庄村", level="village",
                           province_code="130000000000")
        db.session.add_all([province, village])
        db.session.add(Person(name="王官员", phone=OFFICER, role="officer_a", division_code=village.code))
        db.session.commit()
    return app


def _post(app, body: str) -> tuple[str, float, str]:
    form = {"MessageSid": "SM" + uuid.uuid4().hex, "From": OFFICER, "To": "+8610690000", "Body": body}
    signature = sign(PUBLIC_BASE_URL + "/sms/inbound", form, AUTH_TOKEN)
    started = time.monotonic()
    response = app.test_client().post("/sms/inbound", data=form, headers={"X-Twilio-Signature": signature})
    return twiml_text(response), time.monotonic() - started, form["MessageSid"]


def test_a_hung_database_spools_within_about_a_second_and_replays_once(hung_app, private_postgres):
    reply, _took, _sid = _post(hung_app, "零报告")
    assert "零报告" in reply  # the server answers: stored and handled as usual

    signal_all(private_postgres["data"], signal.SIGSTOP)
    # Whatever happens, the server wakes up after 12 s, so a webhook that waits for it
    # (the behaviour before the time limit) fails the assertions below instead of hanging.
    waker = threading.Timer(12, signal_all, args=(private_postgres["data"], signal.SIGCONT))
    waker.start()
    try:
        first, took_first, sid_first = _post(hung_app, "初报 洪涝 转移30")   # a pooled connection, hung
        second, took_second, sid_second = _post(hung_app, "续报 转移40")     # again, with the same stall
    finally:
        waker.cancel()
        signal_all(private_postgres["data"], signal.SIGCONT)
    assert first == second == "已收到，稍后处理。"
    assert took_first < 2.5 and took_second < 2.5, (took_first, took_second)

    with hung_app.app_context():
        assert spool.pending_count() == 2
        counts = spool.replay()
        assert counts["replayed"] == 2 and spool.pending_count() == 0
        assert spool.replay()["replayed"] == 0  # nothing twice
        processing.drain()
        stored = {m.sid: m for m in db.session.query(InboundMessage).all()}
        assert sid_first in stored and sid_second in stored and len(stored) == 3
        assert stored[sid_first].outcome == "report" and stored[sid_second].outcome == "report"

    reply, _took, _sid = _post(hung_app, "续报 转移50")  # and the webhook works again
    assert "续报" in reply
